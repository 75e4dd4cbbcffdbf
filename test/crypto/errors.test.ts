/**
 * Bad input to every provider API (in the manner of noble's test/errors.test.ts): each case pins the
 * TeeError code and message, and both providers must fail the same way. `verify` never throws.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromHex } from '../../src/common/bytes.js';
import type { TeeErrorCode } from '../../src/common/errors.js';
import { failure } from '../support/errors.js';
import { PROVIDERS, type CryptoProvider, type ProviderName } from '../../src/crypto/index.js';

/** Deliberately ill-typed arguments, as an untrusted caller could pass them. */
type Loose = any;

const names = Object.keys(PROVIDERS) as ProviderName[];
const noble = PROVIDERS.noble;
const N = noble.p256.order;
const nBytes = noble.p256.scalarToBytes(N - 1n).map((v, i) => (i === 31 ? v + 1 : v)); // n itself
const zero32 = new Uint8Array(32);
const ones32 = new Uint8Array(32).fill(1);
const ff32 = new Uint8Array(32).fill(0xff);
const key32 = new Uint8Array(32).fill(7);
const nonce12 = new Uint8Array(12);
const G = noble.p256.multiplyBase(1n);
const negG = Uint8Array.from(G, (v, i) => (i === 0 ? v ^ 1 : v)); // 02 <-> 03: the same x, the other y

/** A valid uncompressed point with y changed by one: off the curve. */
function offCurve(): Uint8Array {
  const sk = noble.p256.scalarToBytes(12345n);
  const compressed = noble.publicKeyOf('p256', sk);
  const shared = noble.p256Ecdh(sk, compressed); // any valid x will do for the shape
  const out = new Uint8Array(65);
  out[0] = 0x04;
  out.set(shared, 1);
  out[64] = 1;
  return out;
}

interface Case {
  name: string;
  call: (p: CryptoProvider) => unknown;
  code: TeeErrorCode;
  message: string;
}

const RANDOM_MSG = 'randomBytes: length must be in [0, 1048576]';
const HKDF_MSG = 'hkdfSha256: length must be in [1, 8160]';
const P256_SK = 'p256: invalid secret key';
const PEER = 'p256Ecdh peer key: not a valid P-256 point';
const DEGENERATE = 'x25519: degenerate shared secret (low-order peer key)';

// Low-order X25519 u-coordinates (RFC 7748 section 6.1 requires the all-zero check; these give it).
const LOW_ORDER_U = [
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
  '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
];

