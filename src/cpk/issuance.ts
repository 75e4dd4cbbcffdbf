/**
 * The encrypted, authenticated path that carries a CPK private key from the KMC into a trusted key.
 * The REE carries the package and sees only public data and ciphertext.
 *
 * KMC side (`sealIssuancePackage`), ECIES-style:
 *   e = fresh P-256 key pair; z = ECDH(e, recipient)
 *   k = HKDF-SHA256(z, salt = "", info = frame(label, version, subdomainId, userId, mode, E, recipient))
 *   ciphertext = AES-256-GCM(k, nonce, secretKey, aad = header)
 *   kmcSignature = KMC signature over every field plus the recipient's public key
 * so the package is bound to one identity, one mode and one recipient: moved to another identity or
 * opened by another trusted key, it fails the signature check before any decryption.
 *
 * Trusted-key side (`openIssuancePackage`): verify the signature (and a hardened package's separating
 * certificate), decrypt, check the scalar is in [1, n-1], recompute the public key and compare it with
 * the signed one and, given the public matrix, with the offline mapping. Every failure is SECURITY.
 *
 * Wire form (msgpack): [version, subdomainId, userId, mode, publicKey, ephemeralPublicKey, nonce,
 * ciphertext, kmcSignature, separatingCertificate bytes | null].
 */
import { constantTimeEqual, zeroize } from '../common/bytes.js';
import { aarray, abytes, aint, aobject, aoneOf } from '../common/checks.js';
import { decode, encode } from '../common/codec.js';
import { TeeError } from '../common/errors.js';
import { AEAD_NONCE_BYTES, AEAD_TAG_BYTES, type CryptoProvider } from '../crypto/provider.js';
import { CPK_MODES, LABELS, POINT_BYTES, SCALAR_BYTES, SIGNATURE_BYTES, checkId, frame, type CpkMode } from './encoding.js';
import {
  checkSeparatingCertificate, decodeSeparatingCertificate, encodeSeparatingCertificate, mapHardenedPublicKey,
  verifySeparatingCertificate, type SeparatingCertificate,
} from './hardened.js';
import { mapPublicKey } from './map.js';
import { verifyPublicMatrix, type PublicMatrix } from './matrix.js';

const AEAD = 'aes-256-gcm';
const MAX_PACKAGE_BYTES = 2048;

export interface IssuancePackage {
  version: 1;
  subdomainId: string;
  userId: string;
  mode: CpkMode;
  /** The user's public key as the KMC computed it (public; the trusted key recomputes it). */
  publicKey: Uint8Array;
  /** The KMC's one-time P-256 key-agreement key. */
  ephemeralPublicKey: Uint8Array;
  nonce: Uint8Array;
  /** AES-256-GCM of the 32-byte private scalar, tag appended. */
  ciphertext: Uint8Array;
  kmcSignature: Uint8Array;
  /** Hardened mode only: the KMC's certificate of S_u. */
  separatingCertificate?: SeparatingCertificate;
}

export interface OpenedIssuance {
  subdomainId: string;
  userId: string;
  mode: CpkMode;
  /** The 32-byte private scalar. Keep it inside the trusted key; zeroize when done. */
  secretKey: Uint8Array;
  publicKey: Uint8Array;
  /** Hardened mode: the encoded separating certificate, to present beside signatures. */
  certificate?: Uint8Array;
  separatingCertificate?: SeparatingCertificate;
}

export interface SealIssuanceInput {
  kmcSecretKey: Uint8Array;
  subdomainId: string;
  userId: string;
  mode: CpkMode;
  /** 32-byte private scalar to deliver (not zeroed here: the caller owns it). */
  secretKey: Uint8Array;
  publicKey: Uint8Array;
  recipientPublicKey: Uint8Array;
  separatingCertificate?: SeparatingCertificate;
}

type Header = Omit<IssuancePackage, 'nonce' | 'ciphertext' | 'kmcSignature'>;

function certificateBytes(pkg: Header): Uint8Array {
  return pkg.separatingCertificate ? encodeSeparatingCertificate(pkg.separatingCertificate) : new Uint8Array(0);
}

function keyInfo(pkg: Header, recipientPublicKey: Uint8Array): Uint8Array {
  return frame(LABELS.issuanceKey, pkg.version, pkg.subdomainId, pkg.userId, pkg.mode, pkg.ephemeralPublicKey, recipientPublicKey);
}

