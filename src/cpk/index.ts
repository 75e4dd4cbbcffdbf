/** CPK identity keys: KMC, public matrix, offline mapping, issuance, collusion analysis, hardened mode. */
export type { CpkMode } from './encoding.js';
export { ID_PATTERN, checkShape } from './encoding.js';
export { selectIndices } from './select.js';
export {
  checkPublicMatrix, decodePublicMatrix, encodePublicMatrix, matrixPoint, publicMatrixSigningBytes, signPublicMatrix,
  verifyPublicMatrix, type PublicMatrix, type UnsignedPublicMatrix,
} from './matrix.js';
export { mapPublicKey, PublicKeyCache, type PublicKeyCacheOptions } from './map.js';
export {
  checkSeparatingCertificate, decodeSeparatingCertificate, encodeSeparatingCertificate, issueSeparatingKey,
  mapHardenedPublicKey, separatingCertificateSigningBytes, verifySeparatingCertificate, type SeparatingCertificate,
} from './hardened.js';
export {
  checkIssuancePackage, decodeIssuancePackage, encodeIssuancePackage, openIssuancePackage, sealIssuancePackage,
  type IssuancePackage, type OpenedIssuance, type SealIssuanceInput,
} from './issuance.js';
export { createLevelKmcStore, createMemoryKmcStore, type KmcStore, type LevelKmcStore, type MemoryKmcStore } from './store.js';
export { KeyManagementCentre, type IssuanceRecipient, type KmcOptions, type SubdomainOptions } from './kmc.js';
export {
  collusionKeysNeeded, demonstrateCollusion, forgePrivateKey, matchesPublicMatrix, P256_ORDER, recoverEquivalentMatrix,
  type CollusionOptions, type CollusionReport, type CollusionSample, type RecoveryResult,
} from './collusion.js';
