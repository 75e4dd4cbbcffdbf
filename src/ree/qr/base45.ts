/**
 * Base45 (RFC 9285): bytes as text drawn from the 45-character QR alphanumeric set, so a QR code can
 * use alphanumeric mode (5.5 bits per character) instead of byte mode (8 bits per character).
 * Each pair of bytes becomes three characters and a trailing single byte becomes two.
 * Written here rather than taken from npm: the `base45` package (3.0.0) decodes invalid input
 * (out-of-range triples, foreign characters, a one-character tail) silently into wrong bytes.
 * Decoding is strict: every input has at most one valid reading, so nothing else is accepted.
 */
import { TeeError } from '../../common/errors.js';

/** RFC 9285 section 4: the QR alphanumeric characters, in value order. */
export const BASE45_ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:';

const VALUE_OF: ReadonlyMap<string, number> = new Map([...BASE45_ALPHABET].map((c, i) => [c, i]));

function fail(message: string): never {
  throw new TeeError('BAD_PARAMETERS', `base45: ${message}`, 'API');
}

/** Length of the base45 text for `byteLength` bytes. */
export function base45Length(byteLength: number): number {
  return Math.floor(byteLength / 2) * 3 + (byteLength % 2) * 2;
}

export function encodeBase45(bytes: Uint8Array): string {
  if (!(bytes instanceof Uint8Array)) fail('expected bytes to encode');
  const out: string[] = [];
  let i = 0;
  for (; i + 1 < bytes.length; i += 2) {
    let n = bytes[i]! * 256 + bytes[i + 1]!;
    for (let k = 0; k < 3; k++) {
      out.push(BASE45_ALPHABET[n % 45]!);
      n = Math.floor(n / 45);
    }
  }
  if (i < bytes.length) {
    const n = bytes[i]!;
    out.push(BASE45_ALPHABET[n % 45]!, BASE45_ALPHABET[Math.floor(n / 45)]!);
  }
  return out.join('');
}

export function decodeBase45(text: string): Uint8Array {
  if (typeof text !== 'string') fail('expected a string to decode');
  if (text.length % 3 === 1) fail(`length ${text.length} leaves a dangling character`);
  const out = new Uint8Array(Math.floor(text.length / 3) * 2 + (text.length % 3 === 2 ? 1 : 0));
  let o = 0;
  for (let i = 0; i < text.length; i += 3) {
    const group = text.slice(i, i + 3);
    // Least significant digit first: n = c + d*45 (+ e*45^2).
    let n = 0;
    let weight = 1;
    for (let k = 0; k < group.length; k++) {
      const v = VALUE_OF.get(group[k]!);
      if (v === undefined) fail(`invalid character at position ${i + k}`);
      n += v * weight;
      weight *= 45;
    }
    if (group.length === 3) {
      if (n > 0xffff) fail(`group at position ${i} encodes ${n}, above 65535`);
      out[o++] = n >> 8;
      out[o++] = n & 0xff;
    } else {
      if (n > 0xff) fail(`final pair at position ${i} encodes ${n}, above 255`);
      out[o++] = n;
    }
  }
  return out;
}
