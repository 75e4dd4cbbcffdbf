/** The native provider's optional verifyAsync (libuv thread pool) gives exactly `verify`'s answers. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PROVIDERS, type SignatureAlgorithm } from '../../src/crypto/index.js';

const native = PROVIDERS.native;
const noble = PROVIDERS.noble;
const N = noble.p256.order;

function highSTwin(sig: Uint8Array): Uint8Array {
  const out = sig.slice();
  const s = BigInt('0x' + Buffer.from(sig.subarray(32)).toString('hex'));
  out.set(noble.p256.scalarToBytes(N - s), 32);
  return out;
}

describe('native verifyAsync', () => {
  const verifyAsync = native.verifyAsync!.bind(native);

  it('is provided by the native provider', () => {
    expect(typeof native.verifyAsync).toBe('function');
  });

  for (const alg of ['p256', 'ed25519'] as SignatureAlgorithm[]) {
    it(`${alg}: agrees with verify on valid, altered and foreign signatures (both signers)`, async () => {
      await fc.assert(
        fc.asyncProperty(fc.uint8Array({ maxLength: 200 }), fc.nat(), async (message, bit) => {
          for (const signer of [native, noble]) {
            const pair = signer.generateKeyPair(alg);
            const sig = signer.sign(alg, pair.secretKey, message);
            const bad = sig.slice();
            bad[bit % 64]! ^= 1 << (bit % 8);
            const other = signer.generateKeyPair(alg).publicKey;
            const cases: [Uint8Array, Uint8Array, Uint8Array][] = [[pair.publicKey, message, sig], [pair.publicKey, message, bad], [other, message, sig]];
            for (const [pk, m, s] of cases) expect(await verifyAsync(alg, pk, m, s)).toBe(native.verify(alg, pk, m, s));
            expect(await verifyAsync(alg, pair.publicKey, message, sig)).toBe(true);
          }
        }),
        { numRuns: 20 },
      );
    });
  }

  it('refuses high-S twins, malformed keys and signatures without rejecting', async () => {
    const pair = native.generateKeyPair('p256');
    const msg = new Uint8Array([1, 2, 3]);
    const sig = native.sign('p256', pair.secretKey, msg);
    expect(await verifyAsync('p256', pair.publicKey, msg, sig)).toBe(true);
    expect(await verifyAsync('p256', pair.publicKey, msg, highSTwin(sig))).toBe(false);
    expect(await verifyAsync('p256', pair.publicKey, msg, sig.subarray(0, 63))).toBe(false);
    expect(await verifyAsync('p256', new Uint8Array(33), msg, sig)).toBe(false);
    expect(await verifyAsync('p256', pair.publicKey.subarray(1), msg, sig)).toBe(false);
    expect(await verifyAsync('p256', pair.publicKey, 'abc' as unknown as Uint8Array, sig)).toBe(false);
    expect(await verifyAsync('x25519' as SignatureAlgorithm, pair.publicKey, msg, sig)).toBe(false);
    expect(await verifyAsync('p256', pair.publicKey, msg, new Uint8Array(64))).toBe(false);
  });
});
