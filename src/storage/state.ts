/**
 * The state record: one authenticated summary of the whole store, rewritten in the same atomic
 * LevelDB batch as every object change.
 *
 *   value = format (1) || generation (u64 BE) || tag (32)
 *   tag   = commitment + mask(generation)   (mod 2^256)
 *   mask  = HMAC(stateKey, 'tee-sim/storage-internal/v1/state-mask' || generation)
 *
 * This is a Carter-Wegman MAC: the keyed multiset hash of the record set (./commitment.ts) masked
 * with a PRF of a value used once, the generation. The commitment is never stored; open recomputes
 * it from the records, so the tag verifies only if the records are exactly the set it was written
 * with. The mask hides every commitment from the REE, and since it does not depend on the records,
 * the engine computes the next generation's mask while LevelDB writes the current batch.
 * The engine never tags two record sets with one generation in one process (a failed batch stops
 * the store until it is reopened from what is on disk).
 *
 * Guarantees: the generation and the record set belong together and were written by the holder of
 * the store keys. Does not guarantee freshness: that is the rollback anchor's job (./counter.ts).
 */
import { concatBytes, constantTimeEqual, u64be, utf8 } from '../common/bytes.js';
import { TeeError } from '../common/errors.js';
import type { CryptoProvider } from '../crypto/provider.js';
import { addElement } from './commitment.js';

const STATE_FORMAT_V1 = 0x01;
const STATE_BYTES = 1 + 8 + 32;
const MASK_DOMAIN = utf8('tee-sim/storage-internal/v1/state-mask');

export function stateMask(provider: CryptoProvider, stateKey: Uint8Array, generation: number): Uint8Array {
  return provider.hmacSha256(stateKey, concatBytes(MASK_DOMAIN, u64be(BigInt(generation))));
}

export function encodeState(generation: number, commitment: Uint8Array, mask: Uint8Array): Uint8Array {
  const out = new Uint8Array(STATE_BYTES);
  out[0] = STATE_FORMAT_V1;
  new DataView(out.buffer).setBigUint64(1, BigInt(generation));
  out.set(addElement(commitment, mask), 9);
  return out;
}

/**
 * Check a stored state record against the commitment recomputed from the records, and return its
 * generation. Throws CORRUPT_OBJECT if they disagree.
 */
export function verifyState(provider: CryptoProvider, stateKey: Uint8Array, value: Uint8Array, commitment: Uint8Array): number {
  if (value.length !== STATE_BYTES || value[0] !== STATE_FORMAT_V1) {
    throw new TeeError('CORRUPT_OBJECT', 'open: state record is malformed');
  }
  const generation = new DataView(value.buffer, value.byteOffset, value.byteLength).getBigUint64(1);
  if (generation < 1n || generation > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new TeeError('CORRUPT_OBJECT', 'open: state generation out of range');
  }
  const expected = encodeState(Number(generation), commitment, stateMask(provider, stateKey, Number(generation)));
  if (!constantTimeEqual(expected, value)) {
    throw new TeeError('CORRUPT_OBJECT', 'open: stored objects do not match the authenticated state (tampered or restored)');
  }
  return Number(generation);
}
