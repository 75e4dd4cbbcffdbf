/**
 * Offline mapping of an identity to its public key, and a bounded LRU cache of mapped keys for
 * servers (a mapping costs `cols` point decompressions and additions; a busy payer pays it once).
 *
 * `mapPublicKey` trusts the matrix it is given: admit matrices with `verifyPublicMatrix` first (the
 * cache does so itself).
 */
import { constantTimeEqual, toHex } from '../common/bytes.js';
import { aint } from '../common/checks.js';
import { TeeError } from '../common/errors.js';
import type { CryptoProvider } from '../crypto/provider.js';
import { sumSelectedPoints } from './combine.js';
import { encodeSeparatingCertificate, mapHardenedPublicKey, type SeparatingCertificate } from './hardened.js';
import { encodePublicMatrix, verifyPublicMatrix, type PublicMatrix } from './matrix.js';

/**
 * The public key of (subdomainId, userId) in a plain subdomain: the sum of the selected points.
 * BAD_PARAMETERS if the matrix belongs to another subdomain or is hardened (a hardened user's key
 * also needs the separating certificate: see `mapHardenedPublicKey`); SECURITY at infinity.
 */
export function mapPublicKey(provider: CryptoProvider, matrix: PublicMatrix, subdomainId: string, userId: string): Uint8Array {
  if (matrix.mode !== 'plain') {
    throw new TeeError('BAD_PARAMETERS', `cpk map: subdomain ${matrix.subdomainId} is hardened, use mapHardenedPublicKey`, 'API');
  }
  return sumSelectedPoints(provider, matrix, subdomainId, userId, `cpk map ${subdomainId}/${userId}`);
}

export interface PublicKeyCacheOptions {
  provider: CryptoProvider;
  /** Every matrix added must be signed by this KMC key. */
  trustedKmcPublicKey: Uint8Array;
  matrices?: readonly PublicMatrix[];
  /** Most keys kept (default 10,000); the least recently used goes first. */
  capacity?: number;
}

/**
 * LRU cache of mapped public keys over a set of verified matrices. `get` returns the same
 * Uint8Array on every hit (providers may cache work per key object): callers must not mutate it.
 */
export class PublicKeyCache {
  private readonly provider: CryptoProvider;
  private readonly trustedKmcPublicKey: Uint8Array;
  private readonly capacity: number;
  private readonly matrices = new Map<string, { matrix: PublicMatrix; encoded: Uint8Array }>();
  private readonly keys = new Map<string, Uint8Array>();

  constructor(options: PublicKeyCacheOptions) {
    this.provider = options.provider;
    this.trustedKmcPublicKey = options.trustedKmcPublicKey;
    this.capacity = aint(options.capacity ?? 10_000, 'cache capacity', 1);
    for (const m of options.matrices ?? []) this.add(m);
  }

  /** Admit a matrix after verifying it; a different matrix for a known subdomain is ACCESS_CONFLICT. */
  add(matrix: PublicMatrix): void {
    verifyPublicMatrix(this.provider, matrix, this.trustedKmcPublicKey);
    const encoded = encodePublicMatrix(matrix);
    const known = this.matrices.get(matrix.subdomainId);
    if (known) {
      if (constantTimeEqual(known.encoded, encoded)) return;
      throw new TeeError('ACCESS_CONFLICT', `cpk cache: subdomain ${matrix.subdomainId} already has another matrix`, 'API');
    }
    this.matrices.set(matrix.subdomainId, { matrix, encoded });
  }

  has(subdomainId: string): boolean {
    return this.matrices.has(subdomainId);
  }

  get size(): number {
    return this.keys.size;
  }

  /**
   * The user's public key. Hardened subdomains need the user's separating certificate (object or
   * encoded bytes); it is verified on a miss and its hash is part of the cache key.
   */
  get(subdomainId: string, userId: string, certificate?: SeparatingCertificate | Uint8Array): Uint8Array {
    const entry = this.matrices.get(subdomainId);
    if (!entry) throw new TeeError('ITEM_NOT_FOUND', `cpk cache: unknown subdomain ${subdomainId}`, 'API');
    const { matrix } = entry;
    let cacheKey = `${subdomainId}\u0000${userId}`;
    if (matrix.mode === 'hardened') {
      if (certificate === undefined) throw new TeeError('SECURITY', `cpk cache: subdomain ${subdomainId} is hardened, separating certificate missing`, 'API');
      const bytes = certificate instanceof Uint8Array ? certificate : encodeSeparatingCertificate(certificate);
      cacheKey += `\u0000${toHex(this.provider.sha256(bytes))}`;
    }
    const hit = this.keys.get(cacheKey);
    if (hit) {
      // Re-insert to mark as most recently used (Map keeps insertion order).
      this.keys.delete(cacheKey);
      this.keys.set(cacheKey, hit);
      return hit;
    }
    const key = matrix.mode === 'hardened'
      ? mapHardenedPublicKey(this.provider, matrix, subdomainId, userId, certificate!)
      : mapPublicKey(this.provider, matrix, subdomainId, userId);
    if (this.keys.size >= this.capacity) this.keys.delete(this.keys.keys().next().value!);
    this.keys.set(cacheKey, key);
    return key;
  }
}
