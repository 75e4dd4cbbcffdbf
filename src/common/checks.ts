/**
 * Named input checks with one message style, in the manner of noble's `abytes`/`anumber`.
 * Every value that crosses the REE/TEE boundary is checked here, so a bad value always becomes
 * `TeeError('BAD_PARAMETERS', '<title>: expected …')` and never a crash deeper down.
 */
import { TeeError, type TeeErrorCode } from './errors.js';

function fail(title: string, expected: string, code: TeeErrorCode = 'BAD_PARAMETERS'): never {
  throw new TeeError(code, `${title}: expected ${expected}`, 'API');
}

export function isBytes(value: unknown): value is Uint8Array {
  return value instanceof Uint8Array;
}

/** Bytes, optionally of an exact length or within [min, max]. */
export function abytes(value: unknown, title: string, length?: number | { min?: number; max?: number }): Uint8Array {
  if (!isBytes(value)) fail(title, 'bytes');
  if (typeof length === 'number') {
    if (value.length !== length) fail(title, `${length} bytes, got ${value.length}`);
  } else if (length) {
    if (length.min !== undefined && value.length < length.min) fail(title, `at least ${length.min} bytes, got ${value.length}`);
    if (length.max !== undefined && value.length > length.max) fail(title, `at most ${length.max} bytes, got ${value.length}`);
  }
  return value;
}

/** A safe integer within [min, max]. */
export function aint(value: unknown, title: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) fail(title, 'an integer');
  if (value < min || value > max) fail(title, `an integer in [${min}, ${max}], got ${value}`);
  return value;
}

export function astring(value: unknown, title: string, opts: { min?: number; max?: number; pattern?: RegExp } = {}): string {
  if (typeof value !== 'string') fail(title, 'a string');
  const { min = 0, max = 4096, pattern } = opts;
  if (value.length < min || value.length > max) fail(title, `a string of ${min}..${max} characters, got ${value.length}`);
  // A /g or /y pattern keeps lastIndex between calls; start every check from the beginning.
  if (pattern) pattern.lastIndex = 0;
  if (pattern && !pattern.test(value)) fail(title, `a string matching ${pattern.source}`);
  return value;
}

export function abool(value: unknown, title: string): boolean {
  if (typeof value !== 'boolean') fail(title, 'a boolean');
  return value;
}

export function aoneOf<T extends string>(value: unknown, title: string, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) fail(title, `one of ${allowed.join(', ')}`);
  return value as T;
}

/** A plain object (not null, not an array, not bytes). */
export function aobject(value: unknown, title: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || isBytes(value)) fail(title, 'an object');
  return value as Record<string, unknown>;
}

export function aarray(value: unknown, title: string, maxLength = 1024): unknown[] {
  if (!Array.isArray(value)) fail(title, 'an array');
  if (value.length > maxLength) fail(title, `an array of at most ${maxLength} items, got ${value.length}`);
  return value;
}

/** A bigint or safe integer in [min, max], returned as bigint (amounts, counters). */
export function abigint(value: unknown, title: string, min = 0n, max = (1n << 63n) - 1n): bigint {
  let v: bigint;
  if (typeof value === 'bigint') v = value;
  else if (typeof value === 'number' && Number.isSafeInteger(value)) v = BigInt(value);
  else fail(title, 'an integer');
  if (v < min || v > max) fail(title, `an integer in [${min}, ${max}]`);
  return v;
}
