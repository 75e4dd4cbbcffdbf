/** The demo world and the two payment flows (used by `tee-sim demo`, the teaching page and the attack harness). */
export {
  createDemoWorld, DemoUser, DEMO_CURRENCY, DEMO_SUBDOMAIN,
  type DemoWorld, type DemoWorldOptions, type DemoStats, type DemoSummary,
} from './world.js';
export {
  runOnlinePayment, runOfflinePayment,
  type OnlineFlowInput, type OfflineFlowInput, type OnlineFlowResult, type OfflineFlowResult,
} from './flows.js';
export { formatTraceEvent, formatSummary } from './print.js';
export { spawnBackend, type BackendProcess } from './backend-process.js';
export { publishKmcPublicState } from './kmc-files.js';
export { runDemo, type RunDemoOptions, type DemoWhich } from './run.js';
