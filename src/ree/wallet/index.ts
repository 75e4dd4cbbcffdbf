/** The REE wallet app: a Client API session with the wallet TA, the backend client, QR codes. */
export {
  Wallet, type WalletOptions, type OnlinePaymentResult, type AcceptedOffline, type OfflineSyncResult, type AmountInput,
} from './wallet.js';
export { WalletTaSession } from './ta-session.js';
export { showQr, scanQr } from './camera.js';
