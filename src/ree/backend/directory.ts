/**
 * The subdomains the backend knows: each one's public matrix, admitted only if the KMC's signature
 * verifies against the trusted KMC key, with CPK's LRU cache of mapped public keys (a mapping costs
 * `cols` point additions; a busy payer should pay it once). A subdomain, once registered, cannot be
 * swapped for another matrix: that would let whoever holds the new matrix speak for its users.
 */
import { TeeError } from '../../common/errors.js';
import type { CryptoProvider } from '../../crypto/provider.js';
import type { PartyId } from '../../protocol/payment.js';
import { encodePublicMatrix, PublicKeyCache, type PublicMatrix } from '../../cpk/index.js';
import type { KeyResolver } from './verify.js';

export interface DirectoryOptions {
  /** Most mapped keys kept (default 100,000, a few MB). */
  cacheLimit?: number;
}

/** Re-label CPK's errors as the backend's; anything foreign becomes a plain SECURITY refusal. */
function asBackend<T>(step: () => T, fallback: string): T {
  try {
    return step();
  } catch (err) {
    if (err instanceof TeeError) throw new TeeError(err.code, err.message, 'BACKEND');
    throw new TeeError('SECURITY', fallback, 'BACKEND');
  }
}

export class SubdomainDirectory implements KeyResolver {
  private readonly matrices = new Map<string, { matrix: PublicMatrix; encoded: Uint8Array }>();
  private readonly cache: PublicKeyCache;

  constructor(provider: CryptoProvider, trustedKmcPublicKey: Uint8Array, options: DirectoryOptions = {}) {
    this.cache = new PublicKeyCache({ provider, trustedKmcPublicKey, capacity: options.cacheLimit ?? 100_000 });
  }

  /**
   * Admit a subdomain's public matrix after checking the KMC signature (SECURITY). The same matrix
   * again is a no-op ('unchanged'); a different matrix for a known subdomain is ACCESS_CONFLICT.
   */
  register(matrix: PublicMatrix): 'added' | 'unchanged' {
    const known = this.matrices.has(matrix.subdomainId);
    asBackend(() => this.cache.add(matrix), 'public matrix: does not verify');
    if (known) return 'unchanged';
    this.matrices.set(matrix.subdomainId, { matrix, encoded: encodePublicMatrix(matrix) });
    return 'added';
  }

  has(subdomainId: string): boolean {
    return this.matrices.has(subdomainId);
  }

  /** The registered matrix, or ITEM_NOT_FOUND. */
  get(subdomainId: string): PublicMatrix {
    return this.require(subdomainId).matrix;
  }

  /** The matrix's canonical encoding (what was registered). */
  encoded(subdomainId: string): Uint8Array {
    return this.require(subdomainId).encoded;
  }

  ids(): string[] {
    return [...this.matrices.keys()].sort();
  }

  /**
   * The party's public key: plain subdomains map the ID; hardened ones also need the party's
   * separating certificate (`identityProof`), which CPK checks against the KMC key. The same
   * Uint8Array comes back on every hit (the native provider caches its imported key per array).
   */
  publicKeyOf(party: PartyId, identityProof?: Uint8Array): Uint8Array {
    this.require(party.subdomainId);
    return asBackend(() => this.cache.get(party.subdomainId, party.userId, identityProof), 'identity: cannot map the public key');
  }

  private require(subdomainId: string): { matrix: PublicMatrix; encoded: Uint8Array } {
    const entry = this.matrices.get(subdomainId);
    if (!entry) throw new TeeError('ITEM_NOT_FOUND', `unknown subdomain ${subdomainId}`, 'BACKEND');
    return entry;
  }
}