const CASES: Case[] = [
  // randomBytes
  ...[-1, 1.5, Number.NaN, (1 << 20) + 1, '8' as Loose].map((len) => ({
    name: `randomBytes(${String(len)})`, call: (p: CryptoProvider) => p.randomBytes(len), code: 'BAD_PARAMETERS' as const, message: RANDOM_MSG,
  })),
  // hashes and KDF
  { name: 'sha256 of a string', call: (p) => p.sha256('abc' as Loose), code: 'BAD_PARAMETERS', message: 'sha256: data must be bytes' },
  { name: 'hmac with a string key', call: (p) => p.hmacSha256('k' as Loose, ones32), code: 'BAD_PARAMETERS', message: 'hmacSha256: key must be bytes' },
  { name: 'hmac of undefined data', call: (p) => p.hmacSha256(ones32, undefined as Loose), code: 'BAD_PARAMETERS', message: 'hmacSha256: data must be bytes' },
  ...[0, -1, 8161, 1.5].map((len) => ({
    name: `hkdf length ${len}`, call: (p: CryptoProvider) => p.hkdfSha256(ones32, zero32, zero32, len), code: 'BAD_PARAMETERS' as const, message: HKDF_MSG,
  })),
  { name: 'hkdf ikm a string', call: (p) => p.hkdfSha256('x' as Loose, zero32, zero32, 32), code: 'BAD_PARAMETERS', message: 'hkdfSha256: ikm must be bytes' },
  { name: 'hkdf salt null', call: (p) => p.hkdfSha256(ones32, null as Loose, zero32, 32), code: 'BAD_PARAMETERS', message: 'hkdfSha256: salt must be bytes' },
  { name: 'hkdf info a number', call: (p) => p.hkdfSha256(ones32, zero32, 3 as Loose, 32), code: 'BAD_PARAMETERS', message: 'hkdfSha256: info must be bytes' },
  // unknown algorithm names
  ...['rsa', 'P-256', '', 'toString', '__proto__', 'constructor'].flatMap((alg): Case[] => [
    { name: `generateKeyPair(${alg})`, call: (p) => p.generateKeyPair(alg as Loose), code: 'NOT_SUPPORTED', message: 'generateKeyPair: unknown algorithm' },
    { name: `publicKeyOf(${alg})`, call: (p) => p.publicKeyOf(alg as Loose, ones32), code: 'NOT_SUPPORTED', message: 'publicKeyOf: unknown algorithm' },
    { name: `sign(${alg})`, call: (p) => p.sign(alg as Loose, ones32, ones32), code: 'NOT_SUPPORTED', message: 'sign: unknown algorithm' },
    { name: `aeadSeal(${alg})`, call: (p) => p.aeadSeal(alg as Loose, key32, nonce12, ones32, zero32), code: 'NOT_SUPPORTED', message: 'aead: unknown algorithm' },
    { name: `aeadOpen(${alg})`, call: (p) => p.aeadOpen(alg as Loose, key32, nonce12, new Uint8Array(40), zero32), code: 'NOT_SUPPORTED', message: 'aead: unknown algorithm' },
  ]),
  { name: 'sign with x25519 (a key-agreement algorithm)', call: (p) => p.sign('x25519' as Loose, ones32, ones32), code: 'NOT_SUPPORTED', message: 'sign: unknown algorithm' },
  { name: 'aes-128-gcm is not offered', call: (p) => p.aeadSeal('aes-128-gcm' as Loose, key32, nonce12, ones32, zero32), code: 'NOT_SUPPORTED', message: 'aead: unknown algorithm' },
  // secret key lengths
  ...(['p256', 'ed25519', 'x25519'] as const).flatMap((alg) =>
    [0, 31, 33, 64].map((len) => ({
      name: `publicKeyOf(${alg}) with a ${len}-byte secret`, call: (p: CryptoProvider) => p.publicKeyOf(alg, new Uint8Array(len).fill(1)),
      code: 'BAD_PARAMETERS' as const, message: `${alg}: secret key must be 32 bytes`,
    })),
  ),
  { name: 'publicKeyOf with a string secret', call: (p) => p.publicKeyOf('ed25519', 'secret'.repeat(6) as Loose), code: 'BAD_PARAMETERS', message: 'ed25519: secret key must be 32 bytes' },
  { name: 'sign(ed25519) with a 64-byte (libsodium-style) secret', call: (p) => p.sign('ed25519', new Uint8Array(64), ones32), code: 'BAD_PARAMETERS', message: 'ed25519: secret key must be 32 bytes' },
  // P-256 scalars 0, n, above n
  ...([['0', zero32], ['n', nBytes], ['2^256-1', ff32]] as const).flatMap(([label, sk]): Case[] => [
    { name: `publicKeyOf(p256, ${label})`, call: (p) => p.publicKeyOf('p256', sk), code: 'BAD_PARAMETERS', message: P256_SK },
    { name: `sign(p256, ${label})`, call: (p) => p.sign('p256', sk, ones32), code: 'BAD_PARAMETERS', message: P256_SK },
    { name: `p256Ecdh(${label}, G)`, call: (p) => p.p256Ecdh(sk, G), code: 'BAD_PARAMETERS', message: P256_SK },
  ]),
  { name: 'sign a string message', call: (p) => p.sign('ed25519', ones32, 'pay 10' as Loose), code: 'BAD_PARAMETERS', message: 'sign: message must be bytes' },
  // X25519
  { name: 'x25519 with a 31-byte secret', call: (p) => p.x25519(new Uint8Array(31), ones32), code: 'BAD_PARAMETERS', message: 'x25519: secret key must be 32 bytes' },
  { name: 'x25519 with both wrong: the secret is checked first', call: (p) => p.x25519(new Uint8Array(31), new Uint8Array(31)), code: 'BAD_PARAMETERS', message: 'x25519: secret key must be 32 bytes' },
  ...[0, 31, 33, 56].map((len) => ({
    name: `x25519 with a ${len}-byte peer key`, call: (p: CryptoProvider) => p.x25519(ones32, new Uint8Array(len).fill(9)),
    code: 'BAD_PARAMETERS' as const, message: 'x25519: peer public key must be 32 bytes',
  })),
  ...LOW_ORDER_U.map((u) => ({
    name: `x25519 with low-order peer u=${u.slice(0, 8)}…`, call: (p: CryptoProvider) => p.x25519(ones32, fromHex(u)), code: 'SECURITY' as const, message: DEGENERATE,
  })),
  // P-256 ECDH peer points
  ...([
    ['off the curve', offCurve()],
    ['hybrid 0x06 prefix', Uint8Array.from(offCurve(), (v, i) => (i === 0 ? 0x06 : v))],
    ['prefix 0x05', Uint8Array.from(G, (v, i) => (i === 0 ? 0x05 : v))],
    ['32 bytes (x only)', G.subarray(1)],
    ['infinity (0x00)', new Uint8Array([0])],
    ['x = p (not a field element)', fromHex('02ffffffff00000001000000000000000000000000ffffffffffffffffffffffff')],
    ['not bytes', 'G' as Loose],
  ] as [string, Uint8Array][]).map(([label, peer]) => ({
    name: `p256Ecdh peer ${label}`, call: (p: CryptoProvider) => p.p256Ecdh(ones32, peer), code: 'BAD_PARAMETERS' as const, message: PEER,
  })),
  // AEAD
  ...(['chacha20-poly1305', 'aes-256-gcm'] as const).flatMap((alg): Case[] => [
    { name: `${alg} 16-byte key`, call: (p) => p.aeadSeal(alg, new Uint8Array(16), nonce12, ones32, zero32), code: 'BAD_PARAMETERS', message: 'aead: key must be 32 bytes' },
    { name: `${alg} open 33-byte key`, call: (p) => p.aeadOpen(alg, new Uint8Array(33), nonce12, new Uint8Array(16), zero32), code: 'BAD_PARAMETERS', message: 'aead: key must be 32 bytes' },
    { name: `${alg} 24-byte (XChaCha) nonce`, call: (p) => p.aeadSeal(alg, key32, new Uint8Array(24), ones32, zero32), code: 'BAD_PARAMETERS', message: 'aead: nonce must be 12 bytes' },
    { name: `${alg} open 8-byte nonce`, call: (p) => p.aeadOpen(alg, key32, new Uint8Array(8), new Uint8Array(16), zero32), code: 'BAD_PARAMETERS', message: 'aead: nonce must be 12 bytes' },
    { name: `${alg} plaintext a string`, call: (p) => p.aeadSeal(alg, key32, nonce12, 'hi' as Loose, zero32), code: 'BAD_PARAMETERS', message: 'aead: plaintext must be bytes' },
    { name: `${alg} aad undefined`, call: (p) => p.aeadSeal(alg, key32, nonce12, ones32, undefined as Loose), code: 'BAD_PARAMETERS', message: 'aead: aad must be bytes' },
    { name: `${alg} open: truncated below the tag`, call: (p) => p.aeadOpen(alg, key32, nonce12, new Uint8Array(15), zero32), code: 'SECURITY', message: 'aeadOpen: ciphertext shorter than the tag' },
    { name: `${alg} open: empty`, call: (p) => p.aeadOpen(alg, key32, nonce12, new Uint8Array(0), zero32), code: 'SECURITY', message: 'aeadOpen: ciphertext shorter than the tag' },
    { name: `${alg} open: a bare wrong tag`, call: (p) => p.aeadOpen(alg, key32, nonce12, new Uint8Array(16), zero32), code: 'SECURITY', message: 'aeadOpen: authentication failed' },
    {
      name: `${alg} open: last byte cut off`,
      call: (p) => p.aeadOpen(alg, key32, nonce12, p.aeadSeal(alg, key32, nonce12, ones32, zero32).subarray(0, 47), zero32),
      code: 'SECURITY', message: 'aeadOpen: authentication failed',
    },
  ]),
  // P-256 arithmetic (CPK)
  ...[0n, N, N + 1n, -1n].flatMap((k): Case[] => [
    { name: `multiplyBase(${k === N ? 'n' : k})`, call: (p) => p.p256.multiplyBase(k), code: 'BAD_PARAMETERS', message: 'multiplyBase: scalar out of range [1, n-1]' },
    { name: `multiply(G, ${k === N ? 'n' : k})`, call: (p) => p.p256.multiply(G, k), code: 'BAD_PARAMETERS', message: 'multiply: scalar out of range [1, n-1]' },
  ]),
  { name: 'multiplyBase(1) as a number', call: (p) => p.p256.multiplyBase(1 as Loose), code: 'BAD_PARAMETERS', message: 'multiplyBase: scalar out of range [1, n-1]' },
  { name: 'multiply an off-curve point', call: (p) => p.p256.multiply(offCurve(), 2n), code: 'BAD_PARAMETERS', message: 'multiply: not a valid P-256 point' },
  { name: 'addPoints P + (-P)', call: (p) => p.p256.addPoints([G, negG]), code: 'SECURITY', message: 'addPoints: sum is the point at infinity' },
  { name: 'addPoints of nothing', call: (p) => p.p256.addPoints([]), code: 'SECURITY', message: 'addPoints: sum is the point at infinity' },
  {
    name: 'addPoints summing to zero over several terms',
    call: (p) => p.p256.addPoints([p.p256.multiplyBase(5n), p.p256.multiplyBase(7n), p.p256.multiplyBase(N - 12n)]),
    code: 'SECURITY', message: 'addPoints: sum is the point at infinity',
  },
  { name: 'addPoints with an invalid point', call: (p) => p.p256.addPoints([G, offCurve()]), code: 'BAD_PARAMETERS', message: 'addPoints: not a valid P-256 point' },
  { name: 'scalarFromBytes(0)', call: (p) => p.p256.scalarFromBytes(zero32), code: 'BAD_PARAMETERS', message: 'scalar: scalar out of range [1, n-1]' },
  { name: 'scalarFromBytes(n)', call: (p) => p.p256.scalarFromBytes(nBytes), code: 'BAD_PARAMETERS', message: 'scalar: scalar out of range [1, n-1]' },
  { name: 'scalarFromBytes(2^256-1)', call: (p) => p.p256.scalarFromBytes(ff32), code: 'BAD_PARAMETERS', message: 'scalar: scalar out of range [1, n-1]' },
  { name: 'scalarFromBytes of 31 bytes', call: (p) => p.p256.scalarFromBytes(new Uint8Array(31).fill(1)), code: 'BAD_PARAMETERS', message: 'scalar: expected 32 bytes' },
  { name: 'scalarToBytes(-1)', call: (p) => p.p256.scalarToBytes(-1n), code: 'BAD_PARAMETERS', message: 'scalarToBytes: scalar out of range' },
  { name: 'scalarToBytes(n)', call: (p) => p.p256.scalarToBytes(N), code: 'BAD_PARAMETERS', message: 'scalarToBytes: scalar out of range' },
  { name: 'scalarToBytes(1.5)', call: (p) => p.p256.scalarToBytes(1.5 as Loose), code: 'BAD_PARAMETERS', message: 'scalarToBytes: scalar out of range' },
  { name: 'mod of a number', call: (p) => p.p256.mod(5 as Loose), code: 'BAD_PARAMETERS', message: 'mod: expected a bigint' },
];


