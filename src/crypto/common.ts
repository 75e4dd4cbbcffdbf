/** Input checks shared by both providers, so they reject bad input with the same codes and messages. */
import { TeeError } from '../common/errors.js';
import { AEAD_KEY_BYTES, AEAD_NONCE_BYTES, type KeyAlgorithm } from './provider.js';

export const MAX_RANDOM_BYTES = 1 << 20;
export const MAX_HKDF_BYTES = 255 * 32;

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

export function checkSecretKey(algorithm: KeyAlgorithm, secretKey: Uint8Array): void {
  if (!(secretKey instanceof Uint8Array) || secretKey.length !== 32) {
    throw new TeeError('BAD_PARAMETERS', `${algorithm}: secret key must be 32 bytes`);
  }
}

export function checkAeadInputs(key: Uint8Array, nonce: Uint8Array): void {
  if (!(key instanceof Uint8Array) || key.length !== AEAD_KEY_BYTES) {
    throw new TeeError('BAD_PARAMETERS', `aead: key must be ${AEAD_KEY_BYTES} bytes`);
  }
  if (!(nonce instanceof Uint8Array) || nonce.length !== AEAD_NONCE_BYTES) {
    throw new TeeError('BAD_PARAMETERS', `aead: nonce must be ${AEAD_NONCE_BYTES} bytes`);
  }
}

export function isAllZero(bytes: Uint8Array): boolean {
  let acc = 0;
  for (const b of bytes) acc |= b;
  return acc === 0;
}
