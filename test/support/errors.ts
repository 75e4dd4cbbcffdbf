/** Shared test helper: run `f`, expect it to throw a TeeError, and return it for code/message checks. */
import { TeeError } from '../../src/common/errors.js';

export function failure(f: () => unknown): TeeError {
  try {
    f();
  } catch (err) {
    if (err instanceof TeeError) return err;
    throw new Error(`expected a TeeError, got ${String(err)}`);
  }
  throw new Error('expected a TeeError, but the call returned');
}
