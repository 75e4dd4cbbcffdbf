/**
 * Secure storage engine: encrypted, authenticated, rollback-protected objects over `level`.
 * Used by the TEE OS's storage service and by the trusted key's own secure storage.
 */
export { MAX_ATOMIC_BYTES, MAX_ATOMIC_WRITES, SecureStore, type AtomicOp, type SecureStoreOptions, type StorageNamespace } from './secure-store.js';
export { MAX_OBJECT_BYTES, MAX_OBJECT_ID_CHARS, MAX_NAMESPACE_CHARS } from './limits.js';
