/**
 * The key management centre. Per subdomain it holds a private matrix r[i][j] (uniform non-zero
 * scalars mod n) and publishes the signed public matrix R[i][j] = r[i][j]·G. It issues a user's
 * private key only as an `IssuancePackage` sealed to a trusted key's P-256 key-agreement key.
 *
 * Persistence: every record (the KMC signing key, each subdomain's private and public matrix) is
 * sealed with AES-256-GCM under a key derived from the master key the KMC is given, with the record
 * id in the associated data (records cannot be swapped). Any `KmcStore` therefore holds only
 * ciphertext. Rollback or deletion of records is not detected: the store's owner can do both.
 *
 * Hardened subdomains (mode 'hardened') add a per-user separating key at issuance: ./hardened.ts.
 */
import { constantTimeEqual, zeroize } from '../common/bytes.js';
import { aarray, abytes, aobject, aoneOf } from '../common/checks.js';
import { decode, encode, MAX_MESSAGE_BYTES } from '../common/codec.js';
import { TeeError } from '../common/errors.js';
import { defaultProvider } from '../crypto/index.js';
import { AEAD_NONCE_BYTES, type CryptoProvider } from '../crypto/provider.js';
import { selectedPoints, sumPoints } from './combine.js';
import { CPK_MODES, LABELS, POINT_BYTES, SCALAR_BYTES, bytesToBigInt, checkId, checkShape, frame, randomScalar, type CpkMode } from './encoding.js';
import { issueSeparatingKey, mapHardenedPublicKey, type SeparatingCertificate } from './hardened.js';
import { sealIssuancePackage, type IssuancePackage } from './issuance.js';
import { decodePublicMatrix, encodePublicMatrix, signPublicMatrix, type PublicMatrix } from './matrix.js';
import { selectIndices } from './select.js';
import { createMemoryKmcStore, type KmcStore } from './store.js';

export interface KmcOptions {
  provider?: CryptoProvider;
  /** Where sealed records go; with a store, `masterKey` is required. Default: a fresh memory store. */
  store?: KmcStore;
  /** 32-byte master key the records are sealed under. Default (memory store only): random. */
  masterKey?: Uint8Array;
}

export interface SubdomainOptions {
  /** Default 32. */
  rows?: number;
  /** Default 32. */
  cols?: number;
  /** Default 'plain'. */
  mode?: CpkMode;
}

export interface IssuanceRecipient {
  /** The trusted key's P-256 key-agreement public key (compressed). */
  publicKey: Uint8Array;
}

const AEAD = 'aes-256-gcm';
const SIGNING_KEY_ID = 'kmc/signing-key';
const subdomainRecordId = (subdomainId: string) => `subdomain/${subdomainId}`;

interface PrivateMatrix {
  rows: number;
  cols: number;
  mode: CpkMode;
  /** r[i][j] at i * cols + j. */
  scalars: bigint[];
}

export class KeyManagementCentre {
  private readonly publicMatrices = new Map<string, PublicMatrix>();
  private readonly creating = new Set<string>();
  private closed = false;

  private constructor(
    readonly provider: CryptoProvider,
    private readonly store: KmcStore,
    private readonly storeKey: Uint8Array,
    private readonly signingKey: Uint8Array,
    /** The KMC's P-256 signing key: what every verifier must trust. */
    readonly kmcPublicKey: Uint8Array,
  ) {}

  /** Open a KMC over a store, creating its signing key on first use. */
  static async create(options: KmcOptions = {}): Promise<KeyManagementCentre> {
    const provider = options.provider ?? defaultProvider();
    if (options.store && !options.masterKey) throw new TeeError('BAD_PARAMETERS', 'kmc: a store needs its master key', 'API');
    const store = options.store ?? createMemoryKmcStore();
    const masterKey = options.masterKey ? abytes(options.masterKey, 'kmc master key', 32) : provider.randomBytes(32);
    const storeKey = provider.hkdfSha256(masterKey, new Uint8Array(0), frame(LABELS.storeKey), 32);
    if (!options.masterKey) zeroize(masterKey);

    let signingKey = await openRecord(provider, store, storeKey, SIGNING_KEY_ID);
    if (!signingKey) {
      signingKey = provider.generateKeyPair('p256').secretKey;
      await sealRecord(provider, store, storeKey, SIGNING_KEY_ID, signingKey);
    }
    let kmcPublicKey: Uint8Array;
    try {
      kmcPublicKey = provider.publicKeyOf('p256', abytes(signingKey, 'kmc signing key', SCALAR_BYTES));
    } catch {
      throw new TeeError('CORRUPT_OBJECT', 'kmc: stored signing key is malformed', 'API');
    }
    return new KeyManagementCentre(provider, store, storeKey, signingKey, kmcPublicKey);
  }

