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
    const got = await Promise.all(cases.map(([k, m, s]) => pool.verify(k, m, s)));
    expect(got).toEqual(cases.map(([k, m, s]) => provider.verify('p256', k, m, s)));
    expect(got.filter(Boolean)).toHaveLength(40);
  });

  it('a closed pool refuses with BUSY', async () => {
    const p = new VerifyPool({ provider: name, size: 1 });
    await p.close();
    await expect(p.verify(new Uint8Array(33), new Uint8Array(1), new Uint8Array(64))).rejects.toMatchObject({ code: 'BUSY' });
  });
});

describe('VerifyPool signing', () => {
  it('signs with its key (valid under the matching public key); without a key it refuses', async () => {
    const provider = PROVIDERS.native;
    const kp = provider.generateKeyPair('p256');
    const pool = new VerifyPool({ provider: 'native', size: 2, signingKey: kp.secretKey });
    const bare = new VerifyPool({ provider: 'native', size: 1 });
    try {
      expect(pool.signerPublicKey).toEqual(kp.publicKey);
      const messages = Array.from({ length: 20 }, (_, i) => provider.randomBytes(10 + i));
      const sigs = await Promise.all(messages.map((m) => pool.sign(m)));
      sigs.forEach((s, i) => expect(provider.verify('p256', kp.publicKey, messages[i]!, s)).toBe(true));
      await expect(bare.sign(messages[0]!)).rejects.toMatchObject({ code: 'BAD_STATE' });
    } finally {
      await pool.close();
      await bare.close();
    }
  });
});
