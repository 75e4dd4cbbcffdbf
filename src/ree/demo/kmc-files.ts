/**
 * The KMC's public state on disk, in the layout `backend serve` reads (see src/ree/backend/cli.ts):
 * `<data>/kmc/kmc-public.bin` (raw 33-byte key) and `<data>/kmc/public/<subdomain>.bin`.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { encodePublicMatrix, type PublicMatrix } from '../../cpk/index.js';
import { backendLayout } from '../backend/cli.js';

export async function publishKmcPublicState(dataDir: string, kmcPublicKey: Uint8Array, matrices: PublicMatrix[]): Promise<void> {
  const layout = backendLayout(dataDir);
  await mkdir(layout.matricesDir, { recursive: true });
  await writeFile(layout.kmcPublicKeyFile, kmcPublicKey);
  for (const m of matrices) await writeFile(join(layout.matricesDir, `${m.subdomainId}.bin`), encodePublicMatrix(m));
}
