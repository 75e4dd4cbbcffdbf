/** The backend management system: ledger, verification, settlement, HTTP server and client, CLI. */
export { SerialQueue } from './queue.js';
export {
  Ledger, type LedgerOptions, type JournalEntry, type JournalKind, type SettlementRecord, type DuplicateRecord,
  type OnlineSettlement, type OfflineSettlement, type OfflineOutcome, type ReceiptIssuer, type BatchedReceiptIssuer, type GroupSealer,
} from './ledger.js';
export { verifySealedReceipt, decodeSealedReceipt, encodeSealedReceipt, sealBatch, rebuildSealed, batchSigningBytes, receiptLeafHash, type SealedReceipt } from './receipts.js';
export { SubdomainDirectory, type DirectoryOptions } from './directory.js';
export { verifyOnlinePayment, verifyOfflinePair, type KeyResolver, type VerifyContext, type VerifiedOnline, type VerifiedOffline } from './verify.js';
export { SettlementService, type SettlementServiceOptions, type SettledPayment, type ReconcileResult } from './settle.js';
export { loadOrCreateBackendKey } from './keyfile.js';
export { startBackend, type BackendOptions, type RunningBackend } from './server.js';
export { BackendClient, verifyReceipt, type SubmittedPayment, type ReconcileReply, type SubdomainInfo } from './client.js';
export { registerBackendCommands, serveDataDir, loadKmcPublicState, backendLayout, type BackendLayout } from './cli.js';
