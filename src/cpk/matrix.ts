/**
 * The public matrix of one subdomain: R[i][j] = r[i][j]·G as compressed points, row-major, signed
 * by the KMC. Whoever holds it (and trusts the KMC key) maps any identity to its public key offline.
 *
 * Wire form (msgpack): [version, subdomainId, rows, cols, mode, points (rows*cols*33 bytes
 * concatenated), kmcPublicKey, signature]. The KMC signs `publicMatrixSigningBytes`, a framed
 * encoding of every field but the signature, so no field can be changed or moved.
 *
 * `decodePublicMatrix` checks the shape only (BAD_PARAMETERS); `verifyPublicMatrix` checks that the
 * matrix comes from the trusted KMC (SECURITY). Verify once when a matrix is admitted, then map freely.
 */
import { concatBytes, constantTimeEqual } from '../common/bytes.js';
import { aarray, abytes, aint, aobject, aoneOf } from '../common/checks.js';
import { decode, encode } from '../common/codec.js';
import { TeeError } from '../common/errors.js';
import type { CryptoProvider } from '../crypto/provider.js';
import { CPK_MODES, LABELS, POINT_BYTES, SIGNATURE_BYTES, checkId, checkShape, frame, type CpkMode } from './encoding.js';

export interface PublicMatrix {
  version: 1;
  subdomainId: string;
  rows: number;
  cols: number;
  mode: CpkMode;
  /** rows*cols compressed P-256 points, row-major: points[i * cols + j] = R[i][j]. */
  points: Uint8Array[];
  /** The KMC's P-256 signing key, compressed. */
  kmcPublicKey: Uint8Array;
  /** KMC signature over `publicMatrixSigningBytes`. */
  signature: Uint8Array;
}

export type UnsignedPublicMatrix = Omit<PublicMatrix, 'signature'>;

/** The point R[row][col]. */
export function matrixPoint(matrix: PublicMatrix, row: number, col: number): Uint8Array {
  return matrix.points[row * matrix.cols + col]!;
}

export function publicMatrixSigningBytes(matrix: UnsignedPublicMatrix): Uint8Array {
  return frame(
    LABELS.publicMatrix, matrix.version, matrix.subdomainId, matrix.rows, matrix.cols, matrix.mode,
    concatBytes(...matrix.points), matrix.kmcPublicKey,
  );
}

/** Sign an unsigned matrix with the KMC key (used by the KMC and the vector generator). */
export function signPublicMatrix(provider: CryptoProvider, kmcSecretKey: Uint8Array, unsigned: UnsignedPublicMatrix): PublicMatrix {
  return { ...unsigned, signature: provider.sign('p256', kmcSecretKey, publicMatrixSigningBytes(unsigned)) };
}

function checkPoint(value: unknown, title: string): Uint8Array {
  const p = abytes(value, title, POINT_BYTES);
  if (p[0] !== 0x02 && p[0] !== 0x03) throw new TeeError('BAD_PARAMETERS', `${title}: expected a compressed point`, 'API');
  return p;
}

/** Validate the shape of a matrix from anywhere (decoded bytes or a caller's object). */
export function checkPublicMatrix(value: unknown): PublicMatrix {
  const m = aobject(value, 'public matrix');
  aint(m.version, 'public matrix version', 1, 1);
  const subdomainId = checkId(m.subdomainId, 'public matrix subdomainId');
  const { rows, cols } = checkShape(m.rows, m.cols);
  const mode = aoneOf(m.mode, 'public matrix mode', CPK_MODES);
  const points = aarray(m.points, 'public matrix points', rows * cols);
  if (points.length !== rows * cols) throw new TeeError('BAD_PARAMETERS', `public matrix points: expected ${rows * cols}, got ${points.length}`, 'API');
  return {
    version: 1,
    subdomainId,
    rows,
    cols,
    mode,
    points: points.map((p, k) => checkPoint(p, `public matrix point ${k}`)),
    kmcPublicKey: checkPoint(m.kmcPublicKey, 'public matrix kmcPublicKey'),
    signature: abytes(m.signature, 'public matrix signature', SIGNATURE_BYTES),
  };
}

export function encodePublicMatrix(matrix: PublicMatrix): Uint8Array {
  const m = checkPublicMatrix(matrix);
  return encode([m.version, m.subdomainId, m.rows, m.cols, m.mode, concatBytes(...m.points), m.kmcPublicKey, m.signature]);
}

export function decodePublicMatrix(bytes: Uint8Array): PublicMatrix {
  const v = aarray(decode(bytes, undefined, 'API'), 'public matrix', 8);
  if (v.length !== 8) throw new TeeError('BAD_PARAMETERS', 'public matrix: expected 8 fields', 'API');
  const { rows, cols } = checkShape(v[2], v[3]);
  const flat = abytes(v[5], 'public matrix points', rows * cols * POINT_BYTES);
  const points: Uint8Array[] = [];
  for (let k = 0; k < rows * cols; k++) points.push(flat.slice(k * POINT_BYTES, (k + 1) * POINT_BYTES));
  return checkPublicMatrix({ version: v[0], subdomainId: v[1], rows, cols, mode: v[4], points, kmcPublicKey: v[6], signature: v[7] });
}

/**
 * Throw SECURITY unless the matrix names the trusted KMC key and carries its valid signature.
 * Only the signature vouches for the points: decode does not check that they lie on the curve.
 */
export function verifyPublicMatrix(provider: CryptoProvider, matrix: PublicMatrix, trustedKmcPublicKey: Uint8Array): void {
  const m = checkPublicMatrix(matrix);
  abytes(trustedKmcPublicKey, 'trusted KMC public key', POINT_BYTES);
  if (!constantTimeEqual(m.kmcPublicKey, trustedKmcPublicKey)) {
    throw new TeeError('SECURITY', `public matrix ${m.subdomainId}: signed by an untrusted KMC key`, 'API');
  }
  if (!provider.verify('p256', trustedKmcPublicKey, publicMatrixSigningBytes(m), m.signature)) {
    throw new TeeError('SECURITY', `public matrix ${m.subdomainId}: KMC signature does not verify`, 'API');
  }
}
