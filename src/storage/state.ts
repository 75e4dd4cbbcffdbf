/**
 * The state record: one authenticated summary of the whole store, rewritten in the same atomic
 * LevelDB batch as every object change.
 *
 *   value = format (1) || generation (u64 BE) || tag (32)
 *   tag   = commitment + mask(generation)   (mod 2^256)
 *   mask  = v2: PRF(stateKey, generation), computed 64 generations per call (./prf.ts)
 *           v1 (read only): HMAC(stateKey, 'tee-sim/storage-internal/v1/state-mask' || generation)
 *
 * This is a Carter-Wegman MAC: the keyed multiset hash of the record set (./commitment.ts) masked
 * with a PRF of a value used once, the generation. The commitment is never stored; open recomputes
 * it from the records, so the tag verifies only if the records are exactly the set it was written
 * with. The mask hides every commitment from the REE, and since it does not depend on the records,
 * masks are computed ahead in blocks. Version 2 changed only how the mask is computed (one HMAC per
 * write was a measurable part of a small put); a v1 record still verifies, and the next write
 * replaces it with a v2 one. The engine never tags two record sets with one generation in one
 * process (a failed batch stops the store until it is reopened from what is on disk).
 *
 * Guarantees: the generation and the record set belong together and were written by the holder of
 * the store keys. Does not guarantee freshness: that is the rollback anchor's job (./counter.ts).
 */
import { concatBytes, constantTimeEqual, u64be, utf8, writeU64be } from '../common/bytes.js';
import { TeeError } from '../common/errors.js';
import type { CryptoProvider } from '../crypto/provider.js';
import { addInto } from './commitment.js';
import { GenerationPrf } from './prf.js';

const STATE_FORMAT_V1 = 0x01;
const STATE_FORMAT_V2 = 0x02;
const STATE_BYTES = 1 + 8 + 32;
const MASK_DOMAIN_V1 = utf8('tee-sim/storage-internal/v1/state-mask');
const MASK_SALT_V2 = utf8('tee-sim/storage-internal/v2/state-mask-salt');
const MASK_DOMAIN_V2 = utf8('tee-sim/storage-internal/v2/state-mask');

/** The v2 masks of a store; the caller keeps stateKey alive while it uses them, and clears them on close. */
export function stateMasks(provider: CryptoProvider, stateKey: Uint8Array): GenerationPrf {
  return new GenerationPrf(provider, stateKey, MASK_SALT_V2, MASK_DOMAIN_V2);
}

function stateMaskV1(provider: CryptoProvider, stateKey: Uint8Array, generation: number): Uint8Array {
  return provider.hmacSha256(stateKey, concatBytes(MASK_DOMAIN_V1, u64be(BigInt(generation))));
}

function header(format: number, generation: number): Uint8Array {
  const out = new Uint8Array(STATE_BYTES);
  out[0] = format;
  writeU64be(out, 1, generation);
  return out;
}

function encode(format: number, generation: number, commitment: Uint8Array, mask: Uint8Array): Uint8Array {
  const out = header(format, generation);
  out.set(mask, 9);
  addInto(out, 9, commitment);
  mask.fill(0);
  return out;
}

/** A v2 state record for `generation`. */
export function encodeState(masks: GenerationPrf, generation: number, commitment: Uint8Array): Uint8Array {
  // The tag is summed in place: no copy of the mask, no intermediate sum (this runs on every put).
  const out = header(STATE_FORMAT_V2, generation);
  masks.copyInto(generation, out, 9);
  addInto(out, 9, commitment);
  return out;
}

/**
 * Check a stored state record against the commitment recomputed from the records, and return its
 * generation. Throws CORRUPT_OBJECT if they disagree.
 */
export function verifyState(provider: CryptoProvider, stateKey: Uint8Array, masks: GenerationPrf, value: Uint8Array, commitment: Uint8Array): number {
  if (value.length !== STATE_BYTES || (value[0] !== STATE_FORMAT_V1 && value[0] !== STATE_FORMAT_V2)) {
    throw new TeeError('CORRUPT_OBJECT', 'open: state record is malformed');
  }
  const generation = new DataView(value.buffer, value.byteOffset, value.byteLength).getBigUint64(1);
  if (generation < 1n || generation > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new TeeError('CORRUPT_OBJECT', 'open: state generation out of range');
  }
  const g = Number(generation);
  const mask = value[0] === STATE_FORMAT_V1 ? stateMaskV1(provider, stateKey, g) : masks.value(g);
  const expected = encode(value[0]!, g, commitment, mask);
  if (!constantTimeEqual(expected, value)) {
    throw new TeeError('CORRUPT_OBJECT', 'open: stored objects do not match the authenticated state (tampered or restored)');
  }
  return Number(generation);
}
