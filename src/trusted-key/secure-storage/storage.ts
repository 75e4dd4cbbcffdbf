/**
 * The trusted key's secure storage: one `SecureStore` in the key's own directories, split into one
 * namespace per trusted app (the key's other modules are its apps), plus named monotonic counters.
 *
 *   <dir>/store          LevelDB, REE-visible: ciphertext and keyed hashes only
 *   <dir>/private/       the key's internal memory (not REE-visible): the rollback anchor and the
 *                        32-byte device secret every key below is derived from
 *
 * Guarantees (from the store): objects are confidential and authenticated; each write is atomic and,
 * once its call resolves, rollback-protected: restoring an older copy of `<dir>/store` makes `open`
 * fail with SECURITY, so a restored copy can never reset a PIN counter or an offline balance.
 * Not guaranteed: availability (the REE can delete `<dir>/store`; open then fails), hiding object
 * sizes or write times.
 */
import { join } from 'node:path';
import { u64be, zeroize, utf8 } from '../../common/bytes.js';
import { astring } from '../../common/checks.js';
import { TeeError } from '../../common/errors.js';
import type { CryptoProvider } from '../../crypto/provider.js';
import { SecureStore, type StorageNamespace } from '../../storage/index.js';
import { loadOrCreateDeviceSecret } from './device-secret.js';

export interface TrustedKeyStorageOptions {
  /** The trusted key's directory; `store/` and `private/` are created inside. */
  dir: string;
  provider: CryptoProvider;
  /** fsync every write (default false: survives a process kill, not a power cut). */
  sync?: boolean;
}

/** What a trusted app gets: its own namespace, invisible to every other app. */
export type AppStorage = StorageNamespace;

const APP_ID = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const COUNTER_NAME = /^[A-Za-z0-9._:-]{1,100}$/;
const KDF_SALT = utf8('tee-sim/trusted-key/v1');
const COUNTERS_NAMESPACE = 'tk-counters';

export function trustedKeyPaths(dir: string): { store: string; private: string; counters: string } {
  return { store: join(dir, 'store'), private: join(dir, 'private'), counters: join(dir, 'private', 'counters') };
}

function decodeCounter(bytes: Uint8Array | undefined): bigint {
  if (bytes === undefined) return 0n;
  if (bytes.length !== 8) throw new TeeError('CORRUPT_OBJECT', 'trusted key storage: counter record is malformed', 'TRUSTED_KEY');
  return new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0);
}

export class TrustedKeyStorage {
  readonly #store: SecureStore;
  readonly #provider: CryptoProvider;
  readonly #deviceSecret: Uint8Array;
  readonly #apps = new Map<string, AppStorage>();
  #closed = false;

  private constructor(store: SecureStore, provider: CryptoProvider, deviceSecret: Uint8Array) {
    this.#store = store;
    this.#provider = provider;
    this.#deviceSecret = deviceSecret;
  }

  /** Open (or create) the storage; SECURITY if `<dir>/store` was rolled back, CORRUPT_OBJECT if tampered. */
  static async open(options: TrustedKeyStorageOptions): Promise<TrustedKeyStorage> {
    const dir = astring(options.dir, 'trusted key dir', { min: 1 });
    const { provider } = options;
    const paths = trustedKeyPaths(dir);
    const secret = await loadOrCreateDeviceSecret(provider, paths.private);
    const rootKey = provider.hkdfSha256(secret, KDF_SALT, utf8('secure storage root key'), 32);
    try {
      const store = await SecureStore.open({
        location: paths.store,
        counterLocation: paths.counters,
        rootKey,
        provider,
        ...(options.sync !== undefined ? { sync: options.sync } : {}),
      });
      return new TrustedKeyStorage(store, provider, secret);
    } catch (err) {
      zeroize(secret);
      if (err instanceof TeeError) throw new TeeError(err.code, `trusted key storage: ${err.message}`, 'TRUSTED_KEY');
      throw new TeeError('GENERIC', 'trusted key storage: open failed', 'TRUSTED_KEY');
    } finally {
      zeroize(rootKey);
    }
  }

  /** The namespace of one trusted app (`appId`: lower-case letters, digits, '.', '_', '-'). */
  app(appId: string): AppStorage {
    this.#assertOpen();
    const id = astring(appId, 'app id', { min: 1, max: 64, pattern: APP_ID });
    let ns = this.#apps.get(id);
    if (!ns) {
      ns = this.#store.namespace(`app:${id}`);
      this.#apps.set(id, ns);
    }
    return ns;
  }

  /** Add one to a named monotonic counter and return the new value (first increment gives 1). */
  async increment(name: string): Promise<number> {
    this.#assertOpen();
    const id = astring(name, 'counter name', { pattern: COUNTER_NAME });
    let next = 0n;
    await this.#store.namespace(COUNTERS_NAMESPACE).update(id, (old) => {
      next = decodeCounter(old) + 1n;
      if (next > BigInt(Number.MAX_SAFE_INTEGER)) throw new TeeError('OVERFLOW', `counter ${id}: exhausted`, 'TRUSTED_KEY');
      return u64be(next);
    });
    return Number(next);
  }

  /** Current value of a named counter (0 if never incremented). */
  async read(name: string): Promise<number> {
    this.#assertOpen();
    const id = astring(name, 'counter name', { pattern: COUNTER_NAME });
    const ns = this.#store.namespace(COUNTERS_NAMESPACE);
    if (!(await ns.has(id))) return 0;
    return Number(decodeCounter(await ns.get(id)));
  }

  /**
   * A key derived from the device secret for one purpose (`label`), so no module ever holds the
   * secret itself. Returns a fresh buffer: the caller zeroizes it.
   */
  deriveKey(label: string, length = 32): Uint8Array {
    this.#assertOpen();
    astring(label, 'key label', { min: 1, max: 128 });
    return this.#provider.hkdfSha256(this.#deviceSecret, KDF_SALT, utf8(`derived/${label}`), length);
  }

  get closed(): boolean {
    return this.#closed;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      await this.#store.close();
    } finally {
      zeroize(this.#deviceSecret);
    }
  }

  #assertOpen(): void {
    if (this.#closed) throw new TeeError('BAD_STATE', 'trusted key storage: closed', 'TRUSTED_KEY');
  }
}
