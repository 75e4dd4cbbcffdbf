/**
 * The LevelDB key space, which the REE sees in full:
 *
 *   [0x00]                                   the state record (one per store)
 *   [0x01] || namespace tag (16) || HMAC(idKey, id) (32)   one object record
 *
 * Keys reveal which records share a namespace and how many there are, never a name or an id.
 * Anything else in the database is foreign and makes open fail.
 */
import { NAMESPACE_TAG_BYTES } from './keys.js';

export const STATE_KEY = new Uint8Array([0x00]);
export const OBJECT_KEY_PREFIX = 0x01;
export const ID_TAG_BYTES = 32;
export const OBJECT_KEY_BYTES = 1 + NAMESPACE_TAG_BYTES + ID_TAG_BYTES;

export function isStateKey(key: Uint8Array): boolean {
  return key.length === 1 && key[0] === STATE_KEY[0];
}

export function isObjectKey(key: Uint8Array): boolean {
  return key.length === OBJECT_KEY_BYTES && key[0] === OBJECT_KEY_PREFIX;
}

export function objectKeyOf(namespaceTag: Uint8Array, idTag: Uint8Array): Uint8Array {
  const key = new Uint8Array(OBJECT_KEY_BYTES);
  key[0] = OBJECT_KEY_PREFIX;
  key.set(namespaceTag, 1);
  key.set(idTag.subarray(0, ID_TAG_BYTES), 1 + NAMESPACE_TAG_BYTES);
  return key;
}

/** Iterator bounds covering exactly one namespace's object keys. */
export function namespaceRange(namespaceTag: Uint8Array): { gte: Uint8Array; lt: Uint8Array } {
  const gte = new Uint8Array(1 + NAMESPACE_TAG_BYTES);
  gte[0] = OBJECT_KEY_PREFIX;
  gte.set(namespaceTag, 1);
  // Every key in the range is 49 bytes, so prefix || 0xff * 33 sorts after all of them.
  const lt = new Uint8Array(OBJECT_KEY_BYTES + 1).fill(0xff);
  lt.set(gte, 0);
  return { gte, lt };
}

/** A Map key for a LevelDB key (latin1 keeps one char per byte). */
export function keyString(key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('latin1');
}
