/**
 * The core of every CPK mapping: the points an identity selects from a public matrix, and their
 * sum with the degenerate case (the point at infinity) turned into a SECURITY error.
 */
import { TeeError } from '../common/errors.js';
import type { CryptoProvider, P256Arithmetic, P256PointSet } from '../crypto/provider.js';
import { checkId } from './encoding.js';
import type { PublicMatrix } from './matrix.js';
import { selectIndices } from './select.js';

/** Flat indices (row * cols + col) of the points an identity selects, after the same checks. */
function selectedIndices(provider: CryptoProvider, matrix: PublicMatrix, subdomainId: string, userId: string): number[] {
  checkId(subdomainId, 'cpk subdomainId');
  checkId(userId, 'cpk userId');
  if (subdomainId !== matrix.subdomainId) {
    throw new TeeError('BAD_PARAMETERS', `cpk map: identity of subdomain ${subdomainId} given the matrix of ${matrix.subdomainId}`, 'API');
  }
  if (!Array.isArray(matrix.points) || matrix.points.length !== matrix.rows * matrix.cols) {
    throw new TeeError('BAD_PARAMETERS', 'cpk map: public matrix has the wrong number of points', 'API');
  }
  const indices = selectIndices(provider, subdomainId, userId, matrix.rows, matrix.cols);
  return indices.map((row, col) => row * matrix.cols + col);
}

/** R[indices[j]][j] for every column j. A different subdomain's matrix is refused outright. */
export function selectedPoints(provider: CryptoProvider, matrix: PublicMatrix, subdomainId: string, userId: string): Uint8Array[] {
  return selectedIndices(provider, matrix, subdomainId, userId).map((i) => matrix.points[i]!);
}

/**
 * Decoded matrices, per matrix object: a mapping then adds already-decompressed points instead of
 * decompressing 32 (90% of a mapping's cost). The set is used only for the provider arithmetic that
 * prepared it, the same points array, and selected points whose bytes still equal the copies taken
 * when it was prepared; anything else takes the plain path, so a changed matrix behaves as before.
 */
interface Prepared {
  readonly arithmetic: P256Arithmetic;
  readonly points: readonly Uint8Array[];
  readonly copies: readonly Uint8Array[];
  readonly set: P256PointSet;
}
const prepared = new WeakMap<PublicMatrix, Prepared | null>();

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function preparedFor(provider: CryptoProvider, matrix: PublicMatrix): Prepared | null {
  const hit = prepared.get(matrix);
  if (hit && hit.arithmetic === provider.p256 && hit.points === matrix.points) return hit;
  if (hit === null) return null;
  let entry: Prepared | null = null;
  const { preparePoints, addPrepared } = provider.p256;
  if (preparePoints && addPrepared && matrix.points.every((p) => p instanceof Uint8Array)) {
    try {
      entry = { arithmetic: provider.p256, points: matrix.points, copies: matrix.points.map((p) => new Uint8Array(p)), set: preparePoints.call(provider.p256, matrix.points) };
    } catch {
      entry = null;
    }
  }
  prepared.set(matrix, entry);
  return entry;
}

/** The sum of the points (subdomainId, userId) selects: `sumPoints(selectedPoints(...))`, faster. */
export function sumSelectedPoints(provider: CryptoProvider, matrix: PublicMatrix, subdomainId: string, userId: string, step: string): Uint8Array {
  const indices = selectedIndices(provider, matrix, subdomainId, userId);
  const entry = preparedFor(provider, matrix);
  if (!entry || !indices.every((i) => sameBytes(matrix.points[i]!, entry.copies[i]!))) {
    return sumPoints(provider, indices.map((i) => matrix.points[i]!), step);
  }
  try {
    return entry.arithmetic.addPrepared!(entry.set, indices);
  } catch (err) {
    if (err instanceof TeeError && err.code === 'SECURITY') throw new TeeError('SECURITY', `${step}: public key sum is the point at infinity`, 'API');
    throw new TeeError('BAD_PARAMETERS', `${step}: a point is not on P-256`, 'API');
  }
}

/** Sum of points; infinity -> SECURITY, an invalid point -> BAD_PARAMETERS, each naming `step`. */
export function sumPoints(provider: CryptoProvider, points: readonly Uint8Array[], step: string): Uint8Array {
  try {
    return provider.p256.addPoints(points);
  } catch (err) {
    if (err instanceof TeeError && err.code === 'SECURITY') throw new TeeError('SECURITY', `${step}: public key sum is the point at infinity`, 'API');
    throw new TeeError('BAD_PARAMETERS', `${step}: a point is not on P-256`, 'API');
  }
}
