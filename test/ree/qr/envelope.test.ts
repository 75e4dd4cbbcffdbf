import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import {
  decodeQrText,
  encodeQrText,
  QR_MAX_CLOCK_SKEW_MS,
  QR_MAX_ENVELOPE_BYTES,
  QR_MAX_TEXT_CHARS,
  QR_PAYLOAD_TYPES,
  type QrEnvelope,
} from '../../../src/ree/qr/index.js';
import { encodeBase45, BASE45_ALPHABET } from '../../../src/ree/qr/base45.js';
import { encode } from '../../../src/common/codec.js';
import { TeeError, type TeeErrorCode } from '../../../src/common/errors.js';
import { failure } from '../../support/errors.js';

const NOW = 1_800_000_000_000;

function envelope(overrides: Partial<QrEnvelope> = {}): QrEnvelope {
  return {
    version: 1,
    type: 'online-request',
    issuedAt: NOW - 1_000,
    expiresAt: NOW + 120_000,
    body: new Uint8Array(64).map((_, i) => i * 7),
    ...overrides,
  };
}

function expectError(fn: () => unknown, code: TeeErrorCode, message: RegExp): void {
  const err = failure(fn);
  expect(err.code).toBe(code);
  expect(err.message).toMatch(message);
}

/** Text for an arbitrary msgpack value, bypassing encodeQrText's checks. */
function rawText(value: unknown, header = 'TS1:'): string {
  return header + encodeBase45(encode(value));
}

