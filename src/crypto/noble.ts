/** The portable reference provider: @noble/curves, @noble/ciphers and @noble/hashes only. */
import { p256 as nobleP256 } from '@noble/curves/nist.js';
import { ed25519, x25519 as nobleX25519 } from '@noble/curves/ed25519.js';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { gcm } from '@noble/ciphers/aes.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { hmac } from '@noble/hashes/hmac.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { randomBytes as nobleRandomBytes } from '@noble/hashes/utils.js';
import { TeeError } from '../common/errors.js';
import {
  AEAD_KEY_BYTES,
  AEAD_NONCE_BYTES,
  AEAD_TAG_BYTES,
  type AeadAlgorithm,
  type CryptoProvider,
  type KeyAlgorithm,
  type KeyPair,
  type P256Arithmetic,
  type P256PointSet,
  type SignatureAlgorithm,
} from './provider.js';
import {
  checkAeadAlgorithm,
  checkAeadData,
  checkAeadInputs,
  checkHkdfLength,
  checkInputBytes,
  checkKeyAlgorithm,
  checkMessage,
  checkP256SecretKey,
  checkRandomLength,
  checkSecretKey,
  checkSecretKeyFor,
  checkSignatureAlgorithm,
  isAllZero,
  isP256EncodingShape,
  loadedSigningKey,
} from './common.js';

const Point = nobleP256.Point;
const N = Point.Fn.ORDER;

/** One signature in the shared format (inputs already checked): P-256 over SHA-256 with low S, or Ed25519. */
function nobleSign(algorithm: SignatureAlgorithm, secretKey: Uint8Array, message: Uint8Array): Uint8Array {
  if (algorithm === 'p256') return nobleP256.sign(message, secretKey, { prehash: true, lowS: true });
  return ed25519.sign(message, secretKey);
}

function decodePoint(bytes: Uint8Array, title: string) {
  if (!(bytes instanceof Uint8Array) || !isP256EncodingShape(bytes)) {
    throw new TeeError('BAD_PARAMETERS', `${title}: not a valid P-256 point`);
  }
  try {
    const p = Point.fromBytes(bytes);
    p.assertValidity();
    return p;
  } catch {
    throw new TeeError('BAD_PARAMETERS', `${title}: not a valid P-256 point`);
  }
}

function checkScalar(scalar: bigint, title: string): void {
  if (typeof scalar !== 'bigint' || scalar <= 0n || scalar >= N) {
    throw new TeeError('BAD_PARAMETERS', `${title}: scalar out of range [1, n-1]`);
  }
}

/** The reference P256PointSet: encodings copied at preparation, points decoded on first use. */
class NoblePointSet implements P256PointSet {
  readonly encoded: readonly Uint8Array[];
  readonly decoded: (InstanceType<typeof Point> | undefined)[];
  constructor(points: readonly Uint8Array[]) {
    if (!Array.isArray(points)) throw new TeeError('BAD_PARAMETERS', 'preparePoints: expected an array of points');
    this.encoded = points.map((p) => {
      if (!(p instanceof Uint8Array)) throw new TeeError('BAD_PARAMETERS', 'preparePoints: not a valid P-256 point');
      return new Uint8Array(p);
    });
    this.decoded = new Array<InstanceType<typeof Point> | undefined>(points.length);
  }
  get size(): number {
    return this.encoded.length;
  }
  point(index: number): InstanceType<typeof Point> {
    if (!Number.isSafeInteger(index) || index < 0 || index >= this.encoded.length) {
      throw new TeeError('BAD_PARAMETERS', 'addPrepared: index out of range');
    }
    let p = this.decoded[index];
    if (!p) {
      p = decodePoint(this.encoded[index]!, 'addPoints');
      this.decoded[index] = p;
    }
    return p;
  }
}