function aad(pkg: Header, recipientPublicKey: Uint8Array): Uint8Array {
  return frame(LABELS.issuancePackage, pkg.version, pkg.subdomainId, pkg.userId, pkg.mode, pkg.publicKey, pkg.ephemeralPublicKey, certificateBytes(pkg), recipientPublicKey);
}

function signingBytes(pkg: Omit<IssuancePackage, 'kmcSignature'>, recipientPublicKey: Uint8Array): Uint8Array {
  return frame(
    LABELS.issuancePackage, pkg.version, pkg.subdomainId, pkg.userId, pkg.mode, pkg.publicKey, pkg.ephemeralPublicKey,
    pkg.nonce, pkg.ciphertext, certificateBytes(pkg), recipientPublicKey,
  );
}

function issuanceKey(provider: CryptoProvider, secretKey: Uint8Array, peer: Uint8Array, info: Uint8Array): Uint8Array {
  const shared = provider.p256Ecdh(secretKey, peer);
  try {
    return provider.hkdfSha256(shared, new Uint8Array(0), info, 32);
  } finally {
    zeroize(shared);
  }
}

/** KMC side: encrypt a private scalar to a trusted key's P-256 key-agreement key and sign the lot. */
export function sealIssuancePackage(provider: CryptoProvider, input: SealIssuanceInput): IssuancePackage {
  abytes(input.secretKey, 'issuance secret key', SCALAR_BYTES);
  if (!provider.p256.isValidPoint(abytes(input.recipientPublicKey, 'issuance recipient public key', POINT_BYTES))) {
    throw new TeeError('BAD_PARAMETERS', 'issuance recipient public key: not a valid P-256 point', 'API');
  }
  const ephemeral = provider.generateKeyPair('p256');
  const header: Header = {
    version: 1,
    subdomainId: input.subdomainId,
    userId: input.userId,
    mode: input.mode,
    publicKey: input.publicKey,
    ephemeralPublicKey: ephemeral.publicKey,
  };
  if (input.separatingCertificate) header.separatingCertificate = input.separatingCertificate;
  const key = issuanceKey(provider, ephemeral.secretKey, input.recipientPublicKey, keyInfo(header, input.recipientPublicKey));
  zeroize(ephemeral.secretKey);
  const nonce = provider.randomBytes(AEAD_NONCE_BYTES);
  const ciphertext = provider.aeadSeal(AEAD, key, nonce, input.secretKey, aad(header, input.recipientPublicKey));
  zeroize(key);
  const unsigned = { ...header, nonce, ciphertext };
  return { ...unsigned, kmcSignature: provider.sign('p256', input.kmcSecretKey, signingBytes(unsigned, input.recipientPublicKey)) };
}

export function checkIssuancePackage(value: unknown): IssuancePackage {
  const p = aobject(value, 'issuance package');
  aint(p.version, 'issuance package version', 1, 1);
  const pkg: IssuancePackage = {
    version: 1,
    subdomainId: checkId(p.subdomainId, 'issuance package subdomainId'),
    userId: checkId(p.userId, 'issuance package userId'),
    mode: aoneOf(p.mode, 'issuance package mode', CPK_MODES),
    publicKey: abytes(p.publicKey, 'issuance package publicKey', POINT_BYTES),
    ephemeralPublicKey: abytes(p.ephemeralPublicKey, 'issuance package ephemeralPublicKey', POINT_BYTES),
    nonce: abytes(p.nonce, 'issuance package nonce', AEAD_NONCE_BYTES),
    ciphertext: abytes(p.ciphertext, 'issuance package ciphertext', SCALAR_BYTES + AEAD_TAG_BYTES),
    kmcSignature: abytes(p.kmcSignature, 'issuance package kmcSignature', SIGNATURE_BYTES),
  };
  if (p.separatingCertificate !== undefined && p.separatingCertificate !== null) {
    pkg.separatingCertificate = checkSeparatingCertificate(p.separatingCertificate);
  }
  return pkg;
}

export function encodeIssuancePackage(pkg: IssuancePackage): Uint8Array {
  const p = checkIssuancePackage(pkg);
  return encode([
    p.version, p.subdomainId, p.userId, p.mode, p.publicKey, p.ephemeralPublicKey, p.nonce, p.ciphertext, p.kmcSignature,
    p.separatingCertificate ? encodeSeparatingCertificate(p.separatingCertificate) : null,
  ]);
}

