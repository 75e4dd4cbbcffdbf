/**
 * The trusted key's cryptographic engine: key generation (P-256, Ed25519, X25519, 256-bit AEAD keys),
 * sign/verify, ECDH into a derived AEAD key, AEAD with random nonces, SHA-256 and random bytes, plus
 * the CPK identity keys it is issued.
 *
 * Keys are known outside only by a random 128-bit id; the bytes never leave. Persistent keys live in
 * the key's secure storage (they survive restarts, with its integrity and rollback protection);
 * transient keys live in RAM only. Usage flags are enforced on every operation:
 *   'sign'      raw signatures over caller data
 *   'agree'     ECDH; the shared secret goes through HKDF into a new AEAD key that stays inside
 *   'encrypt'   AEAD
 *   'payment'   CPK identity keys: they sign only payment statements (`signPaymentStatement`), which
 *               the service builds inside the key after the user confirmed. A raw `sign` with such a
 *               key is ACCESS_DENIED: that refusal is what stops a caller from bypassing confirmation.
 *   'provision' the P-256 key-agreement key created at first start that opens issuance packages.
 *
 * CPK: the KMC's public key is pinned once (provisioning); issuance packages and public matrices are
 * accepted only under it. Installed matrices map peers' identities to public keys offline.
 */
import { concatBytes, toHex, u32be, utf8, zeroize } from '../../common/bytes.js';
import { abytes, aint, aoneOf, astring } from '../../common/checks.js';
import { TeeError } from '../../common/errors.js';
import type { TraceSink } from '../../common/trace.js';
import { AEAD_NONCE_BYTES, AEAD_TAG_BYTES, type CryptoProvider, type LoadedSigningKey, type SignatureAlgorithm } from '../../crypto/provider.js';
import {
  decodeIssuancePackage,
  decodePublicMatrix,
  ID_PATTERN,
  mapHardenedPublicKey,
  mapPublicKey,
  openIssuancePackage,
  verifyPublicMatrix,
  type CpkMode,
  type PublicMatrix,
} from '../../cpk/index.js';
import { signingBytes, type PartyId, type SignedStatement } from '../../protocol/payment.js';
import type { AtomicOp } from '../../storage/index.js';
import { Mutex } from '../../storage/mutex.js';
import type { AppStorage, TrustedKeyStorage } from '../secure-storage/index.js';
import {
  ALLOWED_USAGES,
  decodeKeyRecord,
  encodeKeyRecord,
  GENERATED_USAGES,
  isAead,
  KEY_ID_PATTERN,
  TK_KEY_ALGORITHMS,
  type IdentityInfo,
  type KeyInfo,
  type KeyRecord,
  type KeyUsage,
  type TkKeyAlgorithm,
} from './key-record.js';

export const APP_ID = 'trusted-computing';
export const MAX_RANDOM_BYTES = 4096;
export const MAX_DATA_BYTES = 512 * 1024;
/**
 * Keys the trusted key holds at once, like a secure element's key slots: the REE can ask for keys
 * at will (a labelled wallet key is persistent), and without a bound it could fill the key's storage
 * or memory. Persistent keys include identity and provisioning keys.
 */
export const MAX_PERSISTENT_KEYS = 256;
export const MAX_TRANSIENT_KEYS = 1024;
const ECDH_LABEL = utf8('tee-sim/trusted-key/ecdh/v1');
/** Persistent key records kept decoded in memory (least recently used out). */
const LOADED_KEYS = 64;
const KMC_KEY_ID = 'kmc-public-key';
const PROVISIONING_ID = 'provisioning-key';
const keyObject = (keyId: string) => `key:${keyId}`;
const matrixObject = (subdomainId: string) => `matrix:${subdomainId}`;

export interface TrustedComputingOptions {
  /** Pin this KMC key now (first start) or check it matches the one pinned before. */
  kmcPublicKey?: Uint8Array;
  trace?: TraceSink;
  now?: () => number;
}

