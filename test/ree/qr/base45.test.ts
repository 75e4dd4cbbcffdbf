import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { decodeBase45, encodeBase45, base45Length } from '../../../src/ree/qr/base45.js';
import { TeeError } from '../../../src/common/errors.js';
import { utf8, fromUtf8 } from '../../../src/common/bytes.js';

// RFC 9285 sections 4.3 and 4.4.
const RFC_VECTORS: ReadonlyArray<[string, string]> = [
  ['AB', 'BB8'],
  ['Hello!!', '%69 VD92EX0'],
  ['base-45', 'UJCLQE7W581'],
  ['ietf!', 'QED8WEX0'],
];

describe('base45 (RFC 9285)', () => {
  for (const [plain, encoded] of RFC_VECTORS) {
    it(`encodes ${JSON.stringify(plain)} as ${JSON.stringify(encoded)} and back`, () => {
      expect(encodeBase45(utf8(plain))).toBe(encoded);
      expect(fromUtf8(decodeBase45(encoded))).toBe(plain);
    });
  }

  it('handles empty input and the extremes of each group', () => {
    expect(encodeBase45(new Uint8Array())).toBe('');
    expect(decodeBase45('')).toEqual(new Uint8Array());
    expect(encodeBase45(new Uint8Array([0xff, 0xff]))).toBe('FGW');
    expect(encodeBase45(new Uint8Array([0xff]))).toBe('U5');
    expect(decodeBase45('FGW')).toEqual(new Uint8Array([0xff, 0xff]));
  });

  it('round-trips random bytes and predicts the length', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        const text = encodeBase45(bytes);
        expect(text.length).toBe(base45Length(bytes.length));
        expect(decodeBase45(text)).toEqual(bytes);
      }),
      { numRuns: 300 },
    );
  });

  const INVALID: ReadonlyArray<[string, string, RegExp]> = [
    ['lowercase', 'bb8', /invalid character at position 0/],
    ['a character outside the alphabet', 'BB#', /invalid character at position 2/],
    ['a dangling character', 'BB8A', /dangling character/],
    ['a triplet above 65535', 'GGW', /above 65535/],
    ['a final pair above 255', 'BB8::', /final pair at position 3 encodes 2024, above 255/],
    ['a final pair above 255 (short)', 'V5', /above 255/],
  ];
  for (const [what, text, message] of INVALID) {
    it(`rejects ${what}`, () => {
      let caught: unknown;
      try {
        decodeBase45(text);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(TeeError);
      expect((caught as TeeError).code).toBe('BAD_PARAMETERS');
      expect((caught as TeeError).message).toMatch(message);
    });
  }
});
