/** The trusted key's secure storage: per-app namespaces and monotonic counters over one SecureStore. */
export { TrustedKeyStorage, trustedKeyPaths, type AppStorage, type TrustedKeyStorageOptions } from './storage.js';
export { DEVICE_SECRET_BYTES } from './device-secret.js';
