/** The simulated phone: manufacturer, phone hardware composition and provisioning. */
export { Factory } from './factory.js';
export { createPhone, KEY_RESTART_WINDOW_MS, MAX_KEY_RESTARTS, type Phone, type PhoneOptions, type PhonePaths, type PhoneTrustedUi } from './phone.js';
export { createPhoneWire, MAX_KEPT_PAIRS, type PhoneWire } from './wire.js';
export { provisionIdentity, type ProvisionOptions, type ProvisionedIdentity } from './provision.js';
export { WalletClient, type BoundaryCapture } from './wallet-client.js';
export type { PhoneHardware } from './hardware.js';
