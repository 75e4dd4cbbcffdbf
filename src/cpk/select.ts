/**
 * Identity -> matrix positions. An identity (subdomainId, userId) picks one row in every column
 * from a domain-separated SHA-256 stream:
 *
 *   block_k = SHA-256(frame(label, rows, cols, subdomainId, userId, k))   for k = 0, 1, 2, ...
 *
 * read as 16-bit big-endian draws. Each draw is masked to the fewest bits that cover `rows` and
 * redrawn if it is >= rows (rejection sampling), so every row is equally likely and there is no
 * modulo bias. Binding rows and cols into the hash keeps matrices of different shapes apart.
 */
import { concatBytes, u32be } from '../common/bytes.js';
import { TeeError } from '../common/errors.js';
import type { CryptoProvider } from '../crypto/provider.js';
import { LABELS, checkId, checkShape, field, frame } from './encoding.js';

/** Far beyond any real need (each draw is accepted with probability > 1/2): only a guard. */
const MAX_BLOCKS = 1 << 16;

export function selectIndices(provider: CryptoProvider, subdomainId: string, userId: string, rows: number, cols: number): number[] {
  checkId(subdomainId, 'cpk subdomainId');
  checkId(userId, 'cpk userId');
  checkShape(rows, cols);
  const prefix = frame(LABELS.select, rows, cols, subdomainId, userId);
  const bits = Math.ceil(Math.log2(rows));
  const mask = (1 << bits) - 1;
  const indices: number[] = [];
  let block: Uint8Array = new Uint8Array(0);
  let offset = 0;
  let counter = 0;
  while (indices.length < cols) {
    if (offset + 2 > block.length) {
      if (counter >= MAX_BLOCKS) throw new TeeError('SECURITY', 'cpk select: hash stream exhausted', 'API');
      block = provider.sha256(concatBytes(prefix, field(u32be(counter++))));
      offset = 0;
    }
    const draw = ((block[offset]! << 8) | block[offset + 1]!) & mask;
    offset += 2;
    if (draw < rows) indices.push(draw);
  }
  return indices;
}