describe('QR envelope text', () => {
  it('round-trips every payload type and is QR-alphanumeric', () => {
    for (const type of QR_PAYLOAD_TYPES) {
      const env = envelope({ type });
      const text = encodeQrText(env);
      expect(text.startsWith('TS1:')).toBe(true);
      expect([...text].every((c) => BASE45_ALPHABET.includes(c))).toBe(true);
      expect(decodeQrText(text, { now: NOW })).toEqual(env);
    }
  });

  it('accepts the largest envelope that fits a level-M QR code and refuses one byte more', () => {
    const overhead = encode([1, NOW, NOW, new Uint8Array(300)]).length - 300; // with a bin16 body header
    const body = new Uint8Array(QR_MAX_ENVELOPE_BYTES - overhead);
    const text = encodeQrText(envelope({ body, issuedAt: NOW, expiresAt: NOW }));
    expect(text.length).toBeLessThanOrEqual(QR_MAX_TEXT_CHARS);
    expect(decodeQrText(text, { now: NOW }).body.length).toBe(body.length);
    expectError(() => encodeQrText(envelope({ body: new Uint8Array(body.length + 1), issuedAt: NOW, expiresAt: NOW })), 'BAD_PARAMETERS', /exceeds QR capacity/);
  });

  it('refuses to encode an inconsistent envelope', () => {
    expectError(() => encodeQrText(envelope({ expiresAt: NOW - 5_000 })), 'BAD_PARAMETERS', /expiresAt is before issuedAt/);
    expectError(() => encodeQrText(envelope({ type: 'refund' as never })), 'BAD_PARAMETERS', /qr: type/);
    expectError(() => encodeQrText(envelope({ issuedAt: 1.5 })), 'BAD_PARAMETERS', /qr: issuedAt/);
    expectError(() => encodeQrText(envelope({ version: 2 as never })), 'NOT_SUPPORTED', /unsupported version 2/);
  });

  describe('decoding refuses bad input with the right code', () => {
    const good = encodeQrText(envelope());
    const cases: ReadonlyArray<[string, () => unknown, TeeErrorCode, RegExp]> = [
      ['garbage text', () => decodeQrText('hello world', { now: NOW }), 'NOT_SUPPORTED', /not a TS payment code/],
      ['a URL from another app', () => decodeQrText('HTTPS://EXAMPLE.COM/PAY', { now: NOW }), 'NOT_SUPPORTED', /not a TS payment code/],
      ['a lowercase scheme', () => decodeQrText(good.toLowerCase(), { now: NOW }), 'NOT_SUPPORTED', /not a TS payment code/],
      ['a future version', () => decodeQrText('TS7:' + good.slice(4), { now: NOW }), 'NOT_SUPPORTED', /^qr: unsupported version 7$/],
      ['version 0', () => decodeQrText('TS0:' + good.slice(4), { now: NOW }), 'NOT_SUPPORTED', /unsupported version 0/],
      ['an empty payload', () => decodeQrText('TS1:', { now: NOW }), 'BAD_PARAMETERS', /malformed envelope/],
      ['text truncated by one character', () => decodeQrText(good.slice(0, -1), { now: NOW }), 'BAD_PARAMETERS', /malformed/],
      ['text truncated by three characters', () => decodeQrText(good.slice(0, -3), { now: NOW }), 'BAD_PARAMETERS', /malformed envelope/],
      ['a character outside base45', () => decodeQrText(good.slice(0, 10) + '#' + good.slice(11), { now: NOW }), 'BAD_PARAMETERS', /malformed payload \(base45: invalid character at position 6\)/],
      ['trailing bytes after the envelope', () => decodeQrText(good + encodeBase45(new Uint8Array([0xc0, 0xc0])), { now: NOW }), 'BAD_PARAMETERS', /malformed envelope/],
      ['an oversized text', () => decodeQrText('TS1:' + '0'.repeat(QR_MAX_TEXT_CHARS), { now: NOW }), 'BAD_PARAMETERS', /exceeds limit/],
      ['a text over the caller\'s maxBytes', () => decodeQrText(good, { now: NOW, maxBytes: 20 }), 'BAD_PARAMETERS', /exceeds limit of 30/],
      ['a map instead of an array', () => decodeQrText(rawText({ a: 1 }), { now: NOW }), 'BAD_PARAMETERS', /qr: envelope: expected an array/],
      ['too few fields', () => decodeQrText(rawText([1, NOW, NOW]), { now: NOW }), 'BAD_PARAMETERS', /expected 4 fields, got 3/],
      ['too many fields', () => decodeQrText(rawText([1, NOW, NOW, new Uint8Array(1), 0]), { now: NOW }), 'BAD_PARAMETERS', /at most 4 items/],
      ['an unknown payload type', () => decodeQrText(rawText([9, NOW, NOW, new Uint8Array(1)]), { now: NOW }), 'NOT_SUPPORTED', /unsupported payload type 9/],
      ['a string type code', () => decodeQrText(rawText(['receipt', NOW, NOW, new Uint8Array(1)]), { now: NOW }), 'BAD_PARAMETERS', /qr: type code/],
      ['a fractional time', () => decodeQrText(rawText([1, NOW + 0.5, NOW, new Uint8Array(1)]), { now: NOW }), 'BAD_PARAMETERS', /qr: issuedAt/],
      ['a negative time', () => decodeQrText(rawText([1, -1, NOW, new Uint8Array(1)]), { now: NOW }), 'BAD_PARAMETERS', /qr: issuedAt/],
      ['a string body', () => decodeQrText(rawText([1, NOW, NOW, 'abc']), { now: NOW }), 'BAD_PARAMETERS', /qr: body: expected bytes/],
      ['expiresAt before issuedAt', () => decodeQrText(rawText([1, NOW, NOW - 1, new Uint8Array(1)]), { now: NOW }), 'BAD_PARAMETERS', /expiresAt is before issuedAt/],
      ['issuedAt in the far future', () => decodeQrText(rawText([1, NOW + QR_MAX_CLOCK_SKEW_MS + 1, NOW + 10 * QR_MAX_CLOCK_SKEW_MS, new Uint8Array(1)]), { now: NOW }), 'BAD_PARAMETERS', /issuedAt is in the future/],
      ['an expired code', () => decodeQrText(good, { now: NOW + 120_001 }), 'EXPIRED', /code expired 1 ms ago/],
      ['a non-string', () => decodeQrText(42 as never), 'BAD_PARAMETERS', /expected text/],
    ];
    for (const [what, fn, code, message] of cases) it(what, () => expectError(fn, code, message));
  });

  it('tolerates small clock skew and accepts a code at its last valid millisecond', () => {
    const env = envelope({ issuedAt: NOW + QR_MAX_CLOCK_SKEW_MS, expiresAt: NOW + QR_MAX_CLOCK_SKEW_MS + 1 });
    expect(decodeQrText(encodeQrText(env), { now: NOW })).toEqual(env);
    expect(decodeQrText(encodeQrText(envelope()), { now: NOW + 120_000 }).type).toBe('online-request');
  });

  it('accepts timestamps that arrive as 64-bit integers', () => {
    const text = rawText([3, BigInt(NOW), BigInt(NOW + 1), new Uint8Array([1, 2])]);
    expect(decodeQrText(text, { now: NOW })).toEqual({ version: 1, type: 'offline-payment', issuedAt: NOW, expiresAt: NOW + 1, body: new Uint8Array([1, 2]) });
  });

  describe('fuzz: any input gives a TeeError, never another exception', () => {
    const valid = QR_PAYLOAD_TYPES.map((type, i) => encodeQrText(envelope({ type, body: new Uint8Array(20 + i * 40).fill(i) })));
    const onlyTeeErrors = (text: string): void => {
      try {
        const env = decodeQrText(text, { now: NOW });
        // A mutation may still decode; the result must then be well formed.
        expect(QR_PAYLOAD_TYPES).toContain(env.type);
        expect(env.body).toBeInstanceOf(Uint8Array);
      } catch (err) {
        if (!(err instanceof TeeError)) throw err;
      }
    };

    it('random strings', () => {
      const alphabet = fc.constantFrom(...BASE45_ALPHABET);
      const text = fc.oneof(
        fc.string({ maxLength: 300 }),
        fc.string({ unit: 'grapheme', maxLength: 100 }),
        fc.string({ unit: alphabet, maxLength: 300 }).map((s) => 'TS1:' + s),
      );
      fc.assert(fc.property(text, (t) => onlyTeeErrors(t)), { numRuns: 500 });
    });

    it('mutated valid texts', () => {
      const mutation = fc.record({
        which: fc.nat(valid.length - 1),
        at: fc.nat(),
        kind: fc.constantFrom('replace', 'insert', 'delete', 'truncate'),
        char: fc.oneof(fc.constantFrom(...BASE45_ALPHABET), fc.string({ minLength: 1, maxLength: 1 })),
      });
      fc.assert(
        fc.property(mutation, ({ which, at, kind, char }) => {
          const base = valid[which]!;
          const i = at % base.length;
          const mutated =
            kind === 'replace' ? base.slice(0, i) + char + base.slice(i + 1)
            : kind === 'insert' ? base.slice(0, i) + char + base.slice(i)
            : kind === 'delete' ? base.slice(0, i) + base.slice(i + 1)
            : base.slice(0, i);
          onlyTeeErrors(mutated);
        }),
        { numRuns: 500 },
      );
    });

    it('random msgpack values behind a valid header', () => {
      fc.assert(
        fc.property(fc.anything({ maxDepth: 3, withTypedArray: true }), fc.uint8Array({ maxLength: 40 }), (value, bytes) => {
          let text: string;
          try {
            text = rawText(value);
          } catch {
            return; // not encodable by msgpackr: nothing to test
          }
          onlyTeeErrors(text);
          onlyTeeErrors('TS1:' + encodeBase45(bytes));
        }),
        { numRuns: 500 },
      );
    });
  });
});
