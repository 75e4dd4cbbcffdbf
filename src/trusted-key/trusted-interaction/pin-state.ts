/**
 * The PIN and PUK as the key stores them: never the PIN itself, but a salted verifier
 * HMAC-SHA256(K, salt || pin) under a key K derived from the device secret, so even a copy of the
 * decrypted record cannot be brute-forced away from the device. The retry counters sit in the same
 * record, so a verification and its counter update are one atomic write.
 */
import { concatBytes, constantTimeEqual, zeroize } from '../../common/bytes.js';
import { abytes, aint } from '../../common/checks.js';
import { decode, encode } from '../../common/codec.js';
import { TeeError } from '../../common/errors.js';
import type { CryptoProvider } from '../../crypto/provider.js';

export interface SecretState {
  salt: Uint8Array;
  verifier: Uint8Array;
  /** Tries left before blocking. */
  tries: number;
  maxTries: number;
}

export interface PinState {
  pin: SecretState;
  puk: SecretState;
}

export const SALT_BYTES = 16;

export function makeVerifier(provider: CryptoProvider, key: Uint8Array, salt: Uint8Array, secret: Uint8Array): Uint8Array {
  const input = concatBytes(salt, secret);
  try {
    return provider.hmacSha256(key, input);
  } finally {
    zeroize(input);
  }
}

export function freshSecretState(provider: CryptoProvider, key: Uint8Array, secret: Uint8Array, maxTries: number): SecretState {
  const salt = provider.randomBytes(SALT_BYTES);
  return { salt, verifier: makeVerifier(provider, key, salt, secret), tries: maxTries, maxTries };
}

export function matches(provider: CryptoProvider, key: Uint8Array, state: SecretState, secret: Uint8Array): boolean {
  return constantTimeEqual(makeVerifier(provider, key, state.salt, secret), state.verifier);
}

const pack = (s: SecretState) => [s.salt, s.verifier, s.tries, s.maxTries];

export function encodePinState(state: PinState): Uint8Array {
  return encode([1, pack(state.pin), pack(state.puk)]);
}

function unpack(value: unknown, title: string): SecretState {
  if (!Array.isArray(value) || value.length !== 4) throw new Error(title);
  const maxTries = aint(value[3], `${title} max tries`, 1, 100);
  return {
    salt: new Uint8Array(abytes(value[0], `${title} salt`, SALT_BYTES)),
    verifier: new Uint8Array(abytes(value[1], `${title} verifier`, 32)),
    tries: aint(value[2], `${title} tries`, 0, maxTries),
    maxTries,
  };
}

export function decodePinState(bytes: Uint8Array): PinState {
  try {
    const v = decode(bytes, 1024, 'TRUSTED_KEY');
    if (!Array.isArray(v) || v.length !== 3 || v[0] !== 1) throw new Error('shape');
    return { pin: unpack(v[1], 'pin'), puk: unpack(v[2], 'puk') };
  } catch {
    throw new TeeError('CORRUPT_OBJECT', 'PIN: stored state is malformed', 'TRUSTED_KEY');
  }
}
