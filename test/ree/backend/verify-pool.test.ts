/** Worker-thread verification gives the same answers as the provider, and settles the same way. */
import { afterAll, describe, expect, it } from 'vitest';
import { PROVIDERS } from '../../../src/crypto/index.js';
import { VerifyPool } from '../../../src/ree/backend/verify-pool.js';

describe.each(['native', 'noble'] as const)('VerifyPool (%s)', (name) => {
  const provider = PROVIDERS[name];
  const pool = new VerifyPool({ provider: name, size: 2 });
  afterAll(() => pool.close());

  it('agrees with provider.verify on good, altered and malformed input, many in flight', async () => {
    const kp = provider.generateKeyPair('p256');
    const other = provider.generateKeyPair('p256');
    const cases = Array.from({ length: 40 }, (_, i) => {
      const message = provider.randomBytes(20 + i);
      const signature = provider.sign('p256', kp.secretKey, message);
      const bad = new Uint8Array(signature);
      bad[5]! ^= 1;
      return [
        [kp.publicKey, message, signature],
        [other.publicKey, message, signature],
        [kp.publicKey, message, bad],
        [kp.publicKey, message, signature.subarray(0, 63)],
        [new Uint8Array(33), message, signature],
      ] as [Uint8Array, Uint8Array, Uint8Array][];
    }).flat();
    // Inputs that are views into larger buffers, and oversized ones, travel (or fail) the same way.
    const big = new Uint8Array(100_000);
    big.set(cases[0]![1], 7);
    cases.push([kp.publicKey, big.subarray(7, 7 + cases[0]![1].length), cases[0]![2]]);
    cases.push([kp.publicKey, new Uint8Array(70_000), cases[0]![2]]);
    cases.push([new Uint8Array(70), cases[0]![1], cases[0]![2]]);
    const got = await Promise.all(cases.map(([k, m, s]) => pool.verify(k, m, s)));
    expect(got).toEqual(cases.map(([k, m, s]) => provider.verify('p256', k, m, s)));
    expect(got.filter(Boolean)).toHaveLength(41);
  });

  it('a closed pool refuses with BUSY', async () => {
    const p = new VerifyPool({ provider: name, size: 1 });
    await p.close();
    await expect(p.verify(new Uint8Array(33), new Uint8Array(1), new Uint8Array(64))).rejects.toMatchObject({ code: 'BUSY' });
  });
});
