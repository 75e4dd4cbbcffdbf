/**
 * Input limits and checks for the storage API. Everything a caller hands the store passes through
 * here first, so bad input always becomes TeeError('BAD_PARAMETERS') before any key or disk work.
 */
import { abytes, astring } from '../common/checks.js';
import { TeeError } from '../common/errors.js';

/** Object ids and namespace names: 1..128 UTF-16 characters of well-formed Unicode. */
export const MAX_OBJECT_ID_CHARS = 128;
export const MAX_NAMESPACE_CHARS = 128;
/** Largest object payload. */
export const MAX_OBJECT_BYTES = 1024 * 1024;

// A lone surrogate encodes to U+FFFD in UTF-8, so two different ids would share one record: refuse them.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function checkName(value: unknown, title: string, max: number): string {
  const s = astring(value, title, { min: 1, max });
  if (LONE_SURROGATE.test(s)) throw new TeeError('BAD_PARAMETERS', `${title}: expected well-formed Unicode`, 'API');
  return s;
}

export function checkObjectId(value: unknown, title = 'object id'): string {
  return checkName(value, title, MAX_OBJECT_ID_CHARS);
}

export function checkNamespaceName(value: unknown): string {
  return checkName(value, 'namespace name', MAX_NAMESPACE_CHARS);
}

export function checkObjectData(value: unknown, title = 'object data'): Uint8Array {
  return abytes(value, title, { max: MAX_OBJECT_BYTES });
}