export interface DeriveOptions {
  /** HKDF salt (default empty). */
  salt?: Uint8Array;
  /** Context bound into the derived key; both parties must use the same. */
  info?: Uint8Array;
  aead?: 'chacha20-poly1305' | 'aes-256-gcm';
  persistent?: boolean;
}

const denied = (step: string): never => {
  throw new TeeError('ACCESS_DENIED', step, 'TRUSTED_KEY');
};

// Usage checks for #signWith, made once here rather than as a closure per signature.
function checkRawSignUsage(usage: KeyUsage): void {
  if (usage === 'payment') denied('sign: a payment key signs only payment statements confirmed on the trusted UI');
  if (usage !== 'sign') denied(`sign: key usage '${usage}' does not allow signing`);
}

function checkPaymentUsage(usage: KeyUsage): void {
  if (usage !== 'payment') denied('payment: not a payment key');
}

const noRoom = (what: string): never => {
  throw new TeeError('OUT_OF_MEMORY', `trusted computing: ${what}; delete a key first`, 'TRUSTED_KEY');
};

const notFound = (): never => {
  throw new TeeError('ITEM_NOT_FOUND', 'trusted computing: no such key', 'TRUSTED_KEY');
};

/** Framed bytes for HKDF info: no two different inputs frame alike. */
function framed(...parts: Uint8Array[]): Uint8Array {
  return concatBytes(...parts.flatMap((p) => [u32be(p.length), p]));
}

export class TrustedComputing {
  readonly #provider: CryptoProvider;
  readonly #store: AppStorage;
  readonly #transient = new Map<string, KeyRecord>();
  /**
   * Persistent key records already read and authenticated from storage, most recently used last:
   * the key's internal memory, so a signature does not decrypt its record again. Writes and deletes
   * go to storage first and then here, so the table never holds what storage no longer does.
   */
  readonly #loaded = new Map<string, KeyRecord>();
  /** Signing keys loaded into the provider for keys held in memory (see #signWith); only for held keys. */
  readonly #signers = new Map<string, LoadedSigningKey>();
  /** New persistent keys are stored one at a time, so concurrent calls cannot pass the bound together. */
  readonly #slots = new Mutex();
  readonly #imports = new Mutex();
  readonly #matrices = new Map<string, PublicMatrix>();
  readonly #trace: TraceSink | undefined;
  readonly #now: () => number;
  #kmcPublicKey: Uint8Array | undefined;
  #provisioningKeyId!: string;

  private constructor(provider: CryptoProvider, storage: TrustedKeyStorage, options: TrustedComputingOptions) {
    this.#provider = provider;
    this.#store = storage.app(APP_ID);
    this.#trace = options.trace;
    this.#now = options.now ?? Date.now;
  }

