/**
 * Set commitment: a keyed additive multiset hash (MSet-Add-Hash, Clarke et al. 2003).
 *
 * Each stored record (LevelDB key, value) maps to element = HMAC(elementKey, key || value); the
 * commitment is the sum of the elements mod 2^256. Adding, replacing or removing one record costs
 * one HMAC and a 32-byte addition, never a pass over the whole store, yet the commitment pins the
 * exact set of records: without elementKey the REE can neither compute an element nor find another
 * set with the same sum.
 *
 * Guarantees: integrity of the whole set of records, given that the commitment itself is
 * authenticated (the state record MACs it). Does not give freshness: an old set with its old state
 * record is consistent too; the rollback anchor catches that.
 */
import { concatBytes } from '../common/bytes.js';
import type { CryptoProvider } from '../crypto/provider.js';

export const COMMITMENT_BYTES = 32;

export function emptyCommitment(): Uint8Array {
  return new Uint8Array(COMMITMENT_BYTES);
}

/** The element of one record. The key has a fixed length, so key || value is unambiguous. */
export function recordElement(provider: CryptoProvider, elementKey: Uint8Array, levelKey: Uint8Array, value: Uint8Array): Uint8Array {
  return provider.hmacSha256(elementKey, concatBytes(levelKey, value));
}

/** The same element, from key || value already in one buffer (a freshly sealed record). */
export function keyedRecordElement(provider: CryptoProvider, elementKey: Uint8Array, keyAndValue: Uint8Array): Uint8Array {
  return provider.hmacSha256(elementKey, keyAndValue);
}

/** target[offset..offset+32] += element mod 2^256 (big-endian), in place. */
export function addInto(target: Uint8Array, offset: number, element: Uint8Array): void {
  let carry = 0;
  for (let i = COMMITMENT_BYTES - 1; i >= 0; i--) {
    const v = target[offset + i]! + element[i]! + carry;
    target[offset + i] = v & 0xff;
    carry = v >> 8;
  }
}

/** target[offset..offset+32] -= element mod 2^256 (big-endian), in place. */
export function subtractInto(target: Uint8Array, offset: number, element: Uint8Array): void {
  let borrow = 0;
  for (let i = COMMITMENT_BYTES - 1; i >= 0; i--) {
    let v = target[offset + i]! - element[i]! - borrow;
    borrow = v < 0 ? 1 : 0;
    if (v < 0) v += 256;
    target[offset + i] = v;
  }
}

/** a + b mod 2^256 (big-endian), as a new array. */
export function addElement(sum: Uint8Array, element: Uint8Array): Uint8Array {
  const out = new Uint8Array(sum);
  addInto(out, 0, element);
  return out;
}

/** a - b mod 2^256 (big-endian), as a new array. */
export function subtractElement(sum: Uint8Array, element: Uint8Array): Uint8Array {
  const out = new Uint8Array(sum);
  subtractInto(out, 0, element);
  return out;
}
