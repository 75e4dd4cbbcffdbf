/**
 * The trusted key's own 32-byte device secret: the root of every key it derives (storage, PIN
 * verifiers). It lives in `<dir>/private/device-secret`, which stands for the key's internal
 * non-volatile memory: the REE is assumed unable to read or restore that directory (only `<dir>/store`
 * is REE-visible). Generated on first start, never overwritten.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TeeError } from '../../common/errors.js';
import type { CryptoProvider } from '../../crypto/provider.js';

export const DEVICE_SECRET_BYTES = 32;
const FILE = 'device-secret';

/** Read the secret, creating it on first start. Returns a fresh buffer the caller zeroizes. */
export async function loadOrCreateDeviceSecret(provider: CryptoProvider, privateDir: string): Promise<Uint8Array> {
  await mkdir(privateDir, { recursive: true, mode: 0o700 });
  const path = join(privateDir, FILE);
  try {
    const bytes = new Uint8Array(await readFile(path));
    if (bytes.length !== DEVICE_SECRET_BYTES) {
      bytes.fill(0);
      throw new TeeError('CORRUPT_OBJECT', 'trusted key storage: device secret has the wrong length', 'TRUSTED_KEY');
    }
    return bytes;
  } catch (err) {
    if (err instanceof TeeError) throw err;
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new TeeError('GENERIC', 'trusted key storage: cannot read the device secret', 'TRUSTED_KEY');
    }
  }
  const secret = provider.randomBytes(DEVICE_SECRET_BYTES);
  try {
    // 'wx': never replace an existing secret; that would orphan everything stored under it.
    await writeFile(path, secret, { mode: 0o600, flag: 'wx' });
  } catch {
    secret.fill(0);
    throw new TeeError('GENERIC', 'trusted key storage: cannot create the device secret', 'TRUSTED_KEY');
  }
  return secret;
}
