/** The REE's TEE Client API (GlobalPlatform TEEC style) and the boundary capture helper. */
export {
  initializeContext,
  finalizeContext,
  openSession,
  invokeCommand,
  closeSession,
  memrefOutput,
  TeecContext,
  TeecSession,
  type ContextOptions,
  type LoginOptions,
} from './client.js';
export { ReeCapture, type CaptureHook, type CaptureDirection, type CapturedBuffer } from './capture.js';
export type { Param, Params, ValueParam, MemrefParam, HandleParam, NoneParam, ParamType } from '../../tee/params.js';
export type { TeeDriver } from '../../tee/driver.js';
export type { LoginMethod } from '../../tee/ta.js';
