import { describe, expect, it } from 'vitest';
import { aarray, abigint, abool, abytes, aint, aobject, aoneOf, astring, isBytes } from '../../src/common/checks.js';
import {
  GP_RESULT, TEE_ERROR_CODES, TEE_ORIGINS, TeeError, isTeeErrorCode, teeErrorFromWire, toTeeError,
} from '../../src/common/errors.js';

/** Every check failure is TeeError('BAD_PARAMETERS', '<title>: expected …', 'API'). */
function rejects(f: () => unknown, message: string): void {
  let caught: unknown;
  try {
    f();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(TeeError);
  const e = caught as TeeError;
  expect(e.code).toBe('BAD_PARAMETERS');
  expect(e.origin).toBe('API');
  expect(e.message).toBe(message);
}

describe('abytes', () => {
  it('accepts bytes (Buffer too) and returns them', () => {
    const b = new Uint8Array(4);
    expect(abytes(b, 'key')).toBe(b);
    expect(abytes(b, 'key', 4)).toBe(b);
    expect(abytes(b, 'key', { min: 4, max: 4 })).toBe(b);
    expect(abytes(Buffer.alloc(2), 'key', { max: 2 }).length).toBe(2);
    expect(isBytes(b)).toBe(true);
    expect(isBytes([1, 2])).toBe(false);
  });

  it('names the field and the expectation', () => {
    rejects(() => abytes('abcd', 'key'), 'key: expected bytes');
    rejects(() => abytes([1, 2], 'key'), 'key: expected bytes');
    rejects(() => abytes(new Uint16Array(2), 'key'), 'key: expected bytes');
    rejects(() => abytes(new ArrayBuffer(4), 'key'), 'key: expected bytes');
    rejects(() => abytes(new Uint8Array(3), 'nonce', 12), 'nonce: expected 12 bytes, got 3');
    rejects(() => abytes(new Uint8Array(3), 'pin', { min: 4 }), 'pin: expected at least 4 bytes, got 3');
    rejects(() => abytes(new Uint8Array(9), 'pin', { max: 8 }), 'pin: expected at most 8 bytes, got 9');
  });
});

describe('aint and abigint', () => {
  it('accepts safe integers in range', () => {
    expect(aint(0, 'n')).toBe(0);
    expect(aint(5, 'n', 5, 5)).toBe(5);
    expect(aint(Number.MAX_SAFE_INTEGER, 'n')).toBe(Number.MAX_SAFE_INTEGER);
    expect(abigint(7, 'amount')).toBe(7n);
    expect(abigint(7n, 'amount')).toBe(7n);
    expect(abigint(2n ** 63n - 1n, 'amount')).toBe(2n ** 63n - 1n);
    expect(abigint(-3n, 'delta', -5n, 5n)).toBe(-3n);
  });

  it('rejects non-integers, unsafe numbers and out-of-range values', () => {
    for (const v of [1.5, Number.NaN, Number.POSITIVE_INFINITY, '1', 1n, null, 2 ** 53]) rejects(() => aint(v, 'n'), 'n: expected an integer');
    rejects(() => aint(-1, 'n'), `n: expected an integer in [0, ${Number.MAX_SAFE_INTEGER}], got -1`);
    rejects(() => aint(11, 'len', 1, 10), 'len: expected an integer in [1, 10], got 11');
    for (const v of [1.5, '7', 2 ** 53, null]) rejects(() => abigint(v, 'amount'), 'amount: expected an integer');
    rejects(() => abigint(-1n, 'amount'), `amount: expected an integer in [0, ${2n ** 63n - 1n}]`);
    rejects(() => abigint(2n ** 63n, 'amount'), `amount: expected an integer in [0, ${2n ** 63n - 1n}]`);
  });
});

describe('astring, abool, aoneOf', () => {
  it('astring checks type, length and pattern', () => {
    expect(astring('abc', 's')).toBe('abc');
    rejects(() => astring(3, 's'), 's: expected a string');
    rejects(() => astring('x'.repeat(4097), 's'), 's: expected a string of 0..4096 characters, got 4097');
    rejects(() => astring('', 'id', { min: 1, max: 8 }), 'id: expected a string of 1..8 characters, got 0');
    rejects(() => astring('a b', 'id', { pattern: /^[a-z]+$/ }), 'id: expected a string matching ^[a-z]+$');
  });

  it('a /g pattern gives the same answer on every call (lastIndex is reset)', () => {
    const pattern = /^[a-z]+$/g;
    for (let i = 0; i < 4; i++) expect(astring('abc', 'id', { pattern })).toBe('abc');
  });

  it('abool and aoneOf', () => {
    expect(abool(false, 'flag')).toBe(false);
    rejects(() => abool(0, 'flag'), 'flag: expected a boolean');
    rejects(() => abool('true', 'flag'), 'flag: expected a boolean');
    const algs = ['p256', 'ed25519'] as const;
    expect(aoneOf('p256', 'alg', algs)).toBe('p256');
    for (const v of ['P256', 'toString', '', 1]) rejects(() => aoneOf(v, 'alg', algs), 'alg: expected one of p256, ed25519');
  });
});

describe('aobject and aarray', () => {
  it('aobject takes plain objects only', () => {
    const o = { a: 1 };
    expect(aobject(o, 'body')).toBe(o);
    for (const v of [null, [1], new Uint8Array(1), 'x', 1, undefined]) rejects(() => aobject(v, 'body'), 'body: expected an object');
  });

  it('aarray bounds the length', () => {
    expect(aarray([1, 2], 'items', 2)).toEqual([1, 2]);
    rejects(() => aarray({ length: 1 }, 'items'), 'items: expected an array');
    rejects(() => aarray([1, 2, 3], 'items', 2), 'items: expected an array of at most 2 items, got 3');
    rejects(() => aarray(new Array(1025).fill(0), 'items'), 'items: expected an array of at most 1024 items, got 1025');
  });
});

describe('TeeError and its wire form', () => {
  it('every code has a GP result number, and the codes are recognised', () => {
    for (const code of TEE_ERROR_CODES) {
      expect(typeof GP_RESULT[code]).toBe('number');
      expect(isTeeErrorCode(code)).toBe(true);
      expect(new TeeError(code, 'm').gpResult).toBe(GP_RESULT[code]);
    }
    expect(new TeeError('BAD_PARAMETERS', 'm').gpResult).toBe(0xffff0006);
    for (const v of ['toString', 'bad_parameters', 6, null]) expect(isTeeErrorCode(v)).toBe(false);
  });

  it('round trips through toWire without a stack', () => {
    const e = new TeeError('SECURITY', 'channel: record does not verify', 'CHANNEL');
    const wire = e.toWire();
    expect(wire).toEqual({ code: 'SECURITY', message: 'channel: record does not verify', origin: 'CHANNEL' });
    expect(Object.keys(wire)).not.toContain('stack');
    const back = teeErrorFromWire(wire);
    expect(back).toBeInstanceOf(TeeError);
    expect(back.toWire()).toEqual(wire);
  });

  it('a malformed wire error becomes COMMUNICATION; an unknown origin falls back', () => {
    for (const v of [null, 'SECURITY', { code: 'NOPE', message: 'x' }, { code: 'SECURITY' }, { code: 'SECURITY', message: 5 }]) {
      const e = teeErrorFromWire(v, 'CHANNEL');
      expect(e.code).toBe('COMMUNICATION');
      expect(e.origin).toBe('CHANNEL');
    }
    expect(teeErrorFromWire({ code: 'BUSY', message: 'x', origin: 'ROOT' }, 'COMMS').origin).toBe('COMMS');
    expect(teeErrorFromWire({ code: 'BUSY', message: 'x', origin: 'TRUSTED_KEY' }).origin).toBe('TRUSTED_KEY');
    for (const origin of TEE_ORIGINS) expect(teeErrorFromWire({ code: 'BUSY', message: 'x', origin }).origin).toBe(origin);
  });

  it('a peer cannot push an unbounded message through', () => {
    expect(teeErrorFromWire({ code: 'GENERIC', message: 'x'.repeat(100_000) }).message.length).toBe(512);
  });

  it('toTeeError keeps TeeErrors and hides the text of anything else', () => {
    const e = new TeeError('BUSY', 'busy');
    expect(toTeeError(e)).toBe(e);
    const hidden = toTeeError(new RangeError('bad key 0badc0ffee'), 'BAD_PARAMETERS', 'API');
    expect(hidden.code).toBe('BAD_PARAMETERS');
    expect(hidden.origin).toBe('API');
    expect(hidden.message).toBe('internal error');
  });
});
