/**
 * The backend's own P-256 receipt-signing key, generated on first start and kept in a JSON file that
 * only the owner may read (mode 0600). The backend is an REE server, so this is ordinary server key
 * hygiene, not TEE protection: a file readable by others is refused, as ssh refuses one.
 */
import { readFile, writeFile, stat, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { TeeError } from '../../common/errors.js';
import { constantTimeEqual, fromBase64url, toBase64url } from '../../common/bytes.js';
import { abytes, aobject, astring } from '../../common/checks.js';
import type { CryptoProvider, KeyPair } from '../../crypto/provider.js';

const FILE_VERSION = 1;

function corrupt(message: string): TeeError {
  return new TeeError('CORRUPT_OBJECT', `backend key file: ${message}`, 'BACKEND');
}

function parseKeyFile(provider: CryptoProvider, text: string): KeyPair {
  try {
    const obj = aobject(JSON.parse(text) as unknown, 'key file');
    if (obj.version !== FILE_VERSION || obj.algorithm !== 'p256') throw corrupt('unsupported version or algorithm');
    const secretKey = abytes(fromBase64url(astring(obj.secretKey, 'secretKey', { max: 64 })), 'secretKey', 32);
    const publicKey = abytes(fromBase64url(astring(obj.publicKey, 'publicKey', { max: 64 })), 'publicKey', 33);
    if (!constantTimeEqual(provider.publicKeyOf('p256', secretKey), publicKey)) throw corrupt('public key does not match the secret key');
    return { secretKey, publicKey };
  } catch (err) {
    if (err instanceof TeeError && err.code === 'CORRUPT_OBJECT') throw err;
    throw corrupt('malformed');
  }
}

/** Load the key at `path`, or create it (exclusively, mode 0600) if there is none. */
export async function loadOrCreateBackendKey(provider: CryptoProvider, path: string): Promise<KeyPair> {
  let text: string | undefined;
  try {
    const info = await stat(path);
    if ((info.mode & 0o077) !== 0) throw new TeeError('SECURITY', 'backend key file: readable by group or others (want mode 0600)', 'BACKEND');
    text = await readFile(path, 'utf8');
  } catch (err) {
    if (err instanceof TeeError) throw err;
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new TeeError('GENERIC', 'backend key file: cannot read', 'BACKEND');
  }
  if (text !== undefined) return parseKeyFile(provider, text);

  const pair = provider.generateKeyPair('p256');
  const body = JSON.stringify({ version: FILE_VERSION, algorithm: 'p256', publicKey: toBase64url(pair.publicKey), secretKey: toBase64url(pair.secretKey) });
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  try {
    // 'wx': never overwrite a key another starter wrote in the meantime.
    await writeFile(path, body + '\n', { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return parseKeyFile(provider, await readFile(path, 'utf8'));
    throw new TeeError('GENERIC', 'backend key file: cannot write', 'BACKEND');
  }
  return pair;
}
