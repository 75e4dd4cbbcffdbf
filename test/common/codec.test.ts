import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decode, decodeSequence, encode, MAX_MESSAGE_BYTES } from '../../src/common/codec.js';
import { concatBytes, fromHex, toHex } from '../../src/common/bytes.js';
import { TeeError } from '../../src/common/errors.js';
import { failure } from '../support/errors.js';


function nested(depth: number, leaf: unknown = 1, asObject = false): unknown {
  let v = leaf;
  for (let i = 0; i < depth; i++) v = asObject ? { k: v } : [v];
  return v;
}

describe('encode / decode round trips', () => {
  it('plain values come back equal', () => {
    const value = {
      s: 'héllo ✓',
      n: 42,
      neg: -7,
      f: 1.5,
      big: 2 ** 40,
      t: true,
      nil: null,
      list: [1, 'two', [3], { four: 4 }],
      nested: { a: { b: { c: 'd' } } },
      empty: {},
      bytes: new Uint8Array([0, 1, 2, 255]),
    };
    expect(decode(encode(value))).toEqual(value);
  });

  it('bytes come back as plain Uint8Array (not Buffer), detached from the input', () => {
    const input = encode({ b: new Uint8Array([9, 8, 7]), list: [new Uint8Array(3)] });
    const out = decode(input) as { b: Uint8Array; list: Uint8Array[] };
    for (const v of [out.b, out.list[0]!]) {
      expect(Object.getPrototypeOf(v)).toBe(Uint8Array.prototype);
      expect(Buffer.isBuffer(v)).toBe(false);
    }
    input.fill(0);
    expect([...out.b]).toEqual([9, 8, 7]);
  });

  it('64-bit integers come back as bigint, never a rounded number', () => {
    for (const v of [0n, 5n, -1n, 2n ** 53n + 1n, 2n ** 63n - 1n, -(2n ** 63n)]) expect(decode(encode(v))).toBe(v);
    expect(decode(fromHex('cfffffffffffffffff'))).toBe(2n ** 64n - 1n); // uint64
    expect(decode(fromHex('cf0000000000000005'))).toBe(5n); // even small values, when sent as 64-bit
    expect(decode(encode({ amount: 1234567890123456789n }))).toEqual({ amount: 1234567890123456789n });
    expect(decode(encode(2 ** 31))).toBe(2 ** 31); // 32-bit values stay numbers
  });

  it('random JSON-like values round trip', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), (v) => {
        // -0 has no msgpack integer form distinct from 0; compare after the same normalisation.
        const json = JSON.stringify(v);
        // A "__proto__" key is deliberately not reproduced (msgpackr renames it: no prototype pollution).
        fc.pre(!json.includes('"__proto__"'));
        const normal = JSON.parse(json) as unknown;
        expect(decode(encode(normal))).toEqual(normal);
      }),
      { numRuns: 300 },
    );
  });

  it('a "__proto__" key never reaches an object prototype', () => {
    const back = decode(encode(JSON.parse('{"__proto__":{"polluted":true}}'))) as Record<string, unknown>;
    expect(Object.getPrototypeOf(back)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('each encoding owns its buffer: no neighbouring messages behind .buffer', () => {
    const secret = new Uint8Array(32).fill(0xab);
    const a = encode({ secret });
    const b = encode({ other: 'x' });
    for (const e of [a, b]) {
      expect(e.byteOffset).toBe(0);
      expect(e.buffer.byteLength).toBe(e.length);
    }
    a.fill(0);
    expect(decode(b)).toEqual({ other: 'x' });
    expect(toHex(new Uint8Array(b.buffer))).not.toContain('abababab');
  });

  it('unencodable values are a TeeError', () => {
    for (const v of [Symbol('x'), 2n ** 64n, { n: -(2n ** 63n) - 1n }]) {
      const e = failure(() => encode(v));
      expect(e.code).toBe('BAD_PARAMETERS');
      expect(e.message).toBe('encode: value cannot be encoded');
    }
  });
});

describe('decode of untrusted bytes', () => {
  it('rejects non-bytes and empty input', () => {
    expect(failure(() => decode('c0' as unknown as Uint8Array)).message).toBe('message: expected bytes');
    expect(failure(() => decode(new Uint8Array(0))).message).toBe('message: empty');
  });

  it('caps the size before decoding', () => {
    const big = encode({ blob: new Uint8Array(MAX_MESSAGE_BYTES) });
    const e = failure(() => decode(big));
    expect(e.code).toBe('BAD_PARAMETERS');
    expect(e.message).toBe(`message: ${big.length} bytes exceeds limit ${MAX_MESSAGE_BYTES}`);
    const mib = encode({ blob: new Uint8Array(1024 * 1024) });
    expect((decode(mib) as { blob: Uint8Array }).blob.length).toBe(1024 * 1024);
    const small = encode('x'.repeat(100));
    expect(failure(() => decode(small, 50)).message).toBe(`message: ${small.length} bytes exceeds limit 50`);
    expect(decode(small, small.length)).toBe('x'.repeat(100));
  });

  it('reports the origin the caller names', () => {
    expect(failure(() => decode(new Uint8Array(0))).origin).toBe('COMMS');
    expect(failure(() => decode(new Uint8Array(0), 10, 'CHANNEL')).origin).toBe('CHANNEL');
    expect(failure(() => decode(fromHex('0102'), 10, 'TEE')).origin).toBe('TEE');
    expect(failure(() => decode(encode(nested(40)), MAX_MESSAGE_BYTES, 'TRUSTED_KEY')).origin).toBe('TRUSTED_KEY');
  });

  it('rejects the reserved byte 0xC1 wherever it appears', () => {
    for (const hex of ['c1', '91c1', '81a161c1']) {
      expect(failure(() => decode(fromHex(hex))).message).toBe('message holds an unsupported type');
    }
  });

  it('caps nesting depth at 32, for arrays and maps', () => {
    expect(decode(encode(nested(32)))).toEqual(nested(32));
    expect(decode(encode(nested(32, 1, true)))).toEqual(nested(32, 1, true));
    for (const v of [nested(33), nested(33, 1, true), nested(200)]) {
      const e = failure(() => decode(encode(v)));
      expect(e.code).toBe('BAD_PARAMETERS');
      expect(e.message).toBe('message nested deeper than 32');
    }
  });

  it('a million nested array headers is a clean error, not a crash', () => {
    const e = failure(() => decode(new Uint8Array(1_000_000).fill(0x91)));
    expect(e.code).toBe('BAD_PARAMETERS');
  });

  it('rejects trailing data and truncated values', () => {
    for (const hex of ['0102', 'c0c0', '01c4', '81a161', '92010203', 'a3616263ff']) {
      expect(failure(() => decode(fromHex(hex))).message).toBe('message: malformed encoding');
    }
    const ok = encode({ a: [1, 2, 3], b: new Uint8Array(10) });
    for (let cut = 1; cut < ok.length; cut++) expect(() => decode(ok.subarray(0, cut))).toThrow(TeeError);
    expect(() => decode(new Uint8Array([...ok, 0]))).toThrow('message: malformed encoding');
  });

  it('rejects extension types: timestamps (Date) and unknown ones', () => {
    expect(failure(() => decode(encode(new Date(0)))).message).toBe('message holds an unsupported type');
    expect(failure(() => decode(encode({ when: new Date(0) }))).message).toBe('message holds an unsupported type');
    expect(failure(() => decode(fromHex('d40100'))).message).toBe('message: malformed encoding'); // fixext1 type 1
    expect(failure(() => decode(fromHex('c70305010203'))).code).toBe('BAD_PARAMETERS'); // ext8 type 5
  });

  it('maps come back as plain objects: never a Map, non-string keys refused or stringified', () => {
    const fromMap = decode(encode(new Map([['a', 1]])));
    expect(fromMap).toEqual({ a: 1 });
    expect(fromMap instanceof Map).toBe(false);
    expect(decode(fromHex('810102'))).toEqual({ '1': 2 }); // {1: 2}
    expect(failure(() => decode(fromHex('8192010203'))).message).toBe('message: malformed encoding'); // {[1,2]: 3}
    expect(failure(() => decode(fromHex('81c402010203'))).message).toBe('message: malformed encoding'); // {bin: 3}
  });

  it('a "__proto__" key cannot change the prototype of what comes back', () => {
    const v = decode(encode(JSON.parse('{"__proto__": {"polluted": true}, "a": 1}'))) as Record<string, unknown>;
    expect(Object.getPrototypeOf(v)).toBe(Object.prototype);
    expect(v.polluted).toBeUndefined();
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(v.a).toBe(1);
  });

  it('random bytes: a value or a TeeError, never another exception; the decoder stays usable', () => {
    const good = encode({ ok: [1, 'two', new Uint8Array(2)] });
    const arbitrary = fc.oneof(
      fc.uint8Array({ minLength: 1, maxLength: 64 }),
      // Valid encodings with a few bytes changed reach deeper into the decoder than pure noise.
      fc.tuple(fc.jsonValue({ maxDepth: 4 }), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 })).map(([v, edits]) => {
        const bytes = encode(v);
        for (const [at, b] of edits) bytes[at % bytes.length] = b;
        return bytes;
      }),
    );
    fc.assert(
      fc.property(arbitrary, (bytes) => {
        try {
          decode(bytes);
        } catch (err) {
          expect(err).toBeInstanceOf(TeeError);
          expect((err as TeeError).code).toBe('BAD_PARAMETERS');
        }
        expect(decode(good)).toEqual({ ok: [1, 'two', new Uint8Array(2)] });
      }),
      { numRuns: 2000 },
    );
  });
});

