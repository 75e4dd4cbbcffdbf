/** Public API of the trusted key: the device and its four modules. */
export { TrustedKey, type TrustedKeyOptions } from './trusted-key.js';
export { createCommandTable, registerService, keyInfoToWire, type ServiceModules } from './service.js';
export { PaymentService, DEFAULT_PIN_LIMIT, EXPIRED_OFFER_RETENTION_MS, MAX_PENDING_OFFERS, type AcceptedPayment, type OfflineState, type PaymentServiceOptions } from './payments.js';
export * from './communication-agent/index.js';
export * from './secure-storage/index.js';
export * from './trusted-computing/index.js';
export * from './trusted-interaction/index.js';
