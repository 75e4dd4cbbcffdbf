/** The wallet TA: the REE's handle-based door to the trusted key. */
export * from './commands.js';
export { createWalletTa, WALLET_TA_VERSION, type WalletHandle, type WalletTaOptions } from './wallet-ta.js';
export { installWalletTa, signWalletTa, walletTaCode, walletTaManifest, WALLET_TA_NAME } from './install.js';
