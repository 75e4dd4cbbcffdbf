import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  concatBytes, constantTimeEqual, containsBytes, copyBytes, fromBase64url, fromHex, fromUtf8, toBase64url, toHex, u32be, u64be,
  utf8, writeU64be, zeroize,
} from '../../src/common/bytes.js';
import { failure } from '../support/errors.js';


/** A view into the middle of a larger buffer, to catch helpers that ignore byteOffset. */
function view(bytes: number[], pad = 5): Uint8Array {
  const backing = new Uint8Array(bytes.length + 2 * pad).fill(0xee);
  backing.set(bytes, pad);
  return backing.subarray(pad, pad + bytes.length);
}

describe('constantTimeEqual', () => {
  it('compares contents, not identity', () => {
    expect(constantTimeEqual(new Uint8Array([1, 2, 3]), new Uint8Array([1, 2, 3]))).toBe(true);
    expect(constantTimeEqual(new Uint8Array([1, 2, 3]), new Uint8Array([1, 2, 4]))).toBe(false);
    expect(constantTimeEqual(new Uint8Array([1, 2, 3]), new Uint8Array([1, 2]))).toBe(false);
    expect(constantTimeEqual(new Uint8Array(0), new Uint8Array(0))).toBe(true);
    expect(constantTimeEqual(new Uint8Array(0), new Uint8Array(1))).toBe(false);
    expect(constantTimeEqual(view([7, 8, 9]), new Uint8Array([7, 8, 9]))).toBe(true);
  });

  it('agrees with a plain comparison on random input', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ maxLength: 40 }), (a, b) => {
        expect(constantTimeEqual(a, b)).toBe(toHex(a) === toHex(b));
        expect(constantTimeEqual(a, a.slice())).toBe(true);
      }),
    );
  });
});

describe('hex', () => {
  it('round trips, respecting views', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (b) => {
        expect(toHex(b)).toBe(Buffer.from(b).toString('hex'));
        expect(fromHex(toHex(b))).toEqual(b);
      }),
    );
    // Each call stands alone: a long value after a short one, a short one after a long one.
    expect(toHex(new Uint8Array(64).fill(0xff))).toBe('ff'.repeat(64));
    expect(toHex(new Uint8Array([1]))).toBe('01');
    expect(toHex(new Uint8Array(0))).toBe('');
    expect(toHex(view([0xde, 0xad]))).toBe('dead');
    expect(fromHex('DEADbeef')).toEqual(new Uint8Array([0xde, 0xad, 0xbe, 0xef]));
    expect(fromHex('')).toEqual(new Uint8Array(0));
  });

  it('rejects anything that is not an even run of hex digits', () => {
    for (const bad of ['0', 'abc', 'zz', '0x00', '00 ', ' 00', '0g', 'é1', 12 as unknown as string]) {
      const e = failure(() => fromHex(bad));
      expect(e.code).toBe('BAD_PARAMETERS');
      expect(e.message).toBe('hex: invalid string');
    }
  });
});

describe('base64url', () => {
  it('round trips without padding', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (b) => {
        const text = toBase64url(b);
        expect(text).toMatch(/^[A-Za-z0-9_-]*$/);
        expect(fromBase64url(text)).toEqual(b);
      }),
    );
    expect(toBase64url(view([0xfb, 0xff]))).toBe('-_8');
  });

  it('rejects other alphabets, padding and impossible lengths', () => {
    for (const bad of ['AA==', 'a+b/', 'AB C', 'A', 'AAAAA', 'A*', 5 as unknown as string]) {
      const e = failure(() => fromBase64url(bad));
      expect(e.code).toBe('BAD_PARAMETERS');
      expect(e.message).toBe('base64url: invalid string');
    }
  });

  it('rejects non-canonical encodings (non-zero trailing bits), so each byte string has one text', () => {
    for (const bad of ['AB', 'AAB', 'AR', '_9']) {
      expect(failure(() => fromBase64url(bad)).message).toBe('base64url: non-canonical encoding');
    }
    expect(fromBase64url('AA')).toEqual(new Uint8Array([0]));
    expect(fromBase64url('AQI')).toEqual(new Uint8Array([1, 2]));
  });
});

