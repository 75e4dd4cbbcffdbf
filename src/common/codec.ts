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
  let buf: Uint8Array;
  try {
    buf = packr.pack(value);
  } catch {
    throw new TeeError('BAD_PARAMETERS', 'encode: value cannot be encoded', 'API');
  }
  const out = new Uint8Array(buf);
  buf.fill(0);
  return out;
}

function checkDepth(value: unknown, depth: number, origin: TeeOrigin): void {
  if (depth > MAX_DEPTH) throw new TeeError('BAD_PARAMETERS', `message nested deeper than ${MAX_DEPTH}`, origin);
  if (Array.isArray(value)) for (const v of value) checkDepth(v, depth + 1, origin);
  else if (value !== null && typeof value === 'object' && !(value instanceof Uint8Array)) {
    // Only plain objects: not Map/Set/Date from extensions, nor the marker object msgpackr returns
    // for the reserved byte 0xC1.
    const proto: unknown = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) {
      throw new TeeError('BAD_PARAMETERS', 'message holds an unsupported type', origin);
    }
    for (const v of Object.values(value)) checkDepth(v, depth + 1, origin);
  }
}

/** Decode untrusted bytes into a plain value, or throw TeeError('BAD_PARAMETERS'). */
export function decode(bytes: Uint8Array, maxBytes = MAX_MESSAGE_BYTES, origin: TeeOrigin = 'COMMS'): unknown {
  if (!(bytes instanceof Uint8Array)) throw new TeeError('BAD_PARAMETERS', 'message: expected bytes', origin);
  if (bytes.length === 0) throw new TeeError('BAD_PARAMETERS', 'message: empty', origin);
  if (bytes.length > maxBytes) throw new TeeError('BAD_PARAMETERS', `message: ${bytes.length} bytes exceeds limit ${maxBytes}`, origin);
  let value: unknown;
  try {
    // unpackMultiple would accept trailing data; a single value must use every byte.
    const values = packr.unpackMultiple(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)) as unknown[] | undefined;
    if (!values || values.length !== 1) throw new Error('trailing data');
    value = values[0];
  } catch (err) {
    if (err instanceof TeeError) throw err;
    throw new TeeError('BAD_PARAMETERS', 'message: malformed encoding', origin);
  }
  checkDepth(value, 0, origin);
  return normaliseBytes(value);
}

/** msgpackr decodes bin fields as Buffer; hand callers plain Uint8Array views so types are uniform. */
function normaliseBytes(value: unknown): unknown {
  if (value instanceof Uint8Array) return Buffer.isBuffer(value) ? new Uint8Array(value) : value;
  if (Array.isArray(value)) return value.map(normaliseBytes);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      if (k === '__proto__') continue;
      out[k] = normaliseBytes(v);
    }
    return out;
  }
  return value;
}