export const nobleP256Arithmetic: P256Arithmetic = {
  order: N,
  multiplyBase(scalar) {
    checkScalar(scalar, 'multiplyBase');
    return Point.BASE.multiply(scalar).toBytes(true);
  },
  multiply(point, scalar) {
    checkScalar(scalar, 'multiply');
    return decodePoint(point, 'multiply').multiply(scalar).toBytes(true);
  },
  addPoints(points) {
    let acc = Point.ZERO;
    for (const p of points) acc = acc.add(decodePoint(p, 'addPoints'));
    if (acc.is0()) throw new TeeError('SECURITY', 'addPoints: sum is the point at infinity');
    return acc.toBytes(true);
  },
  preparePoints(points) {
    return new NoblePointSet(points);
  },
  addPrepared(set, indices) {
    if (!(set instanceof NoblePointSet)) throw new TeeError('BAD_PARAMETERS', 'addPrepared: not a point set of this provider');
    let acc = Point.ZERO;
    for (const i of indices) acc = acc.add(set.point(i));
    if (acc.is0()) throw new TeeError('SECURITY', 'addPoints: sum is the point at infinity');
    return acc.toBytes(true);
  },
  isValidPoint(point) {
    try {
      decodePoint(point, 'isValidPoint');
      return true;
    } catch {
      return false;
    }
  },
  mod(value) {
    if (typeof value !== 'bigint') throw new TeeError('BAD_PARAMETERS', 'mod: expected a bigint');
    const r = value % N;
    return r < 0n ? r + N : r;
  },
  scalarToBytes(scalar) {
    if (typeof scalar !== 'bigint' || scalar < 0n || scalar >= N) throw new TeeError('BAD_PARAMETERS', 'scalarToBytes: scalar out of range');
    const hex = scalar.toString(16).padStart(64, '0');
    return new Uint8Array(Buffer.from(hex, 'hex'));
  },
  scalarFromBytes(bytes) {
    if (!(bytes instanceof Uint8Array) || bytes.length !== 32) throw new TeeError('BAD_PARAMETERS', 'scalar: expected 32 bytes');
    const s = BigInt('0x' + Buffer.from(bytes).toString('hex'));
    checkScalar(s, 'scalar');
    return s;
  },
};

function aeadCipher(algorithm: AeadAlgorithm, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array) {
  return algorithm === 'chacha20-poly1305' ? chacha20poly1305(key, nonce, aad) : gcm(key, nonce, aad);
}