describe('bad input: pinned code and message, the same in both providers', () => {
  it.each(CASES.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const errors = names.map((n) => failure(() => c.call(PROVIDERS[n])));
    for (const e of errors) {
      expect(e.code).toBe(c.code);
      expect(e.message).toBe(c.message);
    }
    expect(errors.map((e) => e.origin)).toEqual(errors.map(() => errors[0]!.origin));
  });
});

describe('verify never throws and refuses malformed or degenerate input', () => {
  const msg = new Uint8Array([1, 2, 3]);
  const p256Key = noble.publicKeyOf('p256', ones32);
  const p256Sig = noble.sign('p256', ones32, msg);
  const edKey = noble.publicKeyOf('ed25519', ones32);
  const edSig = noble.sign('ed25519', ones32, msg);
  const identity = fromHex('0100000000000000000000000000000000000000000000000000000000000000');
  const sigWith = (r: bigint, s: bigint) => {
    const out = new Uint8Array(64);
    out.set(fromHex(r.toString(16).padStart(64, '0')), 0);
    out.set(fromHex(s.toString(16).padStart(64, '0')), 32);
    return out;
  };
  const r = BigInt('0x' + Buffer.from(p256Sig.subarray(0, 32)).toString('hex'));
  const s = BigInt('0x' + Buffer.from(p256Sig.subarray(32)).toString('hex'));

  const refused: [string, () => [Loose, Loose, Loose, Loose]][] = [
    ['unknown algorithm', () => ['rsa', p256Key, msg, p256Sig]],
    ['x25519 is not a signature algorithm', () => ['x25519', edKey, msg, edSig]],
    ['p256 signature of 63 bytes', () => ['p256', p256Key, msg, p256Sig.subarray(0, 63)]],
    ['p256 DER-length signature', () => ['p256', p256Key, msg, new Uint8Array(72)]],
    ['p256 high-S twin', () => ['p256', p256Key, msg, sigWith(r, N - s)]],
    ['p256 r = 0', () => ['p256', p256Key, msg, sigWith(0n, s)]],
    ['p256 s = 0', () => ['p256', p256Key, msg, sigWith(r, 0n)]],
    ['p256 r = n', () => ['p256', p256Key, msg, sigWith(N, s)]],
    ['p256 all-zero signature', () => ['p256', p256Key, msg, new Uint8Array(64)]],
    ['p256 key with hybrid prefix', () => ['p256', Uint8Array.from(p256Key, (v, i) => (i === 0 ? v + 4 : v)), msg, p256Sig]],
    ['p256 key off the curve', () => ['p256', offCurve(), msg, p256Sig]],
    ['p256 key as an Ed25519 key', () => ['p256', edKey, msg, p256Sig]],
    ['ed25519 key of 33 bytes', () => ['ed25519', new Uint8Array([...edKey, 0]), msg, edSig]],
    ['ed25519 small-order key with R = identity, S = 0 (forgery on any message)', () => ['ed25519', identity, msg, new Uint8Array([...identity, ...new Uint8Array(32)])]],
    ['ed25519 non-canonical key y = p', () => ['ed25519', fromHex('edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f'), msg, edSig]],
    ['ed25519 S + L (malleated)', () => {
      const L = 2n ** 252n + 27742317777372353535851937790883648493n;
      const sLe = BigInt('0x' + Buffer.from(edSig.subarray(32)).reverse().toString('hex')) + L;
      const out = edSig.slice();
      out.set(fromHex(sLe.toString(16).padStart(64, '0')).reverse(), 32);
      return ['ed25519', edKey, msg, out];
    }],
    ['message a string', () => ['ed25519', edKey, 'abc', edSig]],
    ['signature undefined', () => ['p256', p256Key, msg, undefined]],
    ['public key null', () => ['ed25519', null, msg, edSig]],
  ];

  it.each(refused)('%s', (_name, args) => {
    const [alg, pk, m, sig] = args();
    for (const n of names) expect(PROVIDERS[n].verify(alg, pk, m, sig)).toBe(false);
  });

  it('the genuine signatures still verify (the cases above are not vacuous)', () => {
    for (const n of names) {
      expect(PROVIDERS[n].verify('p256', p256Key, msg, p256Sig)).toBe(true);
      expect(PROVIDERS[n].verify('ed25519', edKey, msg, edSig)).toBe(true);
    }
  });

  it('arbitrary values in every argument: false, never an exception', () => {
    const alg = fc.oneof(fc.constantFrom('p256', 'ed25519', 'x25519', 'toString', ''), fc.anything());
    const blob = fc.oneof(fc.uint8Array({ maxLength: 70 }), fc.constantFrom(p256Key, edKey, p256Sig, edSig), fc.anything());
    fc.assert(
      fc.property(alg, blob, blob, blob, (a, pk, m, sig) => {
        for (const n of names) expect(PROVIDERS[n].verify(a as Loose, pk as Loose, m as Loose, sig as Loose)).toBe(false);
      }),
      { numRuns: 300 },
    );
  });

  it('isValidPoint never throws', () => {
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 70 }), fc.anything()), (v) => {
        expect(typeof noble.p256.isValidPoint(v as Loose)).toBe('boolean');
      }),
      { numRuns: 300 },
    );
    expect(noble.p256.isValidPoint(G)).toBe(true);
    expect(noble.p256.isValidPoint(offCurve())).toBe(false);
  });
});
