/** Native signing: signAsync (libuv thread pool) signs as `sign` does, and P-256 signatures are normalised to low S. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PROVIDERS, type SignatureAlgorithm } from '../../src/crypto/index.js';
import { asyncFailure, failure } from '../support/errors.js';
import { negateP256ScalarInPlace } from '../../src/crypto/common.js';

const native = PROVIDERS.native;
const noble = PROVIDERS.noble;
const HALF_N = noble.p256.order >> 1n;

describe('native signAsync', () => {
  const signAsync = native.signAsync!.bind(native);

  for (const alg of ['p256', 'ed25519'] as SignatureAlgorithm[]) {
    it(`${alg}: signatures verify under both providers, P-256 ones low-S; Ed25519 equals sign's (deterministic)`, async () => {
      await fc.assert(
        fc.asyncProperty(fc.uint8Array({ maxLength: 200 }), async (message) => {
          const pair = native.generateKeyPair(alg);
          const sig = await signAsync(alg, pair.secretKey, message);
          expect(sig).toBeInstanceOf(Uint8Array);
          expect(sig.length).toBe(64);
          expect(native.verify(alg, pair.publicKey, message, sig)).toBe(true);
          expect(noble.verify(alg, pair.publicKey, message, sig)).toBe(true);
          if (alg === 'p256') expect(BigInt('0x' + Buffer.from(sig.subarray(32)).toString('hex')) <= HALF_N).toBe(true);
          else expect(sig).toEqual(native.sign(alg, pair.secretKey, message));
        }),
        { numRuns: 25 },
      );
    });
  }

  it('rejects bad input with the same TeeError as sign', async () => {
    const pair = native.generateKeyPair('p256');
    const msg = new Uint8Array([1]);
    const cases: [SignatureAlgorithm, Uint8Array, Uint8Array][] = [
      ['x25519' as SignatureAlgorithm, pair.secretKey, msg],
      ['p256', new Uint8Array(32), msg],
      ['p256', pair.secretKey.subarray(1), msg],
      ['p256', pair.secretKey, 'm' as unknown as Uint8Array],
    ];
    for (const [alg, key, m] of cases) {
      const syncErr = failure(() => native.sign(alg, key, m));
      const asyncErr = await asyncFailure(signAsync(alg, key, m));
      expect({ code: asyncErr.code, message: asyncErr.message }).toEqual({ code: syncErr.code, message: syncErr.message });
    }
  });
});

describe('low-S normalisation', () => {
  it('negateP256ScalarInPlace gives n - s for any s in (0, n)', () => {
    const N = noble.p256.order;
    fc.assert(
      fc.property(fc.bigInt({ min: 1n, max: N - 1n }), (s) => {
        const bytes = noble.p256.scalarToBytes(s);
        negateP256ScalarInPlace(bytes);
        expect(BigInt('0x' + Buffer.from(bytes).toString('hex'))).toBe(N - s);
      }),
      { numRuns: 500 },
    );
  });

  it('native P-256 signatures are always low-S and verify under noble', () => {
    const pair = native.generateKeyPair('p256');
    for (let i = 0; i < 100; i++) {
      const m = new Uint8Array([i]);
      const sig = native.sign('p256', pair.secretKey, m);
      const s = BigInt('0x' + Buffer.from(sig.subarray(32)).toString('hex'));
      expect(s > 0n && s <= HALF_N).toBe(true);
      expect(noble.verify('p256', pair.publicKey, m, sig)).toBe(true);
    }
  });
});
