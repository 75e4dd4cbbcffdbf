import { beforeAll, describe, expect, it } from 'vitest';
import { containsBytes, toHex } from '../../src/common/bytes.js';
import { TeeError } from '../../src/common/errors.js';
import { nativeProvider } from '../../src/crypto/index.js';
import {
  decodeIssuancePackage, encodeIssuancePackage, mapPublicKey, openIssuancePackage, sealIssuancePackage, signPublicMatrix,
  type IssuancePackage, type PublicMatrix,
} from '../../src/cpk/index.js';
import type { KeyPair } from '../../src/crypto/provider.js';
import { expectTeeError, flipBit, makeKmc, spyProvider } from './helpers.js';

const { provider, secrets } = spyProvider(nativeProvider);
let kmcPublicKey: Uint8Array;
let matrices: Record<string, PublicMatrix>;
let recipient: KeyPair;
let pkg: IssuancePackage;
let issue: (subdomainId: string, userId: string, to?: Uint8Array) => Promise<IssuancePackage>;

beforeAll(async () => {
  const made = await makeKmc(provider, { retail: { rows: 4, cols: 4 }, transit: { rows: 4, cols: 4 } });
  matrices = made.matrices;
  kmcPublicKey = made.kmc.kmcPublicKey;
  recipient = nativeProvider.generateKeyPair('p256');
  issue = (subdomainId, userId, to = recipient.publicKey) => made.kmc.issuePrivateKey(subdomainId, userId, { publicKey: to });
  pkg = await issue('retail', 'alice');
});

const open = (p: IssuancePackage | Uint8Array, opts: { secretKey?: Uint8Array; kmcKey?: Uint8Array; matrix?: PublicMatrix } = {}) =>
  openIssuancePackage(provider, opts.secretKey ?? recipient.secretKey, p, opts.kmcKey ?? kmcPublicKey, opts.matrix);

