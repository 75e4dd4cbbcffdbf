import { beforeAll, describe, expect, it } from 'vitest';
import { nativeProvider } from '../../src/crypto/index.js';
import {
  collusionKeysNeeded, demonstrateCollusion, forgePrivateKey, P256_ORDER, recoverEquivalentMatrix, selectIndices,
  type CollusionSample, type KeyManagementCentre,
} from '../../src/cpk/index.js';
import { makeKmc } from './helpers.js';

const provider = nativeProvider;
const n = provider.p256.order;

describe('collusion bound (algebra only)', () => {
  it('needs rows*cols - cols + 1 keys: 993 for the default 32x32', () => {
    expect(collusionKeysNeeded(32, 32)).toBe(993);
    expect(collusionKeysNeeded(4, 4)).toBe(13);
    expect(collusionKeysNeeded(6, 6)).toBe(31);
    expect(P256_ORDER).toBe(n);
  });

  it('recovers an equivalent matrix, not the real one, that forges every key (6x6)', () => {
    const rows = 6;
    const cols = 6;
    const real = Array.from({ length: rows }, (_, i) => Array.from({ length: cols }, (_, j) => provider.p256.mod(BigInt(1 + i * 97 + j * 7919) ** 9n)));
    const keyOf = (indices: number[]) => forgePrivateKey(real, indices, n);
    const samples: CollusionSample[] = [];
    for (let u = 0; samples.length < 200; u++) {
      const indices = selectIndices(provider, 'algebra', `u${u}`, rows, cols);
      samples.push({ indices, secretKey: keyOf(indices) });
    }
    const result = recoverEquivalentMatrix(n, rows, cols, samples);
    if (!('matrix' in result)) throw new Error(`not recovered: ${JSON.stringify(result)}`);
    expect(result.matrix).not.toEqual(real); // only equivalent: columns shifted by δ_j with Σδ_j = 0
    for (let v = 0; v < 50; v++) {
      const indices = selectIndices(provider, 'algebra', `victim${v}`, rows, cols);
      expect(forgePrivateKey(result.matrix, indices, n)).toBe(keyOf(indices));
    }
    // Keys that carry an extra unknown each (hardened mode) fit no matrix once there are enough of them.
    const noisy = samples.map((s, k) => ({ ...s, secretKey: provider.p256.mod(s.secretKey + BigInt(k + 1) ** 40n) }));
    expect(recoverEquivalentMatrix(n, rows, cols, noisy)).toMatchObject({ inconsistent: true });
    // Too few keys leave the matrix undetermined.
    const few = recoverEquivalentMatrix(n, rows, cols, samples.slice(0, 20));
    expect(few).toMatchObject({ insufficient: true });
    expect((few as { rank: number }).rank).toBeLessThanOrEqual(20);
  });
});

describe('collusion against a KMC (4x4)', () => {
  let kmc: KeyManagementCentre;
  beforeAll(async () => {
    ({ kmc } = await makeKmc(provider, { retail: { rows: 4, cols: 4 }, gov: { rows: 4, cols: 4, mode: 'hardened' } }));
  });

  it('plain mode: 13 colluding keys forge a fresh victim\'s key', async () => {
    const report = await demonstrateCollusion(provider, kmc, 'retail');
    expect(report).toMatchObject({ mode: 'plain', keysNeeded: 13, keysUsed: 13, rank: 13, recovered: true, forgedMatchesVictim: true });
  });

  it('plain mode: one key fewer is not enough', async () => {
    const report = await demonstrateCollusion(provider, kmc, 'retail', { maxKeys: 12 });
    expect(report).toMatchObject({ keysUsed: 12, rank: 12, recovered: false, forgedMatchesVictim: false });
  });

  it('hardened mode: the same attack fails with as many keys or more', async () => {
    for (const maxKeys of [13, 26]) {
      const report = await demonstrateCollusion(provider, kmc, 'gov', { maxKeys });
      expect(report).toMatchObject({ mode: 'hardened', keysUsed: maxKeys, recovered: false, forgedMatchesVictim: false });
    }
  });
});
