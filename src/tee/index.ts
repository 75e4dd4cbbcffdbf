/** Public API of the simulated TEE OS. */
export { TeeOs, type TeeOsOptions, type InstalledTa } from './tee-os.js';
export {
  createDriverEndpoint,
  encodeTeeRequest,
  parseTeeRequest,
  parseTeeResponse,
  CONTEXT_ID_BYTES,
  SESSION_ID_BYTES,
  LOGIN_METHODS,
  TEE_OPS,
  type TeeDriver,
  type TeeRequest,
  type TeeResponse,
  type TeeErrorResponse,
  type TeeOp,
  type TeeRequestHandler,
  type ParsedTeeRequest,
} from './driver.js';
export { DRIVER_WIRE_VERSION, readRequest, readResponse, writeRequest, writeResponse, type WireRequest, type WireResponse } from './driver-wire.js';
export { SessionManager, DEFAULT_SESSION_LIMITS, type SessionLimits, type RegisteredTa, type SessionManagerDeps } from './sessions.js';
export { HandleTable, MAX_HANDLES_PER_SESSION } from './handles.js';
export {
  expectParamTypes,
  padParams,
  parseParams,
  memrefContents,
  isOutputType,
  isMemrefType,
  isValueType,
  MAX_PARAMS,
  MAX_MEMREF_BYTES,
  HANDLE_BYTES,
  PARAM_TYPES,
  type Param,
  type Params,
  type ParamType,
  type NoneParam,
  type ValueParam,
  type MemrefParam,
  type HandleParam,
  type WireParam,
  type WireOutParam,
} from './params.js';
export type { TrustedApplication, TaSession, TaEnv, TaServices, TaImplementation, ClientIdentity, LoginMethod } from './ta.js';
export {
  signTaManifest,
  verifyTaPackage,
  measureTaCode,
  parseTaManifest,
  taManifestSigningBytes,
  TA_MANIFEST_DOMAIN,
  UUID_PATTERN,
  type TaManifest,
  type TaPackage,
  type TaFlags,
  type TaSignerKey,
  type TaSigningKey,
} from './ta-manifest.js';
export {
  TrustedUi,
  parseConfirmRequest,
  type TrustedUiConfirmRequest,
  type TrustedUiConfirmResult,
  type TrustedUiPrompt,
  type TrustedUiUser,
  type TrustedUiLogEntry,
  type TaTrustedUi,
} from './trusted-ui.js';
export {
  ATTESTATION_TA_UUID,
  ATTESTATION_CMD,
  ATTESTATION_DOMAIN,
  DEVICE_ROLE,
  createAttestationReport,
  verifyAttestation,
  encodeAttestationReport,
  decodeAttestationReport,
  attestationSigningBytes,
  type AttestationClaims,
  type AttestationReport,
  type DeviceIdentity,
  type TaMeasurement,
  type TrustedKeyIdentity,
} from './attestation.js';
export { teePrivateDir, reeFsDir, HUK_BYTES } from './hardware-key.js';
export { readTaCode } from './ta-code.js';