describe('containsBytes', () => {
  it('finds a needle anywhere, and only within the view', () => {
    const hay = new Uint8Array([1, 2, 3, 4, 5]);
    expect(containsBytes(hay, new Uint8Array([3, 4]))).toBe(true);
    expect(containsBytes(hay, new Uint8Array([1]))).toBe(true);
    expect(containsBytes(hay, new Uint8Array([5]))).toBe(true);
    expect(containsBytes(hay, new Uint8Array([4, 3]))).toBe(false);
    expect(containsBytes(hay, new Uint8Array([5, 6]))).toBe(false);
    expect(containsBytes(hay, new Uint8Array(0))).toBe(true);
    expect(containsBytes(new Uint8Array(0), new Uint8Array([1]))).toBe(false);
    // The 0xee padding around a view is not part of the haystack, nor of the needle.
    expect(containsBytes(view([1, 2, 3]), new Uint8Array([0xee]))).toBe(false);
    expect(containsBytes(new Uint8Array([9, 2, 3, 9]), view([2, 3]))).toBe(true);
  });

  it('agrees with a search over hex on random input', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 30 }), fc.nat(), fc.nat(), (hay, a, b) => {
        const start = hay.length ? a % hay.length : 0;
        const end = start + (hay.length ? b % (hay.length - start + 1) : 0);
        expect(containsBytes(hay, hay.slice(start, end))).toBe(true);
      }),
    );
  });
});

describe('small helpers', () => {
  it('concatBytes, copyBytes and zeroize', () => {
    expect(concatBytes(new Uint8Array([1]), view([2, 3]), new Uint8Array(0))).toEqual(new Uint8Array([1, 2, 3]));
    expect(concatBytes()).toEqual(new Uint8Array(0));
    const v = view([4, 5]);
    const c = copyBytes(v);
    expect(c).toEqual(new Uint8Array([4, 5]));
    expect(c.buffer.byteLength).toBe(2);
    v[0] = 0;
    expect(c[0]).toBe(4);
    const a = new Uint8Array([1, 2]);
    const b = new Uint8Array([3]);
    zeroize(a, undefined, b);
    expect([...a, ...b]).toEqual([0, 0, 0]);
  });

  it('utf8 round trips and refuses invalid encodings', () => {
    expect(fromUtf8(utf8('payé ✓ 🚀'))).toBe('payé ✓ 🚀');
    for (const bad of [[0xc3, 0x28], [0xff], [0xed, 0xa0, 0x80]]) {
      const e = failure(() => fromUtf8(new Uint8Array(bad)));
      expect(e.code).toBe('BAD_PARAMETERS');
      expect(e.message).toBe('utf8: invalid encoding');
    }
  });

  it('u64be and u32be encode big-endian and never wrap', () => {
    expect(toHex(u64be(0n))).toBe('0000000000000000');
    expect(toHex(u64be(0x0102030405060708n))).toBe('0102030405060708');
    expect(toHex(u64be(2n ** 64n - 1n))).toBe('ffffffffffffffff');
    expect(toHex(u32be(0x01020304))).toBe('01020304');
    expect(toHex(u32be(0xffffffff))).toBe('ffffffff');
    for (const bad of [-1n, 2n ** 64n, 5 as unknown as bigint]) {
      expect(failure(() => u64be(bad)).message).toBe('u64be: value must be an integer in [0, 2^64-1]');
    }
    for (const bad of [-1, 2 ** 32, 1.5, Number.NaN]) {
      expect(failure(() => u32be(bad)).message).toBe('u32be: value must be an integer in [0, 2^32-1]');
    }
  });

  it('writeU64be writes what u64be encodes, in place, for every safe integer, and refuses the rest', () => {
    const at = (value: number) => {
      const out = new Uint8Array(12).fill(0xee);
      writeU64be(out, 2, value);
      expect(out.subarray(0, 2)).toEqual(Uint8Array.of(0xee, 0xee));
      expect(out.subarray(10)).toEqual(Uint8Array.of(0xee, 0xee));
      return out.subarray(2, 10);
    };
    for (const value of [0, 1, 0xffffffff, 2 ** 32, 2 ** 40 + 5, Number.MAX_SAFE_INTEGER]) expect(at(value)).toEqual(u64be(BigInt(value)));
    fc.assert(fc.property(fc.maxSafeNat(), (value) => {
      expect(at(value)).toEqual(u64be(BigInt(value)));
    }));
    for (const bad of [-1, 1.5, 2 ** 53, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(failure(() => writeU64be(new Uint8Array(8), 0, bad)).message).toBe('writeU64be: value must be a safe integer >= 0');
    }
  });
});
