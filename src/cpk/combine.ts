/**
 * The core of every CPK mapping: the points an identity selects from a public matrix, and their
 * sum with the degenerate case (the point at infinity) turned into a SECURITY error.
 */
import { TeeError } from '../common/errors.js';
import type { CryptoProvider } from '../crypto/provider.js';
import { checkId } from './encoding.js';
import type { PublicMatrix } from './matrix.js';
import { selectIndices } from './select.js';

/** R[indices[j]][j] for every column j. A different subdomain's matrix is refused outright. */
export function selectedPoints(provider: CryptoProvider, matrix: PublicMatrix, subdomainId: string, userId: string): Uint8Array[] {
  checkId(subdomainId, 'cpk subdomainId');
  checkId(userId, 'cpk userId');
  if (subdomainId !== matrix.subdomainId) {
    throw new TeeError('BAD_PARAMETERS', `cpk map: identity of subdomain ${subdomainId} given the matrix of ${matrix.subdomainId}`, 'API');
  }
  if (!Array.isArray(matrix.points) || matrix.points.length !== matrix.rows * matrix.cols) {
    throw new TeeError('BAD_PARAMETERS', 'cpk map: public matrix has the wrong number of points', 'API');
  }
  const indices = selectIndices(provider, subdomainId, userId, matrix.rows, matrix.cols);
  return indices.map((row, col) => matrix.points[row * matrix.cols + col]!);
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