  /** Load state; on first start create the provisioning key; pin or check the KMC key if given. */
  static async open(provider: CryptoProvider, storage: TrustedKeyStorage, options: TrustedComputingOptions = {}): Promise<TrustedComputing> {
    const tc = new TrustedComputing(provider, storage, options);
    if (await tc.#store.has(KMC_KEY_ID)) tc.#kmcPublicKey = await tc.#store.get(KMC_KEY_ID);
    if (await tc.#store.has(PROVISIONING_ID)) {
      tc.#provisioningKeyId = astring(new TextDecoder().decode(await tc.#store.get(PROVISIONING_ID)), 'provisioning key id', { pattern: KEY_ID_PATTERN });
    } else {
      const info = await tc.#create('p256', 'provision', true);
      await tc.#store.put(PROVISIONING_ID, utf8(info.keyId), { exclusive: true });
      tc.#provisioningKeyId = info.keyId;
      tc.#trace?.({ lane: 'TK', actor: 'trusted-computing', text: 'first start: provisioning key generated (P-256, agree)' });
    }
    if (options.kmcPublicKey) await tc.pinKmcPublicKey(options.kmcPublicKey);
    return tc;
  }

  // ---- generic keys ----

  async generateKey(algorithm: TkKeyAlgorithm, usage: KeyUsage, options: { persistent?: boolean } = {}): Promise<KeyInfo> {
    const alg = aoneOf(algorithm, 'key algorithm', TK_KEY_ALGORITHMS);
    const use = aoneOf(usage, 'key usage', GENERATED_USAGES);
    if (!ALLOWED_USAGES[alg].includes(use)) {
      throw new TeeError('BAD_PARAMETERS', `key usage: ${alg} keys cannot be used to ${use}`, 'TRUSTED_KEY');
    }
    const info = await this.#create(alg, use, options.persistent ?? true);
    this.#trace?.({ lane: 'TK', actor: 'trusted-computing', text: 'key generated', detail: { algorithm: alg, usage: use, persistent: info.persistent } });
    return info;
  }

  async keyInfo(keyId: string): Promise<KeyInfo> {
    const { record, persistent } = await this.#load(keyId);
    try {
      return this.#info(keyId, record, persistent);
    } finally {
      zeroize(record.secretKey);
    }
  }

  async publicKey(keyId: string): Promise<Uint8Array> {
    const info = await this.keyInfo(keyId);
    if (!info.publicKey) throw new TeeError('BAD_PARAMETERS', 'trusted computing: a symmetric key has no public key', 'TRUSTED_KEY');
    return info.publicKey;
  }

  /** Raw signature over caller data: only 'sign' keys. */
  async sign(keyId: string, message: Uint8Array): Promise<Uint8Array> {
    abytes(message, 'message', { max: MAX_DATA_BYTES });
    // Signed here, not on the provider's thread pool (signAsync): on this 2-core machine the hand-off
    // cost the event loop more than the signature it moved (docs/BENCHMARKS.md).
    return this.#signWith(keyId, checkRawSignUsage, message);
  }

  /** Verify with one of the key's own public keys ('sign' or 'payment' keys). */
  async verify(keyId: string, message: Uint8Array, signature: Uint8Array): Promise<boolean> {
    abytes(message, 'message', { max: MAX_DATA_BYTES });
    abytes(signature, 'signature', { max: 128 });
    return this.#with(keyId, (r) => {
      if (r.usage !== 'sign' && r.usage !== 'payment') denied(`verify: key usage '${r.usage}' is not a signature key`);
      return this.#provider.verify(r.algorithm as SignatureAlgorithm, r.publicKey!, message, signature);
    });
  }

  /** Verify with a public key given by the caller. */
  verifyWithPublicKey(algorithm: SignatureAlgorithm, publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
    aoneOf(algorithm, 'signature algorithm', ['p256', 'ed25519'] as const);
    abytes(publicKey, 'public key', { min: 32, max: 33 });
    abytes(message, 'message', { max: MAX_DATA_BYTES });
    abytes(signature, 'signature', { max: 128 });
    return this.#provider.verify(algorithm, publicKey, message, signature);
  }

  /**
   * ECDH with an 'agree' key; the shared secret never leaves: it goes through HKDF (info binding the
   * label, the curve, both public keys in sorted order and the caller's context) into a new AEAD key.
   * Two keys that agree derive the same key on both sides.
   */
  async deriveSharedKey(keyId: string, peerPublicKey: Uint8Array, options: DeriveOptions = {}): Promise<KeyInfo> {
    abytes(peerPublicKey, 'peer public key', { min: 32, max: 33 });
    const salt = options.salt === undefined ? new Uint8Array(0) : abytes(options.salt, 'salt', { max: 256 });
    const context = options.info === undefined ? new Uint8Array(0) : abytes(options.info, 'info', { max: 1024 });
    const aead = aoneOf(options.aead ?? 'chacha20-poly1305', 'aead algorithm', ['chacha20-poly1305', 'aes-256-gcm'] as const);
    const derived = await this.#with(keyId, (r) => {
      if (r.usage !== 'agree') denied(`derive: key usage '${r.usage}' does not allow key agreement`);
      let shared: Uint8Array;
      if (r.algorithm === 'x25519') {
        abytes(peerPublicKey, 'peer public key', 32);
        shared = this.#provider.x25519(r.secretKey, peerPublicKey);
      } else {
        abytes(peerPublicKey, 'peer public key', 33);
        shared = this.#provider.p256Ecdh(r.secretKey, peerPublicKey);
      }
      const own = r.publicKey!;
      const [lo, hi] = Buffer.compare(own, peerPublicKey) <= 0 ? [own, peerPublicKey] : [peerPublicKey, own];
      try {
        return this.#provider.hkdfSha256(shared, salt, framed(ECDH_LABEL, utf8(r.algorithm), lo, hi, utf8(aead), context), 32);
      } finally {
        zeroize(shared);
      }
    });
    let info: KeyInfo;
    try {
      info = await this.#keep(aead, 'encrypt', derived, undefined, options.persistent ?? true);
    } finally {
      zeroize(derived);
    }
    this.#trace?.({ lane: 'TK', actor: 'trusted-computing', text: 'ECDH: shared secret turned into an AEAD key inside the key', detail: { aead } });
    return info;
  }

  /** AEAD with a fresh random nonce; returns nonce || ciphertext || tag. */
  async encrypt(keyId: string, plaintext: Uint8Array, aad: Uint8Array = new Uint8Array(0)): Promise<Uint8Array> {
    abytes(plaintext, 'plaintext', { max: MAX_DATA_BYTES });
    abytes(aad, 'aad', { max: 64 * 1024 });
    return this.#with(keyId, (r) => {
      if (r.usage !== 'encrypt' || !isAead(r.algorithm)) denied(`encrypt: key usage '${r.usage}' does not allow encryption`);
      const nonce = this.#provider.randomBytes(AEAD_NONCE_BYTES);
      return concatBytes(nonce, this.#provider.aeadSeal(r.algorithm as 'aes-256-gcm', r.secretKey, nonce, plaintext, aad));
    });
  }

  /** SECURITY if the ciphertext or aad was changed or the key is wrong. */
  async decrypt(keyId: string, sealed: Uint8Array, aad: Uint8Array = new Uint8Array(0)): Promise<Uint8Array> {
    abytes(sealed, 'ciphertext', { min: AEAD_NONCE_BYTES + AEAD_TAG_BYTES, max: MAX_DATA_BYTES + 64 });
    abytes(aad, 'aad', { max: 64 * 1024 });
    return this.#with(keyId, (r) => {
      if (r.usage !== 'encrypt' || !isAead(r.algorithm)) denied(`decrypt: key usage '${r.usage}' does not allow decryption`);
      try {
        return this.#provider.aeadOpen(r.algorithm as 'aes-256-gcm', r.secretKey, sealed.subarray(0, AEAD_NONCE_BYTES), sealed.subarray(AEAD_NONCE_BYTES), aad);
      } catch {
        throw new TeeError('SECURITY', 'decrypt: ciphertext does not authenticate', 'TRUSTED_KEY');
      }
    });
  }

  sha256(data: Uint8Array): Uint8Array {
    return this.#provider.sha256(abytes(data, 'data', { max: MAX_DATA_BYTES }));
  }

  random(length: number): Uint8Array {
    return this.#provider.randomBytes(aint(length, 'random length', 1, MAX_RANDOM_BYTES));
  }

  /** Delete a generated key. Payment and provisioning keys are not deleted this way. */
  async deleteKey(keyId: string): Promise<void> {
    const { record, persistent } = await this.#load(keyId);
    zeroize(record.secretKey);
    if (record.usage === 'payment' || record.usage === 'provision') denied(`delete: ${record.usage} keys cannot be deleted`);
    if (persistent) {
      await this.#store.delete(keyObject(keyId));
      this.#unload(keyId);
    } else {
      this.#dropSigner(keyId);
      zeroize(this.#transient.get(keyId)?.secretKey ?? new Uint8Array(0));
      this.#transient.delete(keyId);
    }
    this.#trace?.({ lane: 'TK', actor: 'trusted-computing', text: 'key deleted', detail: { algorithm: record.algorithm } });
  }

  // ---- payment keys ----

  /**
   * Sign a payment statement with a 'payment' key. Only the trusted key's payment service calls
   * this, after building the statement itself and getting the user's confirmation.
   */
  async signPaymentStatement(keyId: string, statement: SignedStatement): Promise<Uint8Array> {
    const bytes = signingBytes(statement);
    return this.#signWith(keyId, checkPaymentUsage, bytes);
  }

  /** The identity a payment key belongs to. ACCESS_DENIED for any other key. */
  async identityOf(keyId: string): Promise<IdentityInfo> {
    const info = await this.keyInfo(keyId);
    if (info.usage !== 'payment' || !info.identity) denied('payment: not a payment identity key');
    return info.identity!;
  }

  // ---- CPK provisioning ----

  /** The P-256 key-agreement public key a KMC seals issuance packages to. */
  provisioningPublicKey(): Promise<Uint8Array> {
    return this.publicKey(this.#provisioningKeyId);
  }

  get kmcPublicKey(): Uint8Array | undefined {
    return this.#kmcPublicKey ? new Uint8Array(this.#kmcPublicKey) : undefined;
  }

  /** Pin the KMC key (once). Pinning a different key later is SECURITY. */
  async pinKmcPublicKey(kmcPublicKey: Uint8Array): Promise<void> {
    const key = abytes(kmcPublicKey, 'KMC public key', 33);
    if (!this.#provider.p256.isValidPoint(key)) throw new TeeError('BAD_PARAMETERS', 'KMC public key: not a P-256 point', 'TRUSTED_KEY');
    if (this.#kmcPublicKey) {
      if (Buffer.compare(this.#kmcPublicKey, key) !== 0) throw new TeeError('SECURITY', 'provisioning: a different KMC key is already pinned', 'TRUSTED_KEY');
      return;
    }
    await this.#store.put(KMC_KEY_ID, key, { exclusive: true });
    this.#kmcPublicKey = new Uint8Array(key);
    this.#trace?.({ lane: 'TK', actor: 'trusted-computing', text: 'KMC public key pinned', detail: { kmc: toHex(key).slice(0, 16) } });
  }

  /** Verify a public matrix under the pinned KMC key and keep it for offline mapping. */
  async installMatrix(matrixBytes: Uint8Array): Promise<{ subdomainId: string; mode: CpkMode; rows: number; cols: number }> {
    const kmc = this.#requireKmc();
    const matrix = decodePublicMatrix(abytes(matrixBytes, 'public matrix', { max: 1024 * 1024 }));
    verifyPublicMatrix(this.#provider, matrix, kmc);
    await this.#store.put(matrixObject(matrix.subdomainId), matrixBytes);
    this.#matrices.set(matrix.subdomainId, matrix);
    this.#trace?.({
      lane: 'TK',
      actor: 'trusted-computing',
      text: 'public matrix verified and installed',
      detail: { subdomain: matrix.subdomainId, mode: matrix.mode, size: `${matrix.rows}x${matrix.cols}` },
    });
    return { subdomainId: matrix.subdomainId, mode: matrix.mode, rows: matrix.rows, cols: matrix.cols };
  }

  /**
   * Open an issuance package with the provisioning key (under the pinned KMC key; checked against
   * the installed matrix of its subdomain, if any) and store the identity as a 'payment' key.
   * A later package for the same identity replaces the earlier key.
   */
  async importIssuedIdentity(packageBytes: Uint8Array): Promise<KeyInfo> {
    // One import at a time: each reads the key it replaces, so two racing imports of one identity
    // must not both replace the same one (the first one's new key would be left stored, unreferenced).
    return this.#imports.run(() => this.#importIssuedIdentity(packageBytes));
  }

  async #importIssuedIdentity(packageBytes: Uint8Array): Promise<KeyInfo> {
    const kmc = this.#requireKmc();
    const pkg = decodeIssuancePackage(abytes(packageBytes, 'issuance package', { max: 4096 }));
    const matrix = await this.#matrix(pkg.subdomainId, false);
    const opened = await this.#with(this.#provisioningKeyId, (r) => openIssuancePackage(this.#provider, r.secretKey, pkg, kmc, matrix));
    const identity: IdentityInfo = { subdomainId: opened.subdomainId, userId: opened.userId, mode: opened.mode };
    if (opened.certificate) identity.identityProof = opened.certificate;
    let info: KeyInfo;
    try {
      info = await this.#keep('p256', 'payment', opened.secretKey, opened.publicKey, true, identity);
    } finally {
      zeroize(opened.secretKey);
    }
    const indexId = this.#identityObject(identity.subdomainId, identity.userId);
    const previous = (await this.#store.has(indexId)) ? new TextDecoder().decode(await this.#store.get(indexId)) : undefined;
    const replaced = previous !== undefined && KEY_ID_PATTERN.test(previous) && (await this.#store.has(keyObject(previous))) ? previous : undefined;
    // The index moves to the new key and the replaced key goes in one change: a crash cannot leave
    // the replaced private key stored with nothing pointing at it.
    const ops: AtomicOp[] = [{ id: indexId, data: utf8(info.keyId) }];
    if (replaced) ops.push({ id: keyObject(replaced), delete: true });
    await this.#store.commit(ops);
    if (replaced) this.#unload(replaced);
    this.#trace?.({
      lane: 'TK',
      actor: 'trusted-computing',
      text: 'identity key imported from the issuance package',
      detail: { subdomain: identity.subdomainId, user: identity.userId, mode: identity.mode, checkedAgainstMatrix: matrix !== undefined },
    });
    return info;
  }

  /** The payment key id of an imported identity; ITEM_NOT_FOUND if none. */
  async identityKeyId(subdomainId: string, userId: string): Promise<string> {
    astring(subdomainId, 'subdomainId', { pattern: ID_PATTERN });
    astring(userId, 'userId', { pattern: ID_PATTERN });
    const id = this.#identityObject(subdomainId, userId);
    if (!(await this.#store.has(id))) throw new TeeError('ITEM_NOT_FOUND', `identity ${subdomainId}/${userId}: not provisioned`, 'TRUSTED_KEY');
    return new TextDecoder().decode(await this.#store.get(id));
  }

  /** Every imported identity (public facts). */
  async identities(): Promise<IdentityInfo[]> {
    const out: IdentityInfo[] = [];
    for (const id of await this.#store.list('identity:')) {
      const keyId = new TextDecoder().decode(await this.#store.get(id));
      const info = await this.keyInfo(keyId).catch(() => undefined);
      if (info?.identity) out.push(info.identity);
    }
    return out;
  }

  /** Subdomains with an installed matrix. */
  async installedSubdomains(): Promise<string[]> {
    return (await this.#store.list('matrix:')).map((id) => id.slice('matrix:'.length));
  }

  /**
   * A peer's public key from its identity, offline: the installed matrix of its subdomain (plain), or
   * the matrix plus its separating certificate (hardened; the `identityProof` it sent).
   */
  async mapPeerPublicKey(party: PartyId, identityProof?: Uint8Array): Promise<Uint8Array> {
    const matrix = (await this.#matrix(party.subdomainId, true))!;
    if (matrix.mode === 'hardened') {
      if (!identityProof) throw new TeeError('SECURITY', `map ${party.subdomainId}/${party.userId}: hardened identity without its certificate`, 'TRUSTED_KEY');
      return mapHardenedPublicKey(this.#provider, matrix, party.subdomainId, party.userId, identityProof);
    }
    return mapPublicKey(this.#provider, matrix, party.subdomainId, party.userId);
  }

  // ---- inside ----

  #requireKmc(): Uint8Array {
    if (!this.#kmcPublicKey) throw new TeeError('BAD_STATE', 'provisioning: no KMC key pinned', 'TRUSTED_KEY');
    return this.#kmcPublicKey;
  }

  #identityObject(subdomainId: string, userId: string): string {
    // Hashed: two 64-character ids would not fit an object id, and the hash keeps them apart.
    return `identity:${toHex(this.#provider.sha256(utf8(`${subdomainId}\u0000${userId}`))).slice(0, 48)}`;
  }

  async #matrix(subdomainId: string, required: boolean): Promise<PublicMatrix | undefined> {
    const cached = this.#matrices.get(subdomainId);
    if (cached) return cached;
    const id = matrixObject(subdomainId);
    if (!(await this.#store.has(id))) {
      if (required) throw new TeeError('ITEM_NOT_FOUND', `map: no public matrix installed for subdomain ${subdomainId}`, 'TRUSTED_KEY');
      return undefined;
    }
    // Verified when installed; stored authenticated since. Verify again anyway: it is cheap once.
    const matrix = decodePublicMatrix(await this.#store.get(id));
    verifyPublicMatrix(this.#provider, matrix, this.#requireKmc());
    this.#matrices.set(subdomainId, matrix);
    return matrix;
  }

  async #create(algorithm: TkKeyAlgorithm, usage: KeyUsage, persistent: boolean): Promise<KeyInfo> {
    let secretKey: Uint8Array;
    let publicKey: Uint8Array | undefined;
    if (isAead(algorithm)) secretKey = this.#provider.randomBytes(32);
    else ({ secretKey, publicKey } = this.#provider.generateKeyPair(algorithm));
    try {
      return await this.#keep(algorithm, usage, secretKey, publicKey, persistent);
    } finally {
      zeroize(secretKey);
    }
  }

  /** Keep a key (the record takes a copy of `secretKey`) under a fresh id. */
  async #keep(
    algorithm: TkKeyAlgorithm, usage: KeyUsage, secretKey: Uint8Array, publicKey: Uint8Array | undefined, persistent: boolean, identity?: IdentityInfo,
  ): Promise<KeyInfo> {
    // A transient slot is checked here and taken below with no await between, so concurrent calls
    // cannot pass the bound together; persistent slots are checked with the write, one at a time.
    if (!persistent && this.#transient.size >= MAX_TRANSIENT_KEYS) noRoom(`all ${MAX_TRANSIENT_KEYS} transient key slots are in use`);
    const keyId = toHex(this.#provider.randomBytes(16));
    const record: KeyRecord = { algorithm, usage, secretKey: new Uint8Array(secretKey), createdAt: this.#now() };
    if (publicKey) record.publicKey = new Uint8Array(publicKey);
    if (identity) record.identity = identity;
    if (persistent) {
      const bytes = encodeKeyRecord(record);
      try {
        await this.#slots.run(async () => {
          if ((await this.#store.list('key:')).length >= MAX_PERSISTENT_KEYS) noRoom(`all ${MAX_PERSISTENT_KEYS} persistent key slots are in use`);
          await this.#store.put(keyObject(keyId), bytes, { exclusive: true });
        });
      } finally {
        zeroize(bytes, record.secretKey);
      }
    } else {
      this.#transient.set(keyId, record);
    }
    return this.#info(keyId, record, persistent);
  }

  #info(keyId: string, r: KeyRecord, persistent: boolean): KeyInfo {
    const info: KeyInfo = { keyId, algorithm: r.algorithm, usage: r.usage, persistent };
    if (r.publicKey) info.publicKey = new Uint8Array(r.publicKey);
    if (r.identity) info.identity = { ...r.identity };
    return info;
  }

  /**
   * Sign with a key held in memory through its loaded signing key (made at its first signature), so
   * a signature neither copies nor re-imports the secret; `check` refuses the key's usage first.
   */
  async #signWith(keyId: string, check: (usage: KeyUsage) => void, message: Uint8Array): Promise<Uint8Array> {
    const loaded = this.#signers.get(keyId);
    if (loaded) {
      // A signer exists only while its record is held (#dropSigner goes with the record).
      check((this.#transient.get(keyId) ?? this.#touch(keyId)!).usage);
      return loaded.sign(message);
    }
    return this.#with(keyId, (r) => {
      check(r.usage);
      const known = this.#signers.get(keyId); // loaded meanwhile by a concurrent call
      if (known) return known.sign(message);
      const key = this.#provider.loadSigningKey(r.algorithm as SignatureAlgorithm, r.secretKey);
      // Only keys this module holds in memory keep a signer; it goes when they go (#dropSigner).
      const held = this.#transient.has(keyId) || this.#loaded.has(keyId);
      if (held) this.#signers.set(keyId, key);
      try {
        return key.sign(message);
      } finally {
        if (!held) key.destroy();
      }
    });
  }

  #dropSigner(keyId: string): void {
    this.#signers.get(keyId)?.destroy();
    this.#signers.delete(keyId);
  }

  /** A copy of the record; the caller zeroizes its secret. */
  async #load(keyId: string): Promise<{ record: KeyRecord; persistent: boolean }> {
    if (typeof keyId !== 'string' || !KEY_ID_PATTERN.test(keyId)) notFound();
    const transient = this.#transient.get(keyId);
    if (transient) return { record: { ...transient, secretKey: new Uint8Array(transient.secretKey) }, persistent: false };
    const known = this.#touch(keyId);
    if (known) return { record: { ...known, secretKey: new Uint8Array(known.secretKey) }, persistent: true };
    const id = keyObject(keyId);
    if (!(await this.#store.has(id))) notFound();
    const record = decodeKeyRecord(await this.#store.get(id));
    if (this.#loaded.size >= LOADED_KEYS) {
      const oldest = this.#loaded.keys().next().value!;
      this.#unload(oldest);
    }
    this.#loaded.set(keyId, { ...record, secretKey: new Uint8Array(record.secretKey) });
    return { record, persistent: true };
  }

  /** A loaded persistent record, marked most recently used (undefined if not loaded). */
  #touch(keyId: string): KeyRecord | undefined {
    const record = this.#loaded.get(keyId);
    if (record) {
      this.#loaded.delete(keyId);
      this.#loaded.set(keyId, record);
    }
    return record;
  }

  #unload(keyId: string): void {
    this.#dropSigner(keyId);
    const record = this.#loaded.get(keyId);
    if (record) zeroize(record.secretKey);
    this.#loaded.delete(keyId);
  }

  /** Zeroize every key held in memory (transient keys and loaded records): the key is switching off. */
  forget(): void {
    for (const key of this.#signers.values()) key.destroy();
    this.#signers.clear();
    for (const r of this.#transient.values()) zeroize(r.secretKey);
    for (const r of this.#loaded.values()) zeroize(r.secretKey);
    this.#transient.clear();
    this.#loaded.clear();
  }

  /** Run `fn` with the key's record, zeroizing the secret copy afterwards. */
  async #with<T>(keyId: string, fn: (record: KeyRecord) => T): Promise<T> {
    const { record } = await this.#load(keyId);
    try {
      return fn(record);
    } finally {
      zeroize(record.secretKey);
    }
  }
}