describe('decodeSequence (values back to back, as a coalesced channel record carries them)', () => {
  it('decodes each value as decode would, in order', () => {
    const values = [{ t: 'note', m: 'a', p: new Uint8Array([1, 2]) }, 7, 'x', [1, { b: true }]];
    const bytes = concatBytes(...values.map((v) => encode(v)));
    expect(decodeSequence(bytes, 4)).toEqual(values);
    expect(decodeSequence(encode(5), 1)).toEqual([5]);
  });

  it('refuses more values than allowed, an empty input, a value cut short, and each value as decode does', () => {
    const many = concatBytes(...Array.from({ length: 5 }, (_, i) => encode(i)));
    expect(failure(() => decodeSequence(many, 4))).toMatchObject({ code: 'BAD_PARAMETERS', message: 'message: more than 4 values' });
    expect(failure(() => decodeSequence(new Uint8Array(0), 4)).code).toBe('BAD_PARAMETERS');
    expect(failure(() => decodeSequence(concatBytes(encode(1), encode('abc').subarray(0, 2)), 4)).message).toBe('message: malformed encoding');
    expect(failure(() => decodeSequence(concatBytes(encode(1), fromHex('c1')), 4)).code).toBe('BAD_PARAMETERS');
  });

  it('stops reading at the first value past the limit: a flood of tiny values is refused, not collected', () => {
    // 1 MiB of positive fixints is a million values; reading stops at the 65th.
    const flood = new Uint8Array(MAX_MESSAGE_BYTES - 4096);
    const err = failure(() => decodeSequence(flood, 64));
    expect(err.message).toBe('message: more than 64 values');
    // decode (one value) reads at most two before calling the rest trailing data.
    expect(failure(() => decode(flood)).message).toBe('message: malformed encoding');
  });
});
