/** loadSigningKey: a key loaded once signs like `sign`, survives the caller zeroizing its bytes, and dies with destroy. */
import { describe, expect, it } from 'vitest';
import { TeeError } from '../../src/common/errors.js';
import { PROVIDERS, type SignatureAlgorithm } from '../../src/crypto/index.js';
import { failure } from '../support/errors.js';

const HALF_N = PROVIDERS.noble.p256.order >> 1n;

for (const provider of Object.values(PROVIDERS)) {
  describe(`loadSigningKey (${provider.name})`, () => {
    for (const alg of ['p256', 'ed25519'] as SignatureAlgorithm[]) {
      it(`${alg}: signs as sign does (verifies under both providers), after the caller zeroized its bytes`, () => {
        const pair = provider.generateKeyPair(alg);
        const secret = new Uint8Array(pair.secretKey);
        const key = provider.loadSigningKey(alg, secret);
        const expectedEd25519 = alg === 'ed25519' ? provider.sign(alg, pair.secretKey, new Uint8Array([1])) : undefined;
        secret.fill(0);
        expect(key.algorithm).toBe(alg);
        for (let i = 0; i < 20; i++) {
          const m = new Uint8Array([i]);
          const sig = key.sign(m);
          for (const v of Object.values(PROVIDERS)) expect(v.verify(alg, pair.publicKey, m, sig)).toBe(true);
          if (alg === 'p256') expect(BigInt('0x' + Buffer.from(sig.subarray(32)).toString('hex')) <= HALF_N).toBe(true);
        }
        if (expectedEd25519) expect(key.sign(new Uint8Array([1]))).toEqual(expectedEd25519);
        key.destroy();
        expect(failure(() => key.sign(new Uint8Array([1]))).code).toBe('BAD_STATE');
      });
    }

    it('refuses what sign refuses, with the same error', () => {
      const pair = provider.generateKeyPair('p256');
      for (const [alg, sk] of [['x25519', pair.secretKey], ['p256', new Uint8Array(32)], ['p256', pair.secretKey.subarray(1)]] as [SignatureAlgorithm, Uint8Array][]) {
        const a = failure(() => provider.sign(alg, sk, new Uint8Array(1)));
        const b = failure(() => provider.loadSigningKey(alg, sk));
        expect({ code: b.code, message: b.message }).toEqual({ code: a.code, message: a.message });
      }
      const key = provider.loadSigningKey('p256', pair.secretKey);
      expect(() => key.sign('m' as unknown as Uint8Array)).toThrow(TeeError);
    });
  });
}