  /**
   * Draw a subdomain's private matrix, sign its public matrix and store both (sealed).
   * A known subdomain is ACCESS_CONFLICT. Costs rows·cols base multiplications (about 1 s for 32x32).
   */
  async createSubdomain(subdomainId: string, options: SubdomainOptions = {}): Promise<PublicMatrix> {
    this.assertOpen();
    checkId(subdomainId, 'kmc subdomainId');
    const { rows, cols } = checkShape(options.rows ?? 32, options.cols ?? 32);
    const mode = aoneOf(options.mode ?? 'plain', 'kmc subdomain mode', CPK_MODES);
    const id = subdomainRecordId(subdomainId);
    const conflict = () => new TeeError('ACCESS_CONFLICT', `kmc: subdomain ${subdomainId} already exists`, 'API');
    // Claim the id before the first await, so two concurrent creations cannot both pass the check.
    if (this.creating.has(subdomainId)) throw conflict();
    this.creating.add(subdomainId);
    try {
      if ((await this.store.get(id)) !== undefined) throw conflict();
      const scalars: bigint[] = [];
      const points: Uint8Array[] = [];
      for (let k = 0; k < rows * cols; k++) {
        const r = randomScalar(this.provider);
        scalars.push(r);
        points.push(this.provider.p256.multiplyBase(r));
      }
      const matrix = signPublicMatrix(this.provider, this.signingKey, {
        version: 1, subdomainId, rows, cols, mode, points, kmcPublicKey: this.kmcPublicKey,
      });
      const flat = new Uint8Array(rows * cols * SCALAR_BYTES);
      scalars.forEach((r, k) => {
        const b = this.provider.p256.scalarToBytes(r);
        flat.set(b, k * SCALAR_BYTES);
        zeroize(b);
      });
      scalars.fill(0n);
      const plain = encode([1, subdomainId, rows, cols, mode, flat, encodePublicMatrix(matrix)]);
      zeroize(flat);
      try {
        await sealRecord(this.provider, this.store, this.storeKey, id, plain);
      } finally {
        zeroize(plain);
      }
      this.publicMatrices.set(subdomainId, matrix);
      return matrix;
    } finally {
      this.creating.delete(subdomainId);
    }
  }

  async hasSubdomain(subdomainId: string): Promise<boolean> {
    this.assertOpen();
    checkId(subdomainId, 'kmc subdomainId');
    return this.publicMatrices.has(subdomainId) || (await this.store.get(subdomainRecordId(subdomainId))) !== undefined;
  }

  /** The signed public matrix; ITEM_NOT_FOUND for an unknown subdomain. */
  async publicMatrix(subdomainId: string): Promise<PublicMatrix> {
    this.assertOpen();
    checkId(subdomainId, 'kmc subdomainId');
    const cached = this.publicMatrices.get(subdomainId);
    if (cached) return cached;
    const { matrix, secret } = await this.loadSubdomain(subdomainId);
    secret.scalars.fill(0n);
    return matrix;
  }

  /**
   * Compute (subdomainId, userId)'s private key and seal it to the recipient trusted key. The KMC
   * checks its own result against the public mapping before sealing, so a corrupted record cannot
   * issue a key that does not match the published matrix.
   */
  async issuePrivateKey(subdomainId: string, userId: string, recipient: IssuanceRecipient): Promise<IssuancePackage> {
    this.assertOpen();
    checkId(subdomainId, 'kmc subdomainId');
    checkId(userId, 'kmc userId');
    const recipientPublicKey = abytes(aobject(recipient, 'kmc recipient').publicKey, 'kmc recipient publicKey', POINT_BYTES);
    const { matrix, secret } = await this.loadSubdomain(subdomainId);
    const who = `kmc issue ${subdomainId}/${userId}`;
    const p256 = this.provider.p256;
    let key: bigint;
    try {
      const indices = selectIndices(this.provider, subdomainId, userId, secret.rows, secret.cols);
      key = p256.mod(indices.reduce((acc, row, col) => acc + secret.scalars[row * secret.cols + col]!, 0n));
    } finally {
      secret.scalars.fill(0n);
    }
    if (key === 0n) throw new TeeError('SECURITY', `${who}: private key sum is 0 mod n`, 'API');

    let expected: Uint8Array;
    let separatingCertificate: SeparatingCertificate | undefined;
    if (matrix.mode === 'hardened') {
      const separating = issueSeparatingKey(this.provider, this.signingKey, subdomainId, userId);
      key = p256.mod(key + separating.scalar);
      if (key === 0n) throw new TeeError('SECURITY', `${who}: private key sum is 0 mod n`, 'API');
      separatingCertificate = separating.certificate;
      expected = mapHardenedPublicKey(this.provider, matrix, subdomainId, userId, separatingCertificate);
    } else {
      expected = sumPoints(this.provider, selectedPoints(this.provider, matrix, subdomainId, userId), who);
    }
    const publicKey = p256.multiplyBase(key);
    if (!constantTimeEqual(publicKey, expected)) {
      throw new TeeError('CORRUPT_OBJECT', `${who}: private matrix does not match the public matrix`, 'API');
    }
    const secretKey = p256.scalarToBytes(key);
    try {
      return sealIssuancePackage(this.provider, {
        kmcSecretKey: this.signingKey, subdomainId, userId, mode: matrix.mode, secretKey, publicKey, recipientPublicKey,
        ...(separatingCertificate ? { separatingCertificate } : {}),
      });
    } finally {
      zeroize(secretKey);
    }
  }

