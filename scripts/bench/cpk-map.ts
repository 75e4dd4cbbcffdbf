/**
 * CPK public-key mappings per second on a 32x32 matrix: hash the identity to 32 row indices and
 * add 32 compressed points (each decompressed first). Called by the 'sign' suite, which sets it
 * beside signature verification. User ids rotate so every mapping is a fresh identity.
 */
import { KeyManagementCentre, mapPublicKey } from '../../src/cpk/index.js';
import { PROVIDERS } from '../../src/crypto/index.js';
import type { ProviderName } from '../../src/crypto/provider.js';
import { loopProbe, type Probe } from './harness.js';

const IDS = 4096;

export async function cpkMappingProbe(providerName: ProviderName): Promise<Probe> {
  const provider = PROVIDERS[providerName];
  const kmc = await KeyManagementCentre.create({ provider });
  const matrix = await kmc.createSubdomain('bench', { rows: 32, cols: 32 });
  kmc.close();
  const ids = Array.from({ length: IDS }, (_, i) => `user-${i}`);
  let i = 0;
  return loopProbe('cpk map 32x32', () => mapPublicKey(provider, matrix, 'bench', ids[i++ % IDS]!));
}
