/**
 * The one cryptography interface every layer uses. Two implementations stand behind it:
 * `noble` (pure TypeScript, the portable reference) and `native` (Node's OpenSSL, for speed).
 * Both take and return the same byte formats, so each can verify the other's output:
 *
 * - P-256 secret keys: 32-byte big-endian scalars; public keys: 33-byte compressed SEC1 points;
 *   signatures: 64-byte compact r||s with low S (s <= n/2), over SHA-256(message). Verification
 *   rejects high-S signatures in both providers so a signature has exactly one valid encoding.
 * - Ed25519 (RFC 8032) and X25519 (RFC 7748): 32-byte secret and public keys, 64-byte signatures.
 * - AEAD: 32-byte key, 12-byte nonce, output ciphertext || 16-byte tag.
 *
 * Failures: `verify` returns false for any malformed input and never throws; everything else throws
 * `TeeError` ('BAD_PARAMETERS' for malformed input, 'SECURITY' for a failed tag or a degenerate key
 * agreement). No message ever quotes key bytes.
 */

export type SignatureAlgorithm = 'p256' | 'ed25519';
export type KeyAlgorithm = SignatureAlgorithm | 'x25519';
export type AeadAlgorithm = 'chacha20-poly1305' | 'aes-256-gcm';
export type ProviderName = 'noble' | 'native';

export const SIGNATURE_ALGORITHMS: readonly SignatureAlgorithm[] = ['p256', 'ed25519'];
export const KEY_ALGORITHMS: readonly KeyAlgorithm[] = ['p256', 'ed25519', 'x25519'];
export const AEAD_ALGORITHMS: readonly AeadAlgorithm[] = ['chacha20-poly1305', 'aes-256-gcm'];

export const AEAD_KEY_BYTES = 32;
export const AEAD_NONCE_BYTES = 12;
export const AEAD_TAG_BYTES = 16;

export interface KeyPair {
  readonly secretKey: Uint8Array;
  readonly publicKey: Uint8Array;
}

/**
 * A signing key loaded into the provider once and used by reference, as a PKCS#11 object handle or
 * a KeyMint key blob is: no import, copy or check of the secret bytes per signature.
 */
export interface LoadedSigningKey {
  readonly algorithm: SignatureAlgorithm;
  /** The same signature `sign` would give. Throws TeeError('BAD_STATE') after `destroy`. */
  sign(message: Uint8Array): Uint8Array;
  /** Forget the key (the provider's copy is zeroed where it holds one). */
  destroy(): void;
}

/**
 * A fixed list of points prepared for repeated sums (a CPK public matrix): the encodings are copied
 * when prepared, and each point is decoded (decompressed and checked) the first time a sum uses it,
 * then kept decoded. Opaque: only the provider that prepared it can use it.
 */
export interface P256PointSet {
  readonly size: number;
}

/** P-256 group arithmetic for CPK. Points are 33-byte compressed encodings; scalars are bigints. */
export interface P256Arithmetic {
  /** The group order n. */
  readonly order: bigint;
  /** k·G; k must be in [1, n-1]. */
  multiplyBase(scalar: bigint): Uint8Array;
  /** k·P; k must be in [1, n-1], P a valid point. */
  multiply(point: Uint8Array, scalar: bigint): Uint8Array;
  /** Sum of points; throws TeeError('SECURITY') if the sum is the point at infinity. */
  addPoints(points: readonly Uint8Array[]): Uint8Array;
  /** Optional (CPK falls back to addPoints). Prepare points for `addPrepared` (copies them; throws BAD_PARAMETERS if an entry is not bytes). */
  preparePoints?(points: readonly Uint8Array[]): P256PointSet;
  /**
   * Sum of the prepared points at `indices`, the same result and errors as `addPoints` of those
   * points (SECURITY at infinity, BAD_PARAMETERS for an invalid point or an index out of range).
   */
  addPrepared?(set: P256PointSet, indices: readonly number[]): Uint8Array;
  /** True if the bytes decode to a point on the curve (not infinity). */
  isValidPoint(point: Uint8Array): boolean;
  /** Reduce any bigint mod n (result in [0, n-1]). */
  mod(value: bigint): bigint;
  /** 32-byte big-endian encoding of a scalar in [0, n-1]. */
  scalarToBytes(scalar: bigint): Uint8Array;
  /** Parse a 32-byte big-endian scalar; throws BAD_PARAMETERS if not in [1, n-1]. */
  scalarFromBytes(bytes: Uint8Array): bigint;
}

export interface CryptoProvider {
  readonly name: ProviderName;

  /** Cryptographically secure random bytes. */
  randomBytes(length: number): Uint8Array;

  sha256(data: Uint8Array): Uint8Array;
  hmacSha256(key: Uint8Array, data: Uint8Array): Uint8Array;
  /** RFC 5869 HKDF with SHA-256. */
  hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array;

  /** Fresh key pair for a signature or key-agreement algorithm. */
  generateKeyPair(algorithm: KeyAlgorithm): KeyPair;
  /** Public key of a secret key (throws BAD_PARAMETERS for an invalid secret). */
  publicKeyOf(algorithm: KeyAlgorithm, secretKey: Uint8Array): Uint8Array;

  sign(algorithm: SignatureAlgorithm, secretKey: Uint8Array, message: Uint8Array): Uint8Array;
  /**
   * Optional: the same signature as `sign`, computed off the calling thread where the provider can
   * (native: libuv's thread pool), as a secure element signs on its own processor. Rejects with the
   * same TeeError as `sign` for bad input.
   */
  signAsync?(algorithm: SignatureAlgorithm, secretKey: Uint8Array, message: Uint8Array): Promise<Uint8Array>;
  /**
   * Load a signing key for many signatures (throws as `sign` does for a bad algorithm or key). The
   * caller's buffer is not kept: it may be zeroized at once.
   */
  loadSigningKey(algorithm: SignatureAlgorithm, secretKey: Uint8Array): LoadedSigningKey;
  verify(algorithm: SignatureAlgorithm, publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean;
  /**
   * Optional: the same answer as `verify`, computed off the calling thread where the provider can
   * (native: libuv's thread pool), so a server can check many signatures in parallel without
   * worker threads. Resolves to false for malformed input; never rejects.
   */
  verifyAsync?(algorithm: SignatureAlgorithm, publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): Promise<boolean>;

  /** X25519 shared secret (raw; run it through HKDF). Throws SECURITY on an all-zero result. */
  x25519(secretKey: Uint8Array, peerPublicKey: Uint8Array): Uint8Array;
  /** P-256 ECDH: the 32-byte x-coordinate of the shared point (raw; run it through HKDF). */
  p256Ecdh(secretKey: Uint8Array, peerPublicKey: Uint8Array): Uint8Array;

  aeadSeal(algorithm: AeadAlgorithm, key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Uint8Array;
  /** Throws TeeError('SECURITY') if the tag does not verify. */
  aeadOpen(algorithm: AeadAlgorithm, key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Uint8Array;

  readonly p256: P256Arithmetic;
}
