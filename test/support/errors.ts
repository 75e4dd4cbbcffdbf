/** Shared test helper: run `f`, expect it to throw a TeeError, and return it for code/message checks. */
import { expect } from 'vitest';
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

/** The async form: await `p`, expect it to reject with a TeeError, and return it. */
export async function asyncFailure(p: Promise<unknown>): Promise<TeeError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(TeeError);
    return err as TeeError;
  }
  throw new Error('expected a TeeError');
}

/** The code a promise rejects with: a TeeError's code, 'not a TeeError', or 'resolved' if it did not reject. */
export async function rejectionCode(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return err instanceof TeeError ? err.code : 'not a TeeError';
  }
  return 'resolved';
}
