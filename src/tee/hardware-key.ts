/**
 * The simulated hardware-unique key (HUK) and what is derived from it. On a real device the HUK is
 * fused into the SoC and readable only by the secure world; here it is a file in the TEE-private part
 * of the data directory (`<dataDir>/tee-private/huk`), which the REE is assumed not to read.
 * Like OP-TEE's tee_fs_key_manager.c, storage never uses the HUK itself but a secure storage key
 * (SSK) derived from it, so the HUK can serve other purposes without key reuse.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TeeError } from '../common/errors.js';
import { abytes } from '../common/checks.js';
import { utf8 } from '../common/bytes.js';
import type { CryptoProvider } from '../crypto/provider.js';

export const HUK_BYTES = 32;
const HUK_FILE = 'huk';

/** Directory the REE cannot see (by assumption): HUK and rollback counters. */
export function teePrivateDir(dataDir: string): string {
  return join(dataDir, 'tee-private');
}

/** Directory of REE-visible ciphertext (the REE FS, in OP-TEE's terms). */
export function reeFsDir(dataDir: string): string {
  return join(dataDir, 'ree-fs');
}

/** Read the HUK from the TEE-private dir, creating it on first boot. Returns a fresh buffer the caller zeroizes. */
export async function loadOrCreateHuk(provider: CryptoProvider, dataDir: string): Promise<Uint8Array> {
  const dir = teePrivateDir(dataDir);
  const path = join(dir, HUK_FILE);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  try {
    const bytes = new Uint8Array(await readFile(path));
    if (bytes.length !== HUK_BYTES) {
      bytes.fill(0);
      throw new TeeError('CORRUPT_OBJECT', 'hardware key: stored HUK has the wrong length', 'TEE');
    }
    return bytes;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err instanceof TeeError ? err : new TeeError('GENERIC', 'hardware key: cannot read the HUK', 'TEE');
  }
  const huk = provider.randomBytes(HUK_BYTES);
  try {
    // 'wx': never overwrite a HUK another process wrote meanwhile; that would orphan its storage.
    await writeFile(path, huk, { mode: 0o600, flag: 'wx' });
  } catch {
    huk.fill(0);
    throw new TeeError('GENERIC', 'hardware key: cannot create the HUK', 'TEE');
  }
  return huk;
}

/** The secure storage key: HKDF(HUK) under a fixed label. */
export function deriveStorageKey(provider: CryptoProvider, huk: Uint8Array): Uint8Array {
  abytes(huk, 'hardware unique key', HUK_BYTES);
  return provider.hkdfSha256(huk, utf8('tee-sim/huk'), utf8('secure storage key v1'), 32);
}
