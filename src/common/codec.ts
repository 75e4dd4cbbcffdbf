/**
 * Wire encoding with msgpackr. msgpackr has no size or depth limits of its own, so untrusted bytes are
 * capped before decoding, decoded with plain settings (no records, no structured clone, no
 * extensions beyond the built-in ones), and any decoder exception becomes a typed error.
 * Callers must still validate the shape of what comes back (see ./checks.ts).
 */
import { Packr } from 'msgpackr';
import { TeeError, type TeeOrigin } from './errors.js';

/** Largest encoded message any layer accepts (1 MiB payload plus framing headroom). */
export const MAX_MESSAGE_BYTES = 1024 * 1024 + 4096;
const MAX_DEPTH = 32;

const packr = new Packr({
  useRecords: false,
  structuredClone: false,
  moreTypes: false,
  bundleStrings: false,
  mapsAsObjects: true,
  useBigIntExtension: false,
  // Values encoded as 64-bit integers come back as bigint: never a silently rounded number.
  int64AsType: 'bigint',
});

/**
 * Encode a value. msgpackr packs into a shared pool buffer that also holds earlier messages, so the
 * result is copied out and the pool region cleared: a caller's `.buffer` then holds only its own
 * message, and zeroizing the result leaves no copy behind in the pool.
 */
export function encode(value: unknown): Uint8Array {
  return withEncoded(value, (bytes) => new Uint8Array(bytes));
}

/**
 * Encode a value and hand `use` the encoding in place, in the encoder's pool, then clear it there:
 * for a caller that copies the bytes into a buffer of its own anyway (the channel's outbox), which
 * saves the fresh copy `encode` makes (a new typed array of more than 64 bytes costs about as much
 * as packing a small message). `use` runs synchronously and must not keep `bytes`.
 */
export function withEncoded<T>(value: unknown, use: (bytes: Uint8Array) => T): T {
  let buf: Uint8Array;
  try {
    buf = packr.pack(value);
  } catch {
    throw new TeeError('BAD_PARAMETERS', 'encode: value cannot be encoded', 'API');
  }
  try {
    return use(buf);
  } finally {
    buf.fill(0);
  }
}

/**
 * One pass over a decoded value: enforce the depth cap and plain-object rule, and hand callers plain
 * Uint8Array copies of bin fields (msgpackr returns Buffer views into the input, which a caller may
 * reuse). Arrays and plain objects are fixed up in place (they are fresh from the decoder); an object
 * is rebuilt only when it must be: a null prototype, or an own '__proto__' key to drop.
 */
function normalise(value: unknown, depth: number, origin: TeeOrigin): unknown {
  if (depth > MAX_DEPTH) throw new TeeError('BAD_PARAMETERS', `message nested deeper than ${MAX_DEPTH}`, origin);
  if (value === null || typeof value !== 'object') return value;
  if (value instanceof Uint8Array) return Buffer.isBuffer(value) ? new Uint8Array(value) : value;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const v: unknown = value[i];
      if (v !== null && typeof v === 'object') value[i] = normalise(v, depth + 1, origin);
      else if (depth + 1 > MAX_DEPTH) normalise(v, depth + 1, origin);
    }
    return value;
  }
  // Only plain objects: not Map/Set/Date from extensions, nor the marker object msgpackr returns
  // for the reserved byte 0xC1.
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) {
    throw new TeeError('BAD_PARAMETERS', 'message holds an unsupported type', origin);
  }
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj);
  let rebuild = proto === null;
  for (const k of keys) {
    if (k === '__proto__') rebuild = true;
    const v = obj[k];
    if (v !== null && typeof v === 'object') {
      const n = normalise(v, depth + 1, origin);
      if (n !== v && k !== '__proto__') obj[k] = n;
    } else if (depth + 1 > MAX_DEPTH) normalise(v, depth + 1, origin);
  }
  if (!rebuild) return obj;
  const out: Record<string, unknown> = {};
  for (const k of keys) if (k !== '__proto__') out[k] = obj[k];
  return out;
}

/**
 * The values encoded back to back in `bytes` (at least one; every byte used), not yet normalised.
 * Reading stops at the first value past `maxValues`, so a flood of tiny values costs no more than that.
 */
function unpackAll(bytes: Uint8Array, maxValues: number, maxBytes: number, origin: TeeOrigin): unknown[] {
  if (!(bytes instanceof Uint8Array)) throw new TeeError('BAD_PARAMETERS', 'message: expected bytes', origin);
  if (bytes.length === 0) throw new TeeError('BAD_PARAMETERS', 'message: empty', origin);
  if (bytes.length > maxBytes) throw new TeeError('BAD_PARAMETERS', `message: ${bytes.length} bytes exceeds limit ${maxBytes}`, origin);
  const values: unknown[] = [];
  try {
    // unpackMultiple reads values until the input ends (a value cut short throws) or we say stop.
    packr.unpackMultiple(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), (value: unknown) => {
      values.push(value);
      return values.length <= maxValues;
    });
  } catch {
    throw new TeeError('BAD_PARAMETERS', 'message: malformed encoding', origin);
  }
  if (values.length === 0) throw new TeeError('BAD_PARAMETERS', 'message: malformed encoding', origin);
  return values;
}

/** Decode untrusted bytes into a plain value, or throw TeeError('BAD_PARAMETERS'). */
export function decode(bytes: Uint8Array, maxBytes = MAX_MESSAGE_BYTES, origin: TeeOrigin = 'COMMS'): unknown {
  const values = unpackAll(bytes, 1, maxBytes, origin);
  // A single value must use every byte: trailing data is malformed.
  if (values.length !== 1) throw new TeeError('BAD_PARAMETERS', 'message: malformed encoding', origin);
  return normalise(values[0], 0, origin);
}

/**
 * Decode untrusted bytes holding 1..`maxValues` values encoded back to back (`encode`d values
 * concatenated), each checked as `decode` checks one. Throws TeeError('BAD_PARAMETERS').
 */
export function decodeSequence(bytes: Uint8Array, maxValues: number, maxBytes = MAX_MESSAGE_BYTES, origin: TeeOrigin = 'COMMS'): unknown[] {
  const values = unpackAll(bytes, maxValues, maxBytes, origin);
  if (values.length > maxValues) throw new TeeError('BAD_PARAMETERS', `message: more than ${maxValues} values`, origin);
  return values.map((v) => normalise(v, 0, origin));
}
