/**
 * Object records: one object sealed with ChaCha20-Poly1305 (through the provider) under its
 * namespace's key.
 *
 *   value     = format (1) || version (u64 BE, 8) || nonce (12) || ciphertext || tag (16)
 *   plaintext = id length (u16 BE) || id (UTF-8) || data
 *   AAD       = 'tee-sim/storage/v1/object' || format || version || LevelDB key
 *
 * The LevelDB key is namespace tag || HMAC(idKey, id), so the AAD binds the namespace and the id
 * (and the namespace key binds the namespace again); the id inside the plaintext is checked
 * against the key after decryption, which lets `list` recover ids it does not yet know.
 * Nonces are random (96 bits): safe far beyond any realistic number of writes per key.
 *
 * Guarantees: confidentiality of id and data; integrity of one record and its binding to its slot
 * (namespace, id) and version: a record moved to another slot, or a version edited, fails to open.
 * Does not guarantee freshness: an older record of the same slot opens under its own old version;
 * the caller must compare the version with the authenticated index.
 */
import { writeU64be } from '../common/bytes.js';
import { TeeError } from '../common/errors.js';
import { AEAD_NONCE_BYTES, AEAD_TAG_BYTES, type CryptoProvider } from '../crypto/provider.js';
import { objectKeyOf } from './layout.js';
import type { NamespaceKeys } from './keys.js';

export const RECORD_FORMAT_V1 = 0x01;
const AEAD = 'chacha20-poly1305';
const HEADER_BYTES = 1 + 8;
const MIN_RECORD_BYTES = HEADER_BYTES + AEAD_NONCE_BYTES + 2 + AEAD_TAG_BYTES;
// One encoder and decoder for the module: creating them per call is a measurable part of a get.
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });
const AAD_DOMAIN = encoder.encode('tee-sim/storage/v1/object');

export function objectKey(provider: CryptoProvider, keys: NamespaceKeys, id: string): Uint8Array {
  return objectKeyOf(keys.tag, provider.hmacSha256(keys.idKey, encoder.encode(id)));
}

/** The plaintext of a record; built before the write is queued, so it snapshots the caller's data. */
export function encodePlaintext(id: string, data: Uint8Array): Uint8Array {
  // The id is encoded in place: one array per put, not an encoded copy of the id as well; an
  // ASCII id (the usual kind) byte by byte, anything else through the encoder.
  let ascii = true;
  for (let i = 0; i < id.length; i++) {
    if (id.charCodeAt(i) > 0x7f) {
      ascii = false;
      break;
    }
  }
  const idLength = ascii ? id.length : Buffer.byteLength(id, 'utf8');
  const out = new Uint8Array(2 + idLength + data.length);
  out[0] = idLength >>> 8;
  out[1] = idLength & 0xff;
  if (ascii) for (let i = 0; i < idLength; i++) out[2 + i] = id.charCodeAt(i);
  else encoder.encodeInto(id, out.subarray(2, 2 + idLength));
  out.set(data, 2 + idLength);
  return out;
}

/**
 * One AAD buffer, refilled for every seal and open: the provider reads the AAD during the call and
 * keeps nothing, and a fresh array of this size (over V8's 64-byte limit for arrays on its own heap)
 * is one more allocation the garbage collector must track, on every put and get. Public data only.
 */
let aadScratch = new Uint8Array(0);

/** AAD_DOMAIN || format || version || levelKey, in the scratch buffer (valid until the next call). */
function recordAad(format: number, version: number, levelKey: Uint8Array): Uint8Array {
  const length = AAD_DOMAIN.length + HEADER_BYTES + levelKey.length;
  if (aadScratch.length !== length) {
    aadScratch = new Uint8Array(length);
    aadScratch.set(AAD_DOMAIN, 0);
  }
  const h = AAD_DOMAIN.length;
  aadScratch[h] = format;
  writeU64be(aadScratch, h + 1, version);
  aadScratch.set(levelKey, h + HEADER_BYTES);
  return aadScratch;
}