  /** Forget the in-memory keys; the KMC is unusable afterwards. */
  close(): void {
    this.closed = true;
    zeroize(this.signingKey, this.storeKey);
    this.publicMatrices.clear();
  }

  private assertOpen(): void {
    if (this.closed) throw new TeeError('BAD_STATE', 'kmc: closed', 'API');
  }

  private async loadSubdomain(subdomainId: string): Promise<{ matrix: PublicMatrix; secret: PrivateMatrix }> {
    const id = subdomainRecordId(subdomainId);
    const plain = await openRecord(this.provider, this.store, this.storeKey, id);
    if (!plain) throw new TeeError('ITEM_NOT_FOUND', `kmc: unknown subdomain ${subdomainId}`, 'API');
    try {
      const v = aarray(decode(plain, 2 * MAX_MESSAGE_BYTES, 'API'), 'kmc subdomain record', 7);
      if (v.length !== 7 || v[0] !== 1 || v[1] !== subdomainId) throw new Error('shape');
      const { rows, cols } = checkShape(v[2], v[3]);
      const mode = aoneOf(v[4], 'mode', CPK_MODES);
      const flat = abytes(v[5], 'scalars', rows * cols * SCALAR_BYTES);
      const matrix = decodePublicMatrix(abytes(v[6], 'public matrix'));
      if (matrix.subdomainId !== subdomainId || matrix.rows !== rows || matrix.cols !== cols || matrix.mode !== mode) throw new Error('mismatch');
      const scalars: bigint[] = [];
      for (let k = 0; k < rows * cols; k++) scalars.push(bytesToBigInt(flat.subarray(k * SCALAR_BYTES, (k + 1) * SCALAR_BYTES)));
      zeroize(flat);
      this.publicMatrices.set(subdomainId, matrix);
      return { matrix, secret: { rows, cols, mode, scalars } };
    } catch {
      throw new TeeError('CORRUPT_OBJECT', `kmc: record of subdomain ${subdomainId} is malformed`, 'API');
    } finally {
      zeroize(plain);
    }
  }
}

function recordAad(id: string): Uint8Array {
  return frame(LABELS.storeRecord, id);
}

async function sealRecord(provider: CryptoProvider, store: KmcStore, storeKey: Uint8Array, id: string, plain: Uint8Array): Promise<void> {
  const nonce = provider.randomBytes(AEAD_NONCE_BYTES);
  const sealed = provider.aeadSeal(AEAD, storeKey, nonce, plain, recordAad(id));
  const record = new Uint8Array(nonce.length + sealed.length);
  record.set(nonce);
  record.set(sealed, nonce.length);
  await store.put(id, record);
}

/** The record's plaintext, undefined if absent; SECURITY if it does not authenticate (wrong master key, tampering, swap). */
async function openRecord(provider: CryptoProvider, store: KmcStore, storeKey: Uint8Array, id: string): Promise<Uint8Array | undefined> {
  const record = await store.get(id);
  if (record === undefined) return undefined;
  if (!(record instanceof Uint8Array) || record.length < AEAD_NONCE_BYTES + 16) {
    throw new TeeError('CORRUPT_OBJECT', `kmc: record ${id} is truncated`, 'API');
  }
  try {
    return provider.aeadOpen(AEAD, storeKey, record.subarray(0, AEAD_NONCE_BYTES), record.subarray(AEAD_NONCE_BYTES), recordAad(id));
  } catch {
    throw new TeeError('SECURITY', `kmc: record ${id} does not authenticate (wrong master key or tampered)`, 'API');
  }
}
