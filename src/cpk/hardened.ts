/**
 * Hardened mode: a per-user separating key against collusion.
 *
 * Plain CPK keys are 0/1 combinations of the matrix scalars, so enough colluders solve for an
 * equivalent matrix (see ./collusion.ts). In hardened mode the KMC draws a fresh random scalar s_u
 * at issuance; the user's private key is cpkKey + s_u mod n, and the KMC certifies S_u = s_u·G:
 *
 *   SeparatingCertificate = (subdomainId, userId, S_u) signed by the KMC key of the matrix.
 *
 * The public key is mapPublicKey(...) + S_u, computed by anyone holding the matrix and the user's
 * certificate (which the user presents along with a signature). Each key now carries its own
 * unknown s_u, so k colluding keys give k equations in rows·cols + k unknowns: the system never
 * closes, and a victim's key stays out of reach. The cost: the certificate must travel with the ID,
 * so mapping is no longer from the ID alone.
 *
 * Wire form of a certificate (msgpack): [version, subdomainId, userId, separatingPublicKey, signature].
 */
import { abytes, aarray, aint } from '../common/checks.js';
import { decode, encode } from '../common/codec.js';
import { TeeError } from '../common/errors.js';
import type { CryptoProvider } from '../crypto/provider.js';
import { selectedPoints, sumPoints } from './combine.js';
import { LABELS, POINT_BYTES, SIGNATURE_BYTES, checkId, frame, randomScalar } from './encoding.js';
import type { PublicMatrix } from './matrix.js';

export interface SeparatingCertificate {
  version: 1;
  subdomainId: string;
  userId: string;
  /** S_u = s_u·G, compressed. */
  separatingPublicKey: Uint8Array;
  /** KMC signature over `separatingCertificateSigningBytes`. */
  signature: Uint8Array;
}

/** Largest encoded certificate accepted (ids of 64 characters give about 180 bytes). */
export const MAX_CERTIFICATE_BYTES = 512;

export function separatingCertificateSigningBytes(c: Omit<SeparatingCertificate, 'signature'>): Uint8Array {
  return frame(LABELS.separatingCertificate, c.version, c.subdomainId, c.userId, c.separatingPublicKey);
}

export function checkSeparatingCertificate(value: unknown): SeparatingCertificate {
  if (typeof value !== 'object' || value === null) throw new TeeError('BAD_PARAMETERS', 'separating certificate: expected an object', 'API');
  const c = value as Record<string, unknown>;
  aint(c.version, 'separating certificate version', 1, 1);
  return {
    version: 1,
    subdomainId: checkId(c.subdomainId, 'separating certificate subdomainId'),
    userId: checkId(c.userId, 'separating certificate userId'),
    separatingPublicKey: abytes(c.separatingPublicKey, 'separating certificate key', POINT_BYTES),
    signature: abytes(c.signature, 'separating certificate signature', SIGNATURE_BYTES),
  };
}

export function encodeSeparatingCertificate(certificate: SeparatingCertificate): Uint8Array {
  const c = checkSeparatingCertificate(certificate);
  return encode([c.version, c.subdomainId, c.userId, c.separatingPublicKey, c.signature]);
}

export function decodeSeparatingCertificate(bytes: Uint8Array): SeparatingCertificate {
  const v = aarray(decode(bytes, MAX_CERTIFICATE_BYTES, 'API'), 'separating certificate', 5);
  if (v.length !== 5) throw new TeeError('BAD_PARAMETERS', 'separating certificate: expected 5 fields', 'API');
  return checkSeparatingCertificate({ version: v[0], subdomainId: v[1], userId: v[2], separatingPublicKey: v[3], signature: v[4] });
}

/** KMC side: a fresh separating scalar s_u for one user (to add into the key) and its certificate. */
export function issueSeparatingKey(
  provider: CryptoProvider, kmcSecretKey: Uint8Array, subdomainId: string, userId: string,
): { scalar: bigint; certificate: SeparatingCertificate } {
  const scalar = randomScalar(provider);
  const unsigned = { version: 1 as const, subdomainId, userId, separatingPublicKey: provider.p256.multiplyBase(scalar) };
  const signature = provider.sign('p256', kmcSecretKey, separatingCertificateSigningBytes(unsigned));
  return { scalar, certificate: { ...unsigned, signature } };
}

/** Throw SECURITY unless the certificate is the KMC's, for exactly this identity. */
export function verifySeparatingCertificate(
  provider: CryptoProvider, certificate: SeparatingCertificate | Uint8Array, kmcPublicKey: Uint8Array, subdomainId: string, userId: string,
): SeparatingCertificate {
  const c = certificate instanceof Uint8Array ? decodeSeparatingCertificate(certificate) : checkSeparatingCertificate(certificate);
  if (c.subdomainId !== subdomainId || c.userId !== userId) {
    throw new TeeError('SECURITY', `separating certificate: issued for another identity than ${subdomainId}/${userId}`, 'API');
  }
  if (!provider.verify('p256', kmcPublicKey, separatingCertificateSigningBytes(c), c.signature)) {
    throw new TeeError('SECURITY', `separating certificate ${subdomainId}/${userId}: KMC signature does not verify`, 'API');
  }
  return c;
}

/**
 * The public key of (subdomainId, userId) in a hardened subdomain: the selected points plus S_u,
 * after verifying the certificate with the matrix's KMC key (verify the matrix itself first).
 */
export function mapHardenedPublicKey(
  provider: CryptoProvider, matrix: PublicMatrix, subdomainId: string, userId: string, certificate: SeparatingCertificate | Uint8Array,
): Uint8Array {
  if (matrix.mode !== 'hardened') {
    throw new TeeError('BAD_PARAMETERS', `cpk map: subdomain ${matrix.subdomainId} is plain, use mapPublicKey`, 'API');
  }
  const points = selectedPoints(provider, matrix, subdomainId, userId);
  const c = verifySeparatingCertificate(provider, certificate, matrix.kmcPublicKey, subdomainId, userId);
  return sumPoints(provider, [...points, c.separatingPublicKey], `cpk hardened map ${subdomainId}/${userId}`);
}
