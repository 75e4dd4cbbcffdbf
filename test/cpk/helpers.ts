/** Shared fixtures for the CPK tests: small KMCs, a stand-in trusted key, and a spying provider. */
import { expect } from 'vitest';
import { TeeError, type TeeErrorCode } from '../../src/common/errors.js';
import type { CryptoProvider, KeyPair, P256Arithmetic } from '../../src/crypto/provider.js';
import {
  KeyManagementCentre, openIssuancePackage, type CpkMode, type KmcOptions, type OpenedIssuance, type PublicMatrix,
} from '../../src/cpk/index.js';

export async function makeKmc(
  provider: CryptoProvider,
  subdomains: Record<string, { rows?: number; cols?: number; mode?: CpkMode }> = { retail: { rows: 4, cols: 4 } },
  options: KmcOptions = {},
): Promise<{ kmc: KeyManagementCentre; matrices: Record<string, PublicMatrix> }> {
  const kmc = await KeyManagementCentre.create({ provider, ...options });
  const matrices: Record<string, PublicMatrix> = {};
  for (const [id, o] of Object.entries(subdomains)) matrices[id] = await kmc.createSubdomain(id, o);
  return { kmc, matrices };
}

/** Issue a key into a fresh trusted key (its P-256 key-agreement pair) and open it there. */
export async function issueAndOpen(
  kmc: KeyManagementCentre, subdomainId: string, userId: string, matrix?: PublicMatrix,
): Promise<OpenedIssuance & { recipient: KeyPair }> {
  const recipient = kmc.provider.generateKeyPair('p256');
  const pkg = await kmc.issuePrivateKey(subdomainId, userId, { publicKey: recipient.publicKey });
  return { ...openIssuancePackage(kmc.provider, recipient.secretKey, pkg, kmc.kmcPublicKey, matrix), recipient };
}

export function expectTeeError(fn: () => unknown, code: TeeErrorCode, message?: RegExp): void {
  let thrown: unknown;
  try {
    fn();
  } catch (err) {
    thrown = err;
  }
  expect(thrown, 'expected a TeeError').toBeInstanceOf(TeeError);
  expect((thrown as TeeError).code).toBe(code);
  if (message) expect((thrown as TeeError).message).toMatch(message);
}

export async function expectTeeErrorAsync(fn: () => Promise<unknown>, code: TeeErrorCode, message?: RegExp): Promise<void> {
  let thrown: unknown;
  try {
    await fn();
  } catch (err) {
    thrown = err;
  }
  expect(thrown, 'expected a TeeError').toBeInstanceOf(TeeError);
  expect((thrown as TeeError).code).toBe(code);
  if (message) expect((thrown as TeeError).message).toMatch(message);
}

/**
 * A provider that records every secret the KMC handles: each scalar it multiplies by G (matrix
 * entries, separating keys, issued keys) and each P-256 secret key it generates. Tests then scan
 * what reached a store or a package for those bytes.
 */
export function spyProvider(inner: CryptoProvider): { provider: CryptoProvider; secrets: Uint8Array[] } {
  const secrets: Uint8Array[] = [];
  const p256: P256Arithmetic = {
    order: inner.p256.order,
    multiplyBase(scalar) {
      secrets.push(inner.p256.scalarToBytes(scalar));
      return inner.p256.multiplyBase(scalar);
    },
    multiply: (p, s) => inner.p256.multiply(p, s),
    addPoints: (ps) => inner.p256.addPoints(ps),
    isValidPoint: (p) => inner.p256.isValidPoint(p),
    mod: (v) => inner.p256.mod(v),
    scalarToBytes: (s) => inner.p256.scalarToBytes(s),
    scalarFromBytes: (b) => inner.p256.scalarFromBytes(b),
  };
  const provider: CryptoProvider = {
    name: inner.name,
    randomBytes: (n) => inner.randomBytes(n),
    sha256: (d) => inner.sha256(d),
    hmacSha256: (k, d) => inner.hmacSha256(k, d),
    hkdfSha256: (i, s, info, l) => inner.hkdfSha256(i, s, info, l),
    generateKeyPair(alg) {
      const kp = inner.generateKeyPair(alg);
      if (alg === 'p256') secrets.push(new Uint8Array(kp.secretKey));
      return kp;
    },
    publicKeyOf: (a, s) => inner.publicKeyOf(a, s),
    sign: (a, s, m) => inner.sign(a, s, m),
    loadSigningKey: (a, s) => inner.loadSigningKey(a, s),
    verify: (a, p, m, s) => inner.verify(a, p, m, s),
    x25519: (s, p) => inner.x25519(s, p),
    p256Ecdh: (s, p) => inner.p256Ecdh(s, p),
    aeadSeal: (a, k, n, p, ad) => inner.aeadSeal(a, k, n, p, ad),
    aeadOpen: (a, k, n, s, ad) => inner.aeadOpen(a, k, n, s, ad),
    p256,
  };
  return { provider, secrets };
}

/** Copy of `bytes` with one bit flipped. */
export function flipBit(bytes: Uint8Array, bit: number): Uint8Array {
  const out = new Uint8Array(bytes);
  out[bit >> 3] ^= 1 << (bit & 7);
  return out;
}
