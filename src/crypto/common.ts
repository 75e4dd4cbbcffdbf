/** Input checks shared by both providers, so they reject bad input with the same codes and messages. */
import { TeeError } from '../common/errors.js';
import {
  AEAD_ALGORITHMS,
  AEAD_KEY_BYTES,
  AEAD_NONCE_BYTES,
  KEY_ALGORITHMS,
  SIGNATURE_ALGORITHMS,
  type AeadAlgorithm,
  type KeyAlgorithm,
  type LoadedSigningKey,
  type SignatureAlgorithm,
} from './provider.js';

export const MAX_RANDOM_BYTES = 1 << 20;
export const MAX_HKDF_BYTES = 255 * 32;

/** The P-256 group order n; a secret scalar must lie in [1, n-1]. */
export const P256_ORDER = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;

export function checkRandomLength(length: number): void {
  if (!Number.isSafeInteger(length) || length < 0 || length > MAX_RANDOM_BYTES) {
    throw new TeeError('BAD_PARAMETERS', `randomBytes: length must be in [0, ${MAX_RANDOM_BYTES}]`);
  }
}

export function checkHkdfLength(length: number): void {
  if (!Number.isSafeInteger(length) || length < 1 || length > MAX_HKDF_BYTES) {
    throw new TeeError('BAD_PARAMETERS', `hkdfSha256: length must be in [1, ${MAX_HKDF_BYTES}]`);
  }
}

/** Unknown algorithm names are NOT_SUPPORTED, checked before any other argument. */
export function checkKeyAlgorithm(algorithm: unknown, op: string): asserts algorithm is KeyAlgorithm {
  if (!(KEY_ALGORITHMS as readonly unknown[]).includes(algorithm)) {
    throw new TeeError('NOT_SUPPORTED', `${op}: unknown algorithm`);
  }
}

export function checkSignatureAlgorithm(algorithm: unknown, op: string): asserts algorithm is SignatureAlgorithm {
  if (!(SIGNATURE_ALGORITHMS as readonly unknown[]).includes(algorithm)) {
    throw new TeeError('NOT_SUPPORTED', `${op}: unknown algorithm`);
  }
}

export function checkAeadAlgorithm(algorithm: unknown): asserts algorithm is AeadAlgorithm {
  if (!(AEAD_ALGORITHMS as readonly unknown[]).includes(algorithm)) {
    throw new TeeError('NOT_SUPPORTED', 'aead: unknown algorithm');
  }
}

export function checkSecretKey(algorithm: KeyAlgorithm, secretKey: Uint8Array): void {
  if (!(secretKey instanceof Uint8Array) || secretKey.length !== 32) {
    throw new TeeError('BAD_PARAMETERS', `${algorithm}: secret key must be 32 bytes`);
  }
}

/** Big-endian unsigned integer of a byte string (public values: it goes through a hex string). */
export function bytesToBigInt(bytes: Uint8Array): bigint {
  return bytes.length === 0 ? 0n : BigInt('0x' + Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex'));
}

/** 32-byte big-endian encoding of a value in [0, 2^256). */
export function bigIntTo32Bytes(value: bigint): Uint8Array {
  return new Uint8Array(Buffer.from(value.toString(16).padStart(64, '0'), 'hex'));
}

/** -1, 0 or 1 as big-endian `a` is below, equal to or above `b` (same length). */
export function compareBigEndian(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) return a[i]! < b[i]! ? -1 : 1;
  }
  return 0;
}

export const P256_ORDER_BYTES = bigIntTo32Bytes(P256_ORDER);

/** n − s for a 32-byte big-endian s in (0, n), written over `s` (schoolbook subtraction with borrow). */
export function negateP256ScalarInPlace(s: Uint8Array): void {
  let borrow = 0;
  for (let i = 31; i >= 0; i--) {
    const d = P256_ORDER_BYTES[i]! - s[i]! - borrow;
    borrow = d < 0 ? 1 : 0;
    s[i] = d & 0xff;
  }
}
export const P256_HALF_ORDER_BYTES = bigIntTo32Bytes(P256_ORDER >> 1n);

/**
 * A 32-byte secret key that is also a valid P-256 scalar in [1, n-1]. Compared as bytes, so the
 * secret never becomes a string or a bigint (neither can be zeroed).
 */
export function checkP256SecretKey(secretKey: Uint8Array): void {
  checkSecretKey('p256', secretKey);
  if (!isP256Scalar(secretKey)) throw new TeeError('BAD_PARAMETERS', 'p256: invalid secret key');
}

/** 32 bytes that, read big-endian, are in [1, n-1] (compared as bytes, as above). */
export function isP256Scalar(bytes: Uint8Array): boolean {
  return bytes.length === 32 && !isAllZero(bytes) && compareBigEndian(bytes, P256_ORDER_BYTES) < 0;
}

/** Secret-key check for any key algorithm (length, plus the scalar range for P-256). */
export function checkSecretKeyFor(algorithm: KeyAlgorithm, secretKey: Uint8Array): void {
  if (algorithm === 'p256') checkP256SecretKey(secretKey);
  else checkSecretKey(algorithm, secretKey);
}

/** Any byte input ('<title> must be bytes'): Node would accept strings and noble would crash with its own error. */
export function checkInputBytes(value: unknown, title: string): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) throw new TeeError('BAD_PARAMETERS', `${title} must be bytes`);
}

export function checkMessage(message: unknown, op: string): asserts message is Uint8Array {
  checkInputBytes(message, `${op}: message`);
}

/**
 * The LoadedSigningKey both providers hand out: `signWith` signs with the provider's own form of the
 * key, `release` lets go of it; after `destroy` a signature is BAD_STATE, and every message is
 * checked as `sign` checks it.
 */
export function loadedSigningKey(algorithm: SignatureAlgorithm, signWith: (message: Uint8Array) => Uint8Array, release: () => void): LoadedSigningKey {
  let live = true;
  return {
    algorithm,
    sign(message: Uint8Array): Uint8Array {
      if (!live) throw new TeeError('BAD_STATE', 'sign: key was destroyed');
      checkMessage(message, 'sign');
      return signWith(message);
    },
    destroy(): void {
      live = false;
      release();
    },
  };
}

export function checkAeadInputs(key: Uint8Array, nonce: Uint8Array): void {
  if (!(key instanceof Uint8Array) || key.length !== AEAD_KEY_BYTES) {
    throw new TeeError('BAD_PARAMETERS', `aead: key must be ${AEAD_KEY_BYTES} bytes`);
  }
  if (!(nonce instanceof Uint8Array) || nonce.length !== AEAD_NONCE_BYTES) {
    throw new TeeError('BAD_PARAMETERS', `aead: nonce must be ${AEAD_NONCE_BYTES} bytes`);
  }
}

/** Plaintext, ciphertext and associated data must be bytes (Node would accept strings, noble would crash). */
export function checkAeadData(value: unknown, title: string): void {
  checkInputBytes(value, `aead: ${title}`);
}

/** A SEC1 P-256 encoding of the right shape: 0x02/0x03 + 32 bytes, or 0x04 + 64 bytes (no hybrid 0x06/0x07). */
export function isP256EncodingShape(bytes: Uint8Array): boolean {
  if (bytes.length === 33) return bytes[0] === 0x02 || bytes[0] === 0x03;
  if (bytes.length === 65) return bytes[0] === 0x04;
  return false;
}

export function isAllZero(bytes: Uint8Array): boolean {
  let acc = 0;
  for (const b of bytes) acc |= b;
  return acc === 0;
}
