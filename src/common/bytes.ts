/** Byte helpers shared by every layer. Secrets are Uint8Array: compare in constant time, zero when done. */
import { timingSafeEqual } from 'node:crypto';
import { TeeError } from './errors.js';

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let len = 0;
  for (const p of parts) len += p.length;
  const out = new Uint8Array(len);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** Constant-time equality; lengths are public, so a length mismatch returns early. */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  if (a.length === 0) return true;
  return timingSafeEqual(a, b);
}

/** Overwrite a secret in place. Best effort: the JS heap may hold copies we cannot reach. */
export function zeroize(...buffers: (Uint8Array | undefined)[]): void {
  for (const b of buffers) b?.fill(0);
}

/**
 * Up to this many bytes, toHex copies into one scratch buffer outside the JS heap and has Node write
 * the string from there: one flat string and no garbage. Buffer.from(bytes.buffer) would first move a
 * small typed array off V8's heap (about 0.7 µs), and joining per-byte pairs built ~1 KB of
 * intermediate strings for a 32-byte digest. Session, context and handle ids are looked up by their
 * hex on every call. The scratch is cleared after each use (callers may pass secret-derived bytes).
 */
const HEX_SCRATCH_BYTES = 64;
const hexScratch = Buffer.allocUnsafeSlow(HEX_SCRATCH_BYTES).fill(0);

export function toHex(bytes: Uint8Array): string {
  if (bytes.length <= HEX_SCRATCH_BYTES) {
    hexScratch.set(bytes);
    const hex = hexScratch.toString('hex', 0, bytes.length);
    hexScratch.fill(0, 0, bytes.length);
    return hex;
  }
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

export function fromHex(hex: string): Uint8Array {
  if (typeof hex !== 'string' || hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) {
    throw new TeeError('BAD_PARAMETERS', 'hex: invalid string', 'API');
  }
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder('utf-8', { fatal: true });

export function utf8(text: string): Uint8Array {
  return textEncoder.encode(text);
}

export function fromUtf8(bytes: Uint8Array): string {
  try {
    return textDecoder.decode(bytes);
  } catch {
    throw new TeeError('BAD_PARAMETERS', 'utf8: invalid encoding', 'API');
  }
}

export function toBase64url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
}

/**
 * Unpadded base64url, canonical only: Buffer would silently drop a dangling character or non-zero
 * trailing bits, so two strings could decode to the same bytes. Only the encoding toBase64url gives
 * is accepted.
 */
export function fromBase64url(text: string): Uint8Array {
  if (typeof text !== 'string' || !/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) {
    throw new TeeError('BAD_PARAMETERS', 'base64url: invalid string', 'API');
  }
  const bytes = new Uint8Array(Buffer.from(text, 'base64url'));
  if (toBase64url(bytes) !== text) throw new TeeError('BAD_PARAMETERS', 'base64url: non-canonical encoding', 'API');
  return bytes;
}

/** Big-endian unsigned 64-bit encoding, used for sequence numbers and counters. */
export function u64be(value: bigint): Uint8Array {
  // DataView would wrap a negative or oversized value modulo 2^64: a counter must never wrap silently.
  if (typeof value !== 'bigint' || value < 0n || value > 0xffffffffffffffffn) {
    throw new TeeError('BAD_PARAMETERS', 'u64be: value must be an integer in [0, 2^64-1]', 'API');
  }
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, value);
  return out;
}

/**
 * Write a non-negative safe integer as 8 bytes big-endian at `offset`: what u64be does, without a
 * BigInt, a DataView or a new array, for the records written on every storage put.
 */
export function writeU64be(out: Uint8Array, offset: number, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new TeeError('BAD_PARAMETERS', 'writeU64be: value must be a safe integer >= 0', 'API');
  }
  const high = Math.floor(value / 0x1_0000_0000);
  const low = value >>> 0;
  out[offset] = high >>> 24;
  out[offset + 1] = (high >>> 16) & 0xff;
  out[offset + 2] = (high >>> 8) & 0xff;
  out[offset + 3] = high & 0xff;
  out[offset + 4] = low >>> 24;
  out[offset + 5] = (low >>> 16) & 0xff;
  out[offset + 6] = (low >>> 8) & 0xff;
  out[offset + 7] = low & 0xff;
}

export function u32be(value: number): Uint8Array {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw new TeeError('BAD_PARAMETERS', 'u32be: value must be an integer in [0, 2^32-1]', 'API');
  }
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, value);
  return out;
}

/** A plain copy detached from any larger buffer (Buffer slices share pools). */
export function copyBytes(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}

/** True if `needle` occurs anywhere in `haystack`; used by the leak scanner and tests. */
export function containsBytes(haystack: Uint8Array, needle: Uint8Array): boolean {
  if (needle.length === 0) return true;
  return Buffer.from(haystack.buffer, haystack.byteOffset, haystack.byteLength).indexOf(
    Buffer.from(needle.buffer, needle.byteOffset, needle.byteLength),
  ) !== -1;
}
