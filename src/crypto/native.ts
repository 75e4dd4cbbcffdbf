/**
 * The fast provider: Node's built-in OpenSSL through node:crypto. It speaks the same byte formats as
 * the noble reference (see ./provider.ts); P-256 group arithmetic, which node:crypto does not
 * expose, stays on noble.
 *
 * Raw keys are turned into KeyObjects once and cached in a WeakMap keyed by the Uint8Array itself:
 * callers that keep a key in one buffer (the trusted key's key table does) pay the import once. A hit
 * is used only while the buffer still holds the bytes the KeyObject was built from.
 *
 * Where OpenSSL is more lenient than the reference, the reference's rule is applied first: Ed25519
 * public keys must decode strictly and not be of small order (checked with noble, once per cached key),
 * P-256 keys must be compressed or uncompressed SEC1 (no hybrid form), HKDF info over 1024 bytes
 * (which hkdfSync refuses) goes through HMAC.
 */
import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  ECDH,
  hash as oneShotHash,
  hkdfSync,
  randomBytes as nodeRandomBytes,
  randomFillSync,
  sign as nodeSign,
  timingSafeEqual,
  verify as nodeVerify,
  type CipherGCMTypes,
  type KeyObject,
} from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import { TeeError } from '../common/errors.js';
import { nobleP256Arithmetic } from './noble.js';
import {
  AEAD_TAG_BYTES,
  type AeadAlgorithm,
  type CryptoProvider,
  type KeyAlgorithm,
  type KeyPair,
  type SignatureAlgorithm,
} from './provider.js';
import {
  bytesToBigInt,
  compareBigEndian,
  negateP256ScalarInPlace,
  P256_HALF_ORDER_BYTES,
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
  isP256Scalar,
  loadedSigningKey,
  P256_ORDER,
} from './common.js';

const P256_N = P256_ORDER;
const P256_HALF_N = P256_N >> 1n;
/** node:crypto's hkdfSync refuses info longer than this; longer info takes the HMAC path. */
const NODE_HKDF_MAX_INFO = 1024;

// DER prefixes: fixed for each algorithm, so raw keys wrap into SPKI/PKCS#8 without a parser.
const SPKI_P256_UNCOMPRESSED = Buffer.from('3059301306072a8648ce3d020106082a8648ce3d030107034200', 'hex');
const SPKI_ED25519 = Buffer.from('302a300506032b6570032100', 'hex');
const SPKI_X25519 = Buffer.from('302a300506032b656e032100', 'hex');
const PKCS8_ED25519 = Buffer.from('302e020100300506032b657004220420', 'hex');
const PKCS8_X25519 = Buffer.from('302e020100300506032b656e04220420', 'hex');
// RFC 5915 ECPrivateKey inside PKCS#8, without the optional public key.
const PKCS8_P256 = Buffer.from('3041020100301306072a8648ce3d020106082a8648ce3d030107042730250201010420', 'hex');

/**
 * Cache entries remember what the bytes were when the KeyObject was built: a caller may overwrite
 * (zeroize, reuse) the same Uint8Array, and a hit must then miss instead of using the old key.
 * Secret keys are remembered by their SHA-256 only, so the cache holds no extra copy of the secret.
 */
interface PrivateEntry {
  readonly alg: KeyAlgorithm;
  readonly key: KeyObject;
  readonly fingerprint: Buffer;
}
interface PublicEntry {
  readonly alg: KeyAlgorithm;
  readonly key: KeyObject;
  readonly copy: Buffer;
}
const privateCache = new WeakMap<Uint8Array, PrivateEntry>();
const publicCache = new WeakMap<Uint8Array, PublicEntry>();

/**
 * Second level for secret keys, by content: callers that copy a key out of storage for each use and
 * zeroize the copy afterwards (the trusted key does) would otherwise pay a PKCS#8 import (~0.6 ms in
 * OpenSSL 3, several times the cost of a P-256 signature) on every call. Keyed by algorithm and the
 * SHA-256 fingerprint already computed for the WeakMap check; bounded, least recently used first out.
 * Trade-off: a KeyObject (OpenSSL memory, never exported) outlives the caller's zeroized copy until
 * it is evicted or the process ends, as entries of the per-buffer cache already did until GC.
 * X25519 keys are never kept here: they are the channel's ephemeral keys, used once and zeroized,
 * and a copy kept for 128 more keys would undo the forward secrecy the handshake promises.
 */