/** A sealed record, built inside LevelDB key || value so the set commitment can hash both without a copy. */
export interface SealedRecord {
  /** levelKey || value. */
  readonly keyed: Uint8Array;
  /** The record value (a view into `keyed`). */
  readonly value: Uint8Array;
}

export function sealRecord(
  provider: CryptoProvider,
  keys: NamespaceKeys,
  levelKey: Uint8Array,
  version: number,
  plaintext: Uint8Array,
  nonce: Uint8Array,
): SealedRecord {
  const sealed = provider.aeadSeal(AEAD, keys.encKey, nonce, plaintext, recordAad(RECORD_FORMAT_V1, version, levelKey));
  const k = levelKey.length;
  const keyed = new Uint8Array(k + HEADER_BYTES + AEAD_NONCE_BYTES + sealed.length);
  keyed.set(levelKey, 0);
  keyed[k] = RECORD_FORMAT_V1;
  writeU64be(keyed, k + 1, version);
  keyed.set(nonce, k + HEADER_BYTES);
  keyed.set(sealed, k + HEADER_BYTES + AEAD_NONCE_BYTES);
  return { keyed, value: keyed.subarray(k) };
}

/** The version in a record's header, unauthenticated until the record is opened. */
export function recordVersion(value: Uint8Array): number {
  if (value.length < MIN_RECORD_BYTES || value[0] !== RECORD_FORMAT_V1) {
    throw new TeeError('CORRUPT_OBJECT', 'object record: malformed header');
  }
  // u64 BE as two 32-bit halves (no BigInt per read); safe integers have at most 21 high bits.
  const high = ((value[1]! << 24) | (value[2]! << 16) | (value[3]! << 8) | value[4]!) >>> 0;
  const low = ((value[5]! << 24) | (value[6]! << 16) | (value[7]! << 8) | value[8]!) >>> 0;
  if (high > 0x1f_ffff) throw new TeeError('CORRUPT_OBJECT', 'object record: version out of range');
  return high * 0x1_0000_0000 + low;
}

export interface OpenedRecord {
  id: string;
  data: Uint8Array;
}

/**
 * Decrypt a record read from `levelKey`. Throws CORRUPT_OBJECT if it does not authenticate, or if
 * `expectedId` is given and differs. A record that authenticates was sealed by this module for this
 * key, and the key was computed from the id inside it, so the id needs no second HMAC here.
 */
export function openRecord(
  provider: CryptoProvider,
  keys: NamespaceKeys,
  levelKey: Uint8Array,
  value: Uint8Array,
  expectedId?: string,
): OpenedRecord {
  const version = recordVersion(value);
  const nonce = value.subarray(HEADER_BYTES, HEADER_BYTES + AEAD_NONCE_BYTES);
  const sealed = value.subarray(HEADER_BYTES + AEAD_NONCE_BYTES);
  let plaintext: Uint8Array;
  try {
    plaintext = provider.aeadOpen(AEAD, keys.encKey, nonce, sealed, recordAad(value[0]!, version, levelKey));
  } catch {
    throw new TeeError('CORRUPT_OBJECT', 'object record: authentication failed');
  }
  try {
    const idLength = new DataView(plaintext.buffer, plaintext.byteOffset, plaintext.byteLength).getUint16(0);
    if (2 + idLength > plaintext.length) throw new TeeError('CORRUPT_OBJECT', 'object record: malformed plaintext');
    const id = decoder.decode(plaintext.subarray(2, 2 + idLength));
    if (expectedId !== undefined && id !== expectedId) throw new TeeError('CORRUPT_OBJECT', 'object record: id does not match');
    return { id, data: plaintext.slice(2 + idLength) };
  } catch (err) {
    if (err instanceof TeeError) throw err;
    throw new TeeError('CORRUPT_OBJECT', 'object record: malformed plaintext');
  } finally {
    plaintext.fill(0);
  }
}
