/**
 * Key schedule of the secure store, all derived from the owner's 32-byte root key (HUK) with
 * HKDF-SHA256 through the injected provider.
 *
 * - Counter key: HKDF(rootKey, fixed salt, 'tee-sim/storage-internal/v1/counter-mac'). It MACs the
 *   rollback anchor, which also holds the store id, so it cannot depend on the store id.
 * - Store keys: HKDF(rootKey, storeId, 'tee-sim/storage-internal/v1/store'): the state-record MAC
 *   key and the key of the multiset-hash elements.
 * - Namespace keys: HKDF(rootKey, storeId, 'tee-sim/storage/v1/' + name): AEAD key, object-id MAC
 *   key and a 16-byte namespace tag that prefixes the namespace's LevelDB keys.
 *
 * The salt is the random store id kept in the TEE-private anchor, so two stores under one root key
 * never share keys and the REE cannot swap one store's directory for another's. Internal infos start
 * 'tee-sim/storage-internal/', namespace infos 'tee-sim/storage/v1/': no name can collide with them.
 */
import { utf8 } from '../common/bytes.js';
import type { CryptoProvider } from '../crypto/provider.js';

export const ROOT_KEY_BYTES = 32;
export const STORE_ID_BYTES = 32;
export const NAMESPACE_TAG_BYTES = 16;

const COUNTER_SALT = utf8('tee-sim/storage-internal/v1/counter-salt');
const COUNTER_INFO = utf8('tee-sim/storage-internal/v1/counter-mac');
const STORE_INFO = utf8('tee-sim/storage-internal/v1/store');
const NAMESPACE_INFO_PREFIX = 'tee-sim/storage/v1/';

export interface StoreKeys {
  /** MACs the state record (generation, object count, set commitment). */
  readonly stateKey: Uint8Array;
  /** Keys the multiset-hash elements, so the REE cannot compute or steer them. */
  readonly elementKey: Uint8Array;
}

export interface NamespaceKeys {
  /** AEAD key for the namespace's object records. */
  readonly encKey: Uint8Array;
  /** HMAC key turning an object id into its LevelDB key, so keys do not reveal ids. */
  readonly idKey: Uint8Array;
  /** Public-to-the-REE prefix grouping the namespace's records (reveals grouping, not the name). */
  readonly tag: Uint8Array;
}

export function deriveCounterKey(provider: CryptoProvider, rootKey: Uint8Array): Uint8Array {
  return provider.hkdfSha256(rootKey, COUNTER_SALT, COUNTER_INFO, 32);
}

export function deriveStoreKeys(provider: CryptoProvider, rootKey: Uint8Array, storeId: Uint8Array): StoreKeys {
  const okm = provider.hkdfSha256(rootKey, storeId, STORE_INFO, 64);
  return { stateKey: okm.slice(0, 32), elementKey: okm.slice(32, 64) };
}

export function deriveNamespaceKeys(provider: CryptoProvider, rootKey: Uint8Array, storeId: Uint8Array, name: string): NamespaceKeys {
  const okm = provider.hkdfSha256(rootKey, storeId, utf8(NAMESPACE_INFO_PREFIX + name), 64 + NAMESPACE_TAG_BYTES);
  return { encKey: okm.slice(0, 32), idKey: okm.slice(32, 64), tag: okm.slice(64) };
}

/** Zero every key of a key set (best effort, see common/bytes zeroize). */
export function zeroizeKeys(keys: StoreKeys | NamespaceKeys): void {
  for (const v of Object.values(keys)) if (v instanceof Uint8Array) v.fill(0);
}
