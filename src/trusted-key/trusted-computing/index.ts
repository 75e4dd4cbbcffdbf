/** The trusted key's cryptographic engine: keys by id, usage flags, ECDH, AEAD, CPK identities. */
export { TrustedComputing, MAX_RANDOM_BYTES, MAX_DATA_BYTES, MAX_PERSISTENT_KEYS, MAX_TRANSIENT_KEYS, type DeriveOptions, type TrustedComputingOptions } from './trusted-computing.js';
export {
  ALLOWED_USAGES,
  GENERATED_USAGES,
  KEY_ID_PATTERN,
  KEY_USAGES,
  TK_KEY_ALGORITHMS,
  type IdentityInfo,
  type KeyInfo,
  type KeyUsage,
  type TkKeyAlgorithm,
} from './key-record.js';
