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
  type SignatureAlgorithm,
} from './provider.js';
import { checkAeadInputs, checkHkdfLength, checkRandomLength, checkSecretKey, isAllZero } from './common.js';

const Point = nobleP256.Point;
const N = Point.Fn.ORDER;

function decodePoint(bytes: Uint8Array, title: string) {
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
  isValidPoint(point) {
    try {
      decodePoint(point, 'isValidPoint');
      return true;
    } catch {
      return false;
    }
  },
  mod(value) {
    const r = value % N;
    return r < 0n ? r + N : r;
  },
  scalarToBytes(scalar) {
    if (scalar < 0n || scalar >= N) throw new TeeError('BAD_PARAMETERS', 'scalarToBytes: scalar out of range');
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
  switch (algorithm) {
    case 'chacha20-poly1305':
      return chacha20poly1305(key, nonce, aad);
    case 'aes-256-gcm':
      return gcm(key, nonce, aad);
    default:
      throw new TeeError('NOT_SUPPORTED', 'aead: unknown algorithm');
  }
}

export const nobleProvider: CryptoProvider = {
  name: 'noble',

  randomBytes(length) {
    checkRandomLength(length);
    return nobleRandomBytes(length);
  },

  sha256: (data) => sha256(data),
  hmacSha256: (key, data) => hmac(sha256, key, data),
  hkdfSha256(ikm, salt, info, length) {
    checkHkdfLength(length);
    return hkdf(sha256, ikm, salt, info, length);
  },

  generateKeyPair(algorithm: KeyAlgorithm): KeyPair {
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
      default:
        throw new TeeError('NOT_SUPPORTED', 'generateKeyPair: unknown algorithm');
    }
  },

  publicKeyOf(algorithm, secretKey) {
    checkSecretKey(algorithm, secretKey);
    try {
      switch (algorithm) {
        case 'p256':
          return nobleP256.getPublicKey(secretKey, true);
        case 'ed25519':
          return ed25519.getPublicKey(secretKey);
        case 'x25519':
          return nobleX25519.getPublicKey(secretKey);
      }
    } catch {
      // fall through
    }
    throw new TeeError('BAD_PARAMETERS', `publicKeyOf: invalid ${algorithm} secret key`);
  },

  sign(algorithm: SignatureAlgorithm, secretKey, message) {
    checkSecretKey(algorithm, secretKey);
    try {
      if (algorithm === 'p256') return nobleP256.sign(message, secretKey, { prehash: true, lowS: true });
      if (algorithm === 'ed25519') return ed25519.sign(message, secretKey);
    } catch {
      throw new TeeError('BAD_PARAMETERS', `sign: invalid ${algorithm} secret key`);
    }
    throw new TeeError('NOT_SUPPORTED', 'sign: unknown algorithm');
  },

  verify(algorithm, publicKey, message, signature) {
    try {
      if (!(publicKey instanceof Uint8Array) || !(signature instanceof Uint8Array) || !(message instanceof Uint8Array)) return false;
      if (signature.length !== 64) return false;
      if (algorithm === 'p256') {
        if (publicKey.length !== 33 && publicKey.length !== 65) return false;
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
    checkSecretKey('p256', secretKey);
    decodePoint(peerPublicKey, 'p256Ecdh peer key');
    try {
      return nobleP256.getSharedSecret(secretKey, peerPublicKey, true).slice(1);
    } catch {
      throw new TeeError('SECURITY', 'p256Ecdh: key agreement failed');
    }
  },

  aeadSeal(algorithm, key, nonce, plaintext, aad) {
    checkAeadInputs(key, nonce);
    return aeadCipher(algorithm, key, nonce, aad).encrypt(plaintext);
  },

  aeadOpen(algorithm, key, nonce, sealed, aad) {
    checkAeadInputs(key, nonce);
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