export function decodeIssuancePackage(bytes: Uint8Array): IssuancePackage {
  const v = aarray(decode(bytes, MAX_PACKAGE_BYTES, 'API'), 'issuance package', 10);
  if (v.length !== 10) throw new TeeError('BAD_PARAMETERS', 'issuance package: expected 10 fields', 'API');
  const cert = v[9] === null ? undefined : decodeSeparatingCertificate(abytes(v[9], 'issuance package certificate'));
  return checkIssuancePackage({
    version: v[0], subdomainId: v[1], userId: v[2], mode: v[3], publicKey: v[4], ephemeralPublicKey: v[5],
    nonce: v[6], ciphertext: v[7], kmcSignature: v[8], separatingCertificate: cert,
  });
}

/**
 * Trusted-key side: verify, decrypt and check a package addressed to `recipientSecretKey`.
 * With `publicMatrix` (verified here against the trusted KMC key) the key is also checked against
 * the offline mapping, so a KMC bug or a swapped matrix shows up at issuance, not at the first payment.
 */
export function openIssuancePackage(
  provider: CryptoProvider,
  recipientSecretKey: Uint8Array,
  pkg: IssuancePackage | Uint8Array,
  trustedKmcPublicKey: Uint8Array,
  publicMatrix?: PublicMatrix,
): OpenedIssuance {
  const p = pkg instanceof Uint8Array ? decodeIssuancePackage(pkg) : checkIssuancePackage(pkg);
  const who = `issuance ${p.subdomainId}/${p.userId}`;
  abytes(trustedKmcPublicKey, 'trusted KMC public key', POINT_BYTES);
  const recipientPublicKey = provider.publicKeyOf('p256', abytes(recipientSecretKey, 'issuance recipient secret key', SCALAR_BYTES));

  if (!provider.verify('p256', trustedKmcPublicKey, signingBytes(p, recipientPublicKey), p.kmcSignature)) {
    throw new TeeError('SECURITY', `${who}: KMC signature does not verify for this recipient`, 'TRUSTED_KEY');
  }
  if ((p.mode === 'hardened') !== (p.separatingCertificate !== undefined)) {
    throw new TeeError('SECURITY', `${who}: separating certificate does not fit mode ${p.mode}`, 'TRUSTED_KEY');
  }
  if (p.separatingCertificate) verifySeparatingCertificate(provider, p.separatingCertificate, trustedKmcPublicKey, p.subdomainId, p.userId);

  const key = issuanceKey(provider, recipientSecretKey, p.ephemeralPublicKey, keyInfo(p, recipientPublicKey));
  let plain: Uint8Array;
  try {
    plain = provider.aeadOpen(AEAD, key, p.nonce, p.ciphertext, aad(p, recipientPublicKey));
  } catch {
    throw new TeeError('SECURITY', `${who}: ciphertext does not decrypt`, 'TRUSTED_KEY');
  } finally {
    zeroize(key);
  }
  let scalar: bigint;
  try {
    scalar = provider.p256.scalarFromBytes(plain);
  } catch {
    throw new TeeError('SECURITY', `${who}: delivered key is not a scalar in [1, n-1]`, 'TRUSTED_KEY');
  } finally {
    zeroize(plain);
  }
  const secretKey = provider.p256.scalarToBytes(scalar);
  const publicKey = provider.p256.multiplyBase(scalar);
  const fail = (step: string): never => {
    zeroize(secretKey);
    throw new TeeError('SECURITY', `${who}: ${step}`, 'TRUSTED_KEY');
  };
  if (!constantTimeEqual(publicKey, p.publicKey)) fail('delivered key does not match the signed public key');

  if (publicMatrix) {
    let mapped: Uint8Array;
    try {
      verifyPublicMatrix(provider, publicMatrix, trustedKmcPublicKey);
      if (publicMatrix.mode !== p.mode) fail('public matrix mode differs from the package mode');
      mapped = p.separatingCertificate
        ? mapHardenedPublicKey(provider, publicMatrix, p.subdomainId, p.userId, p.separatingCertificate)
        : mapPublicKey(provider, publicMatrix, p.subdomainId, p.userId);
    } catch (err) {
      zeroize(secretKey);
      throw err;
    }
    if (!constantTimeEqual(publicKey, mapped)) fail('delivered key does not match the public mapping');
  }

  const opened: OpenedIssuance = { subdomainId: p.subdomainId, userId: p.userId, mode: p.mode, secretKey, publicKey };
  if (p.separatingCertificate) {
    opened.separatingCertificate = p.separatingCertificate;
    opened.certificate = encodeSeparatingCertificate(p.separatingCertificate);
  }
  return opened;
}