export const nobleProvider: CryptoProvider = {
  name: 'noble',

  randomBytes(length) {
    checkRandomLength(length);
    return nobleRandomBytes(length);
  },

  sha256(data) {
    checkInputBytes(data, 'sha256: data');
    return sha256(data);
  },
  hmacSha256(key, data) {
    checkInputBytes(key, 'hmacSha256: key');
    checkInputBytes(data, 'hmacSha256: data');
    return hmac(sha256, key, data);
  },
  hkdfSha256(ikm, salt, info, length) {
    checkHkdfLength(length);
    checkInputBytes(ikm, 'hkdfSha256: ikm');
    checkInputBytes(salt, 'hkdfSha256: salt');
    checkInputBytes(info, 'hkdfSha256: info');
    return hkdf(sha256, ikm, salt, info, length);
  },

  generateKeyPair(algorithm: KeyAlgorithm): KeyPair {
    checkKeyAlgorithm(algorithm, 'generateKeyPair');
    switch (algorithm) {
      case 'p256': {
        const secretKey = nobleP256.utils.randomSecretKey();
        return { secretKey, publicKey: nobleP256.getPublicKey(secretKey, true) };
      }
      case 'ed25519': {
        const secretKey = ed25519.utils.randomSecretKey();
        return { secretKey, publicKey: ed25519.getPublicKey(secretKey) };
      }
      case 'x25519': {
        const secretKey = nobleX25519.utils.randomSecretKey();
        return { secretKey, publicKey: nobleX25519.getPublicKey(secretKey) };
      }
    }
  },

  publicKeyOf(algorithm, secretKey) {
    checkKeyAlgorithm(algorithm, 'publicKeyOf');
    checkSecretKeyFor(algorithm, secretKey);
    if (algorithm === 'p256') return nobleP256.getPublicKey(secretKey, true);
    if (algorithm === 'ed25519') return ed25519.getPublicKey(secretKey);
    return nobleX25519.getPublicKey(secretKey);
  },

  sign(algorithm: SignatureAlgorithm, secretKey, message) {
    checkSignatureAlgorithm(algorithm, 'sign');
    checkSecretKeyFor(algorithm, secretKey);
    checkMessage(message, 'sign');
    return nobleSign(algorithm, secretKey, message);
  },

  loadSigningKey(algorithm: SignatureAlgorithm, secretKey: Uint8Array) {
    checkSignatureAlgorithm(algorithm, 'sign');
    checkSecretKeyFor(algorithm, secretKey);
    // A private copy, zeroed by destroy: the caller may zeroize its own at once.
    const key = new Uint8Array(secretKey);
    return loadedSigningKey(algorithm, (message) => nobleSign(algorithm, key, message), () => key.fill(0));
  },

  verify(algorithm, publicKey, message, signature) {
    try {
      if (!(publicKey instanceof Uint8Array) || !(signature instanceof Uint8Array) || !(message instanceof Uint8Array)) return false;
      if (signature.length !== 64) return false;
      if (algorithm === 'p256') {
        if (!isP256EncodingShape(publicKey)) return false;
        return nobleP256.verify(signature, message, publicKey, { prehash: true, lowS: true });
      }
      if (algorithm === 'ed25519') {
        if (publicKey.length !== 32) return false;
        return ed25519.verify(signature, message, publicKey, { zip215: false });
      }
      return false;
    } catch {
      return false;
    }
  },

  x25519(secretKey, peerPublicKey) {
    checkSecretKey('x25519', secretKey);
    if (!(peerPublicKey instanceof Uint8Array) || peerPublicKey.length !== 32) {
      throw new TeeError('BAD_PARAMETERS', 'x25519: peer public key must be 32 bytes');
    }
    let shared: Uint8Array;
    try {
      shared = nobleX25519.getSharedSecret(secretKey, peerPublicKey);
    } catch {
      throw new TeeError('SECURITY', 'x25519: degenerate shared secret (low-order peer key)');
    }
    if (isAllZero(shared)) throw new TeeError('SECURITY', 'x25519: degenerate shared secret (low-order peer key)');
    return shared;
  },

  p256Ecdh(secretKey, peerPublicKey) {
    checkP256SecretKey(secretKey);
    decodePoint(peerPublicKey, 'p256Ecdh peer key');
    try {
      return nobleP256.getSharedSecret(secretKey, peerPublicKey, true).slice(1);
    } catch {
      throw new TeeError('SECURITY', 'p256Ecdh: key agreement failed');
    }
  },

  aeadSeal(algorithm, key, nonce, plaintext, aad) {
    checkAeadAlgorithm(algorithm);
    checkAeadInputs(key, nonce);
    checkAeadData(plaintext, 'plaintext');
    checkAeadData(aad, 'aad');
    return aeadCipher(algorithm, key, nonce, aad).encrypt(plaintext);
  },

  aeadOpen(algorithm, key, nonce, sealed, aad) {
    checkAeadAlgorithm(algorithm);
    checkAeadInputs(key, nonce);
    checkAeadData(aad, 'aad');
    if (!(sealed instanceof Uint8Array) || sealed.length < AEAD_TAG_BYTES) {
      throw new TeeError('SECURITY', 'aeadOpen: ciphertext shorter than the tag');
    }
    try {
      return aeadCipher(algorithm, key, nonce, aad).decrypt(sealed);
    } catch (err) {
      if (err instanceof TeeError) throw err;
      throw new TeeError('SECURITY', 'aeadOpen: authentication failed');
    }
  },

  p256: nobleP256Arithmetic,
};

export { AEAD_KEY_BYTES, AEAD_NONCE_BYTES };
