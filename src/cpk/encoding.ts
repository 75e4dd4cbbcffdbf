/**
 * Shared pieces of the CPK wire formats: domain-separation labels, length-prefixed fields for
 * signed and hashed bytes, identity checks and scalar helpers. Every signature or hash in CPK is
 * taken over `field(...)`-framed bytes, so no two different inputs can frame to the same bytes.
 */
import { concatBytes, u32be, utf8 } from '../common/bytes.js';
import { aint, astring } from '../common/checks.js';
import { TeeError } from '../common/errors.js';
import type { CryptoProvider } from '../crypto/provider.js';

export const LABELS = {
  select: 'tee-sim/cpk/v1/select',
  publicMatrix: 'tee-sim/cpk/v1/public-matrix',
  issuanceKey: 'tee-sim/cpk/v1/issuance-key',
  issuancePackage: 'tee-sim/cpk/v1/issuance-package',
  separatingCertificate: 'tee-sim/cpk/v1/separating-certificate',
  storeKey: 'tee-sim/cpk/v1/kmc-store-key',
  storeRecord: 'tee-sim/cpk/v1/kmc-store-record',
} as const;

export type CpkMode = 'plain' | 'hardened';
export const CPK_MODES: readonly CpkMode[] = ['plain', 'hardened'];

/** Same shape as the payment protocol's party ids, so every mapped id can also be paid. */
export const ID_PATTERN = /^[A-Za-z0-9._:-]{1,64}$/;

/** Matrix bounds: at least two rows (one row would give every user the same key). */
export const MIN_ROWS = 2;
export const MAX_ROWS = 1024;
export const MIN_COLS = 1;
export const MAX_COLS = 256;
/** Keeps an encoded public matrix (33 B per point) well under the codec's 1 MiB message cap. */
export const MAX_ENTRIES = 16384;

export const POINT_BYTES = 33;
export const SCALAR_BYTES = 32;
export const SIGNATURE_BYTES = 64;

export function checkId(value: unknown, title: string): string {
  return astring(value, title, { min: 1, max: 64, pattern: ID_PATTERN });
}

export function checkShape(rows: unknown, cols: unknown): { rows: number; cols: number } {
  const r = aint(rows, 'cpk rows', MIN_ROWS, MAX_ROWS);
  const c = aint(cols, 'cpk cols', MIN_COLS, MAX_COLS);
  if (r * c > MAX_ENTRIES) throw new TeeError('BAD_PARAMETERS', `cpk matrix: expected at most ${MAX_ENTRIES} entries, got ${r * c}`, 'API');
  return { rows: r, cols: c };
}

/** One length-prefixed field: u32 length, then the bytes (strings as UTF-8). */
export function field(value: Uint8Array | string): Uint8Array {
  const bytes = typeof value === 'string' ? utf8(value) : value;
  return concatBytes(u32be(bytes.length), bytes);
}

/** Frame several fields into one byte string. */
export function frame(...values: (Uint8Array | string | number)[]): Uint8Array {
  return concatBytes(...values.map((v) => (typeof v === 'number' ? field(u32be(v)) : field(v))));
}

export function bytesToBigInt(bytes: Uint8Array): bigint {
  return bytes.length === 0 ? 0n : BigInt('0x' + Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex'));
}

/**
 * A uniform non-zero scalar: 48 random bytes reduced mod n (bias below 2^-128, as FIPS 186-5
 * A.2.1), redrawn on the (negligible) zero.
 */
export function randomScalar(provider: CryptoProvider): bigint {
  for (;;) {
    const wide = provider.randomBytes(48);
    const s = provider.p256.mod(bytesToBigInt(wide));
    wide.fill(0);
    if (s !== 0n) return s;
  }
}