describe('issuance package', () => {
  it('opens in the recipient trusted key, from the object or its bytes, and matches the mapping', () => {
    const opened = open(pkg, { matrix: matrices.retail! });
    expect(opened).toMatchObject({ subdomainId: 'retail', userId: 'alice', mode: 'plain' });
    expect(opened.certificate).toBeUndefined();
    expect(toHex(opened.publicKey)).toBe(toHex(mapPublicKey(provider, matrices.retail!, 'retail', 'alice')));
    const bytes = encodeIssuancePackage(pkg);
    expect(decodeIssuancePackage(bytes)).toEqual(pkg);
    expect(toHex(open(bytes).secretKey)).toBe(toHex(opened.secretKey));
  });

  it('carries no secret in its bytes: not the issued key, the matrix scalars, nor the ephemeral key', () => {
    const bytes = encodeIssuancePackage(pkg);
    const opened = open(bytes);
    expect(secrets.length).toBeGreaterThan(32); // 2 matrices of 16 scalars, the issued key, ephemeral keys
    expect(containsBytes(bytes, opened.secretKey)).toBe(false);
    for (const s of secrets) expect(containsBytes(bytes, s)).toBe(false);
  });

  it('rejects every altered field with SECURITY', () => {
    const p = pkg;
    const altered: IssuancePackage[] = [
      { ...p, ciphertext: flipBit(p.ciphertext, 3) },
      { ...p, ciphertext: flipBit(p.ciphertext, 8 * 40) }, // in the tag
      { ...p, userId: 'mallory' },
      { ...p, subdomainId: 'transit' },
      { ...p, mode: 'hardened' },
      { ...p, publicKey: mapPublicKey(provider, matrices.retail!, 'retail', 'mallory') },
      { ...p, ephemeralPublicKey: nativeProvider.generateKeyPair('p256').publicKey },
      { ...p, nonce: flipBit(p.nonce, 0) },
      { ...p, kmcSignature: flipBit(p.kmcSignature, 100) },
    ];
    for (const a of altered) expectTeeError(() => open(a), 'SECURITY');
  });

  it('survives no bit flip of its encoding: each is refused with a code', () => {
    const bytes = encodeIssuancePackage(pkg);
    for (let bit = 0; bit < bytes.length * 8; bit++) {
      try {
        open(flipBit(bytes, bit));
      } catch (err) {
        expect(err).toBeInstanceOf(TeeError);
        expect(['SECURITY', 'BAD_PARAMETERS']).toContain((err as TeeError).code);
        continue;
      }
      throw new Error(`bit ${bit}: altered package opened`);
    }
  });

  it('cannot be opened by another trusted key, nor under another KMC key', async () => {
    const other = nativeProvider.generateKeyPair('p256');
    expectTeeError(() => open(pkg, { secretKey: other.secretKey }), 'SECURITY', /does not verify for this recipient/);
    const rogue = await makeKmc(provider, { retail: { rows: 4, cols: 4 } });
    expectTeeError(() => open(pkg, { kmcKey: rogue.kmc.kmcPublicKey }), 'SECURITY');
    // The rogue KMC's own package for alice does not open under the trusted key either.
    const forged = await rogue.kmc.issuePrivateKey('retail', 'alice', { publicKey: recipient.publicKey });
    expectTeeError(() => open(forged), 'SECURITY');
  });

  it('is checked against the public matrix: wrong subdomain or mode is refused', async () => {
    const transitPkg = await issue('transit', 'alice');
    expectTeeError(() => open(transitPkg, { matrix: matrices.retail! }), 'BAD_PARAMETERS');
    const hardened = await makeKmc(provider, { retail: { rows: 4, cols: 4, mode: 'hardened' } });
    expectTeeError(() => open(pkg, { matrix: hardened.matrices.retail! }), 'SECURITY'); // untrusted KMC matrix
  });

  it('defends the trusted key against a KMC that delivers a bad key (zero, or off the mapping)', () => {
    // A KMC whose key the trusted key trusts, but whose issuance is wrong.
    const kmcKey = nativeProvider.generateKeyPair('p256');
    const points = [3n, 5n, 7n, 11n].map((r) => provider.p256.multiplyBase(r));
    const matrix = signPublicMatrix(provider, kmcKey.secretKey, { version: 1, subdomainId: 'retail', rows: 2, cols: 2, mode: 'plain', points, kmcPublicKey: kmcKey.publicKey });
    const seal = (secretKey: Uint8Array, publicKey: Uint8Array) => sealIssuancePackage(provider, {
      kmcSecretKey: kmcKey.secretKey, subdomainId: 'retail', userId: 'alice', mode: 'plain', secretKey, publicKey, recipientPublicKey: recipient.publicKey,
    });
    const zero = seal(new Uint8Array(32), provider.p256.multiplyBase(1n));
    expectTeeError(() => open(zero, { kmcKey: kmcKey.publicKey }), 'SECURITY', /not a scalar/);
    const wrong = seal(provider.p256.scalarToBytes(42n), provider.p256.multiplyBase(42n));
    expect(toHex(open(wrong, { kmcKey: kmcKey.publicKey }).publicKey)).toBe(toHex(provider.p256.multiplyBase(42n)));
    expectTeeError(() => open(wrong, { kmcKey: kmcKey.publicKey, matrix }), 'SECURITY', /does not match the public mapping/);
    const mismatched = seal(provider.p256.scalarToBytes(42n), provider.p256.multiplyBase(43n));
    expectTeeError(() => open(mismatched, { kmcKey: kmcKey.publicKey }), 'SECURITY', /signed public key/);
  });

  it('decodes malformed bytes to BAD_PARAMETERS', () => {
    const bytes = encodeIssuancePackage(pkg);
    for (const bad of [new Uint8Array(0), bytes.subarray(0, 40), new Uint8Array([...bytes, 1]), new Uint8Array(4096)]) {
      expectTeeError(() => decodeIssuancePackage(bad), 'BAD_PARAMETERS');
    }
    expectTeeError(() => open({ ...pkg, nonce: new Uint8Array(8) }), 'BAD_PARAMETERS');
    expectTeeError(() => open({ ...pkg, userId: '../etc' }), 'BAD_PARAMETERS');
  });
});