const FINGERPRINT_CACHE_SIZE = 128;
const privateByFingerprint = new Map<string, KeyObject>();

/** How many keys of each algorithm the by-content cache holds (counts only; for tests and diagnostics). */
export function retainedPrivateKeys(): Record<KeyAlgorithm, number> {
  const counts: Record<KeyAlgorithm, number> = { p256: 0, ed25519: 0, x25519: 0 };
  for (const id of privateByFingerprint.keys()) counts[id.slice(0, id.indexOf(':')) as KeyAlgorithm]++;
  return counts;
}

function rememberByFingerprint(id: string, key: KeyObject): void {
  if (id.startsWith('x25519:')) return;
  privateByFingerprint.delete(id);
  if (privateByFingerprint.size >= FINGERPRINT_CACHE_SIZE) privateByFingerprint.delete(privateByFingerprint.keys().next().value!);
  privateByFingerprint.set(id, key);
}

function buf(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function u8(b: Buffer | ArrayBuffer): Uint8Array {
  return b instanceof ArrayBuffer ? new Uint8Array(b) : new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

function fingerprint(secretKey: Uint8Array): Buffer {
  return oneShotHash('sha256', secretKey, 'buffer');
}

function privateKeyObject(alg: KeyAlgorithm, secretKey: Uint8Array): KeyObject {
  checkSecretKeyFor(alg, secretKey);
  const fp = fingerprint(secretKey);
  const hit = privateCache.get(secretKey);
  if (hit && hit.alg === alg && timingSafeEqual(hit.fingerprint, fp)) return hit.key;
  const id = `${alg}:${fp.toString('base64')}`;
  const known = privateByFingerprint.get(id);
  if (known) {
    rememberByFingerprint(id, known);
    privateCache.set(secretKey, { alg, key: known, fingerprint: fp });
    return known;
  }
  const prefix = alg === 'p256' ? PKCS8_P256 : alg === 'ed25519' ? PKCS8_ED25519 : PKCS8_X25519;
  const der = Buffer.concat([prefix, buf(secretKey)]);
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  } catch {
    throw new TeeError('BAD_PARAMETERS', `${alg}: invalid secret key`);
  } finally {
    der.fill(0);
  }
  privateCache.set(secretKey, { alg, key, fingerprint: fp });
  rememberByFingerprint(id, key);
  return key;
}

/** `sign`'s checks before OpenSSL, in its order: algorithm, key, message. */
function signingKey(algorithm: SignatureAlgorithm, secretKey: Uint8Array, message: Uint8Array): KeyObject {
  checkSignatureAlgorithm(algorithm, 'sign');
  const key = privateKeyObject(algorithm, secretKey);
  checkMessage(message, 'sign');
  return key;
}

/** One signature in the shared format with an imported key (the message already checked). */
function signWithKey(algorithm: SignatureAlgorithm, key: KeyObject, message: Uint8Array): Uint8Array {
  if (algorithm === 'ed25519') return u8(nodeSign(null, message, key));
  return lowS(nodeSign('sha256', message, { key, dsaEncoding: 'ieee-p1363' }));
}

/** OpenSSL does not normalise S; the shared format is low-S (one valid encoding per signature). */
function lowS(sig: Buffer): Uint8Array {
  // Half the time S is already low: a byte compare settles it without bigint arithmetic.
  const s = sig.subarray(32);
  if (compareBigEndian(s, P256_HALF_ORDER_BYTES) > 0) negateP256ScalarInPlace(s);
  return u8(sig);
}

/**
 * Ed25519 public keys OpenSSL would take but the reference rejects (RFC 8032 strict decoding, as noble
 * with zip215: false): non-canonical encodings and small-order points. With a small-order key,
 * OpenSSL's cofactorless check accepts R = identity, S = 0 as a signature on every message.
 */
function isStrictEd25519PublicKey(publicKey: Uint8Array): boolean {
  try {
    return !ed25519.Point.fromBytes(publicKey, false).isSmallOrder();
  } catch {
    return false;
  }
}

/** Public KeyObject, or null for malformed input (verify must not throw). */
function publicKeyObject(alg: KeyAlgorithm, publicKey: Uint8Array): KeyObject | null {
  const hit = publicCache.get(publicKey);
  if (hit && hit.alg === alg && hit.copy.equals(publicKey)) return hit.key;
  let der: Buffer;
  try {
    if (alg === 'p256') {
      if (!isP256EncodingShape(publicKey)) return null;
      const uncompressed = publicKey.length === 65 ? buf(publicKey) : (ECDH.convertKey(buf(publicKey), 'prime256v1', undefined, undefined, 'uncompressed') as Buffer);
      der = Buffer.concat([SPKI_P256_UNCOMPRESSED, uncompressed]);
    } else {
      if (publicKey.length !== 32) return null;
      if (alg === 'ed25519' && !isStrictEd25519PublicKey(publicKey)) return null;
      der = Buffer.concat([alg === 'ed25519' ? SPKI_ED25519 : SPKI_X25519, buf(publicKey)]);
    }
    const key = createPublicKey({ key: der, format: 'der', type: 'spki' });
    publicCache.set(publicKey, { alg, key, copy: Buffer.from(publicKey) });
    return key;
  } catch {
    return null;
  }
}

/**
 * `verify`'s checks before OpenSSL: known algorithm, byte inputs, 64-byte signature, a key that
 * decodes, and for P-256 r, s in range with low S. Null means "does not verify".
 */
function verifyKey(algorithm: SignatureAlgorithm, publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): KeyObject | null {
  if (algorithm !== 'p256' && algorithm !== 'ed25519') return null;
  if (!(publicKey instanceof Uint8Array) || !(signature instanceof Uint8Array) || !(message instanceof Uint8Array)) return null;
  if (signature.length !== 64) return null;
  const key = publicKeyObject(algorithm, publicKey);
  if (!key) return null;
  if (algorithm === 'p256') {
    const r = bytesToBigInt(signature.subarray(0, 32));
    const s = bytesToBigInt(signature.subarray(32));
    if (r === 0n || r >= P256_N || s === 0n || s > P256_HALF_N) return null;
  }
  return key;
}

function rawPublicKey(alg: KeyAlgorithm, key: KeyObject): Uint8Array {
  const jwk = key.export({ format: 'jwk' });
  if (alg === 'p256') {
    const x = Buffer.from(jwk.x as string, 'base64url');
    const y = Buffer.from(jwk.y as string, 'base64url');
    const out = new Uint8Array(33);
    out[0] = (y[y.length - 1]! & 1) === 1 ? 0x03 : 0x02;
    out.set(x, 33 - x.length);
    return out;
  }
  return u8(Buffer.from(jwk.x as string, 'base64url'));
}

/** RFC 5869 with HMAC-SHA256, for inputs node:crypto's hkdfSync refuses (info over 1024 bytes). */
function hkdfWithHmac(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  const prk = createHmac('sha256', salt.length === 0 ? Buffer.alloc(32) : salt).update(ikm).digest();
  const out = new Uint8Array(length);
  let block: Buffer = Buffer.alloc(0);
  for (let i = 1, off = 0; off < length; i++) {
    block = createHmac('sha256', prk).update(block).update(info).update(Uint8Array.of(i)).digest();
    out.set(block.subarray(0, Math.min(32, length - off)), off);
    off += 32;
  }
  prk.fill(0);
  block.fill(0);
  return out;
}

// @types/node 20 types chacha20-poly1305 only loosely; both ciphers take the same AEAD options at run time.
const AEAD_CIPHER: Record<AeadAlgorithm, CipherGCMTypes> = {
  'chacha20-poly1305': 'chacha20-poly1305' as CipherGCMTypes,
  'aes-256-gcm': 'aes-256-gcm',
};

function cipherName(algorithm: AeadAlgorithm): CipherGCMTypes {
  checkAeadAlgorithm(algorithm);
  return AEAD_CIPHER[algorithm];
}

export const nativeProvider: CryptoProvider = {
  name: 'native',

  randomBytes(length) {
    checkRandomLength(length);
    return u8(nodeRandomBytes(length));
  },

  sha256(data) {
    checkInputBytes(data, 'sha256: data');
    // One call, no Hash object: ~1.1 µs against ~1.4 µs for createHash().update().digest() on small input.
    return u8(oneShotHash('sha256', data, 'buffer'));
  },
  hmacSha256(key, data) {
    checkInputBytes(key, 'hmacSha256: key');
    checkInputBytes(data, 'hmacSha256: data');
    return u8(createHmac('sha256', key).update(data).digest());
  },
  hkdfSha256(ikm, salt, info, length) {
    checkHkdfLength(length);
    checkInputBytes(ikm, 'hkdfSha256: ikm');
    checkInputBytes(salt, 'hkdfSha256: salt');
    checkInputBytes(info, 'hkdfSha256: info');
    if (info.length > NODE_HKDF_MAX_INFO) return hkdfWithHmac(ikm, salt, info, length);
    return u8(hkdfSync('sha256', ikm, salt, info, length));
  },

  generateKeyPair(algorithm: KeyAlgorithm): KeyPair {
    checkKeyAlgorithm(algorithm, 'generateKeyPair');
    // The secret is 32 bytes from OpenSSL's CSPRNG (X25519: RFC 7748 §6.1; Ed25519 seed: RFC 8032
    // §5.1.5; P-256: rejection sampling into [1, n-1], FIPS 186-5 A.2.2), imported like any other
    // key. Not generateKeyPairSync: on Node 20 its finished job object can be garbage-collected
    // while the new key's lock is held (e.g. during the key's export), and the job's destructor then
    // waits on that lock for ever: a hung process, seen in a test run and reproduced in isolation.
    const secretKey = new Uint8Array(32);
    do randomFillSync(secretKey);
    while (algorithm === 'p256' && !isP256Scalar(secretKey));
    return { secretKey, publicKey: rawPublicKey(algorithm, privateKeyObject(algorithm, secretKey)) };
  },

  publicKeyOf(algorithm, secretKey) {
    checkKeyAlgorithm(algorithm, 'publicKeyOf');
    return rawPublicKey(algorithm, privateKeyObject(algorithm, secretKey));
  },

  sign(algorithm: SignatureAlgorithm, secretKey, message) {
    return signWithKey(algorithm, signingKey(algorithm, secretKey, message), message);
  },

  loadSigningKey(algorithm: SignatureAlgorithm, secretKey: Uint8Array) {
    checkSignatureAlgorithm(algorithm, 'sign');
    // OpenSSL holds the key from here on; the caller's bytes are not referenced again.
    let key: KeyObject | undefined = privateKeyObject(algorithm, secretKey);
    return loadedSigningKey(algorithm, (message) => signWithKey(algorithm, key!, message), () => (key = undefined));
  },

  signAsync(algorithm: SignatureAlgorithm, secretKey, message) {
    // The same checks and key import as `sign` on this thread; only OpenSSL's signing goes to the pool.
    let key: KeyObject;
    try {
      key = signingKey(algorithm, secretKey, message);
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise<Uint8Array>((resolve, reject) => {
      const done = (err: Error | null, sig: Buffer) => {
        if (err) reject(new TeeError('GENERIC', 'sign: failed'));
        else resolve(algorithm === 'ed25519' ? u8(sig) : lowS(sig));
      };
      try {
        if (algorithm === 'ed25519') nodeSign(null, message, key, done);
        else nodeSign('sha256', message, { key, dsaEncoding: 'ieee-p1363' }, done);
      } catch {
        reject(new TeeError('GENERIC', 'sign: failed'));
      }
    });
  },

  verify(algorithm, publicKey, message, signature) {
    const key = verifyKey(algorithm, publicKey, message, signature);
    if (!key) return false;
    try {
      if (algorithm === 'ed25519') return nodeVerify(null, message, key, signature);
      return nodeVerify('sha256', message, { key, dsaEncoding: 'ieee-p1363' }, signature);
    } catch {
      return false;
    }
  },

  verifyAsync(algorithm, publicKey, message, signature) {
    // The same pre-checks as `verify` on this thread; only OpenSSL's verification goes to the pool.
    const key = verifyKey(algorithm, publicKey, message, signature);
    if (!key) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      const done = (err: Error | null, ok: boolean) => resolve(err === null && ok === true);
      try {
        if (algorithm === 'ed25519') nodeVerify(null, message, key, signature, done);
        else nodeVerify('sha256', message, { key, dsaEncoding: 'ieee-p1363' }, signature, done);
      } catch {
        resolve(false);
      }
    });
  },

  x25519(secretKey, peerPublicKey) {
    checkSecretKey('x25519', secretKey);
    if (!(peerPublicKey instanceof Uint8Array) || peerPublicKey.length !== 32) {
      throw new TeeError('BAD_PARAMETERS', 'x25519: peer public key must be 32 bytes');
    }
    const privateKey = privateKeyObject('x25519', secretKey);
    const publicKey = publicKeyObject('x25519', peerPublicKey);
    if (!publicKey) throw new TeeError('SECURITY', 'x25519: degenerate shared secret (low-order peer key)');
    let shared: Uint8Array;
    try {
      shared = u8(diffieHellman({ privateKey, publicKey }));
    } catch {
      throw new TeeError('SECURITY', 'x25519: degenerate shared secret (low-order peer key)');
    }
    if (isAllZero(shared)) throw new TeeError('SECURITY', 'x25519: degenerate shared secret (low-order peer key)');
    return shared;
  },

  p256Ecdh(secretKey, peerPublicKey) {
    checkP256SecretKey(secretKey);
    if (!(peerPublicKey instanceof Uint8Array) || !nobleP256Arithmetic.isValidPoint(peerPublicKey)) {
      throw new TeeError('BAD_PARAMETERS', 'p256Ecdh peer key: not a valid P-256 point');
    }
    const privateKey = privateKeyObject('p256', secretKey);
    const publicKey = publicKeyObject('p256', peerPublicKey);
    if (!publicKey) throw new TeeError('BAD_PARAMETERS', 'p256Ecdh peer key: not a valid P-256 point');
    try {
      return u8(diffieHellman({ privateKey, publicKey }));
    } catch {
      throw new TeeError('SECURITY', 'p256Ecdh: key agreement failed');
    }
  },

  aeadSeal(algorithm, key, nonce, plaintext, aad) {
    const name = cipherName(algorithm);
    checkAeadInputs(key, nonce);
    checkAeadData(plaintext, 'plaintext');
    checkAeadData(aad, 'aad');
    const cipher = createCipheriv(name, key, nonce, { authTagLength: AEAD_TAG_BYTES });
    cipher.setAAD(aad, { plaintextLength: plaintext.length });
    const head = cipher.update(plaintext);
    const tail = cipher.final();
    const tag = cipher.getAuthTag();
    const out = new Uint8Array(head.length + tail.length + tag.length);
    out.set(head, 0);
    out.set(tail, head.length);
    out.set(tag, head.length + tail.length);
    return out;
  },

  aeadOpen(algorithm, key, nonce, sealed, aad) {
    const name = cipherName(algorithm);
    checkAeadInputs(key, nonce);
    checkAeadData(aad, 'aad');
    if (!(sealed instanceof Uint8Array) || sealed.length < AEAD_TAG_BYTES) {
      throw new TeeError('SECURITY', 'aeadOpen: ciphertext shorter than the tag');
    }
    const ctLen = sealed.length - AEAD_TAG_BYTES;
    try {
      const decipher = createDecipheriv(name, key, nonce, { authTagLength: AEAD_TAG_BYTES });
      decipher.setAAD(aad, { plaintextLength: ctLen });
      decipher.setAuthTag(sealed.subarray(ctLen));
      const head = decipher.update(sealed.subarray(0, ctLen));
      const tail = decipher.final();
      if (tail.length === 0) return u8(head);
      return u8(Buffer.concat([head, tail]));
    } catch {
      throw new TeeError('SECURITY', 'aeadOpen: authentication failed');
    }
  },

  // node:crypto has no point addition; CPK arithmetic stays on the reference.
  p256: nobleP256Arithmetic,
};
