/**
 * The state record: one authenticated summary of the whole store, rewritten in the same atomic
 * LevelDB batch as every object change.
 *
 *   value = format (1) || generation (u64 BE) || object count (u64 BE) || MAC (32)
 *   MAC   = HMAC(stateKey, 'tee-sim/storage-internal/v1/state' || format || generation || count || commitment)
 *
 * The commitment (see ./commitment.ts) is not stored: open recomputes it from the records, so the
 * MAC verifies only if the records are exactly the set it was written with, and the REE learns
 * nothing about the secret-keyed elements.
 *
 * Guarantees: the generation and the record set belong together and were written by the holder of
 * the store keys. Does not guarantee freshness: that is the rollback anchor's job (./counter.ts).
 */
import { concatBytes, constantTimeEqual, u64be, utf8 } from '../common/bytes.js';
import { TeeError } from '../common/errors.js';
import type { CryptoProvider } from '../crypto/provider.js';

const STATE_FORMAT_V1 = 0x01;
const STATE_BYTES = 1 + 8 + 8 + 32;
const MAC_DOMAIN = utf8('tee-sim/storage-internal/v1/state');

export interface StoreState {
  generation: number;
  count: number;
  commitment: Uint8Array;
}

function mac(provider: CryptoProvider, stateKey: Uint8Array, state: StoreState): Uint8Array {
  return provider.hmacSha256(
    stateKey,
    concatBytes(MAC_DOMAIN, Uint8Array.of(STATE_FORMAT_V1), u64be(BigInt(state.generation)), u64be(BigInt(state.count)), state.commitment),
  );
}

export function encodeState(provider: CryptoProvider, stateKey: Uint8Array, state: StoreState): Uint8Array {
  return concatBytes(
    Uint8Array.of(STATE_FORMAT_V1),
    u64be(BigInt(state.generation)),
    u64be(BigInt(state.count)),
    mac(provider, stateKey, state),
  );
}

/**
 * Check a stored state record against the count and commitment recomputed from the records, and
 * return its generation. Throws CORRUPT_OBJECT if anything disagrees.
 */
export function verifyState(
  provider: CryptoProvider,
  stateKey: Uint8Array,
  value: Uint8Array,
  recomputed: { count: number; commitment: Uint8Array },
): number {
  if (value.length !== STATE_BYTES || value[0] !== STATE_FORMAT_V1) {
    throw new TeeError('CORRUPT_OBJECT', 'open: state record is malformed');
  }
  const view = new DataView(value.buffer, value.byteOffset, value.byteLength);
  const generation = view.getBigUint64(1);
  const count = view.getBigUint64(9);
  if (generation > BigInt(Number.MAX_SAFE_INTEGER) || count !== BigInt(recomputed.count)) {
    throw new TeeError('CORRUPT_OBJECT', 'open: stored objects do not match the authenticated state');
  }
  const state: StoreState = { generation: Number(generation), count: recomputed.count, commitment: recomputed.commitment };
  if (!constantTimeEqual(mac(provider, stateKey, state), value.subarray(17))) {
    throw new TeeError('CORRUPT_OBJECT', 'open: stored objects do not match the authenticated state (tampered or restored)');
  }
  return state.generation;
}
