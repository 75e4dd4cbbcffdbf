/**
 * A TA's "code" in the simulator: the source text of the module that implements it. The installer
 * reads it from disk and hashes it; the signed manifest must carry that hash (see ./ta-manifest.ts).
 */
import { readFile } from 'node:fs/promises';
import { TeeError } from '../common/errors.js';

/** Read a TA module's source, e.g. `readTaCode(new URL('./wallet-ta.ts', import.meta.url))`. */
export async function readTaCode(file: string | URL): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(file));
  } catch {
    throw new TeeError('ITEM_NOT_FOUND', 'TA code: cannot read the module source', 'TEE');
  }
}
