/**
 * The settle pipeline: verify (./verify.ts, in parallel, outside the queue), then settle in the
 * ledger (serialised), then hand back a receipt signed by the backend key. This is everything the
 * backend does, without HTTP: the server is a thin JSON shell around it, and the benchmark drives it
 * in-process.
 */
import { TeeError } from '../../common/errors.js';
import { constantTimeEqual, fromBase64url } from '../../common/bytes.js';
import type { CryptoProvider, KeyPair } from '../../crypto/provider.js';
import {
  decodeSigned, encodeSigned, signingBytes, type PartyId, type Receipt, type Signed,
} from '../../protocol/payment.js';
import { decodePublicMatrix, encodePublicMatrix, type PublicMatrix } from '../../cpk/index.js';
import type { DuplicateRecord, Ledger, SettlementRecord } from './ledger.js';
import type { SubdomainDirectory } from './directory.js';
import { verifyOfflinePair, verifyOnlinePayment, verifyOnlinePaymentWith, type VerifyContext } from './verify.js';
import type { VerifyPool } from './verify-pool.js';

export interface SettledPayment {
  receipt: Signed<Receipt>;
  /** encodeSigned(receipt): the bytes the client gets. */
  receiptBytes: Uint8Array;
}

export type ReconcileResult =
  | { status: 'settled' | 'already-reconciled'; receipt: Signed<Receipt>; receiptBytes: Uint8Array }
  | { status: 'duplicate'; duplicate: DuplicateRecord };

export interface SettlementServiceOptions {
  provider: CryptoProvider;
  ledger: Ledger;
  directory: SubdomainDirectory;
  backendKey: KeyPair;
  now?: () => number;
  /**
   * Check online payment signatures on worker threads (the caller owns and closes the pool); if the
   * pool was given `backendKey.secretKey` as its signing key, online receipts are signed there too.
   */
  verifyPool?: VerifyPool;
}

export class SettlementService {
  readonly provider: CryptoProvider;
  readonly ledger: Ledger;
  readonly directory: SubdomainDirectory;
  private readonly backendKey: KeyPair;
  private readonly ctx: VerifyContext;
  private readonly verifyPool: VerifyPool | undefined;
  /** Online receipts are signed on the pool when its workers hold this backend's key. */
  private readonly signsOnPool: boolean;

  constructor(options: SettlementServiceOptions) {
    this.provider = options.provider;
    this.ledger = options.ledger;
    this.directory = options.directory;
    this.backendKey = options.backendKey;
    this.verifyPool = options.verifyPool;
    const signer = options.verifyPool?.signerPublicKey;
    this.signsOnPool = signer !== undefined && constantTimeEqual(signer, options.backendKey.publicKey);
    this.ctx = { provider: options.provider, keys: options.directory, now: options.now ?? Date.now };
  }

  get publicKey(): Uint8Array {
    return this.backendKey.publicKey;
  }

  /** Re-admit the subdomains this ledger registered before (each re-verified against the KMC key). */
  async restoreSubdomains(): Promise<void> {
    for (const { encodedMatrix } of await this.ledger.subdomains()) {
      this.directory.register(decodeMatrix(encodedMatrix));
    }
  }

  /** Verify a KMC-signed public matrix, admit it, and remember it across restarts. */
  async registerSubdomain(matrix: PublicMatrix | Uint8Array): Promise<{ subdomainId: string; status: 'added' | 'unchanged' }> {
    const m = matrix instanceof Uint8Array ? decodeMatrix(matrix) : matrix;
    const status = this.directory.register(m);
    if (status === 'added') await this.ledger.putSubdomain(m.subdomainId, encodePublicMatrix(m));
    return { subdomainId: m.subdomainId, status };
  }

  /** Open an account (demo/admin); the subdomain must be registered. */
  async openAccount(party: PartyId, currency: string, balance: number): Promise<Record<string, number>> {
    if (!this.directory.has(party.subdomainId)) throw new TeeError('ITEM_NOT_FOUND', `unknown subdomain ${party.subdomainId}`, 'BACKEND');
    return this.ledger.openAccount(party, currency, balance, this.ctx.now());
  }

  async balances(party: PartyId): Promise<Record<string, number>> {
    const balances = await this.ledger.balances(party);
    if (!balances) throw new TeeError('ITEM_NOT_FOUND', `no account for ${party.userId}@${party.subdomainId}`, 'BACKEND');
    return balances;
  }

  /** Verify and settle an online payment (encodeSigned bytes); returns the signed receipt. */
  async submitOnline(bytes: Uint8Array): Promise<SettledPayment> {
    const pool = this.verifyPool;
    const { signed, digest } = pool
      ? await verifyOnlinePaymentWith(this.ctx, bytes, (k, m, s) => pool.verify(k, m, s))
      : verifyOnlinePayment(this.ctx, bytes);
    const p = signed.statement;
    const fields = { reference: p.orderId, payer: p.payer, payee: p.payee, amount: p.amount, currency: p.currency, nonce: p.nonce };
    const record = await this.ledger.settleOnline(
      { payer: p.payer, payee: p.payee, amount: p.amount, currency: p.currency, orderId: p.orderId, nonce: p.nonce, digest, at: this.ctx.now() },
      this.signsOnPool
        ? (settled) => this.issueReceiptOnPool({ ...fields, ...settled })
        : (settled) => this.issueReceipt({ ...fields, ...settled }),
    );
    return receiptOf(record);
  }

  /** Verify an offline (offer, payment) pair and reconcile it; duplicates are flagged, not settled. */
  async reconcileOffline(offerBytes: Uint8Array, paymentBytes: Uint8Array): Promise<ReconcileResult> {
    const { offer, payment, digest } = verifyOfflinePair(this.ctx, offerBytes, paymentBytes);
    const p = payment.statement;
    const outcome = await this.ledger.reconcileOffline(
      { payer: p.payer, payee: p.payee, amount: p.amount, currency: p.currency, txId: p.txId, counter: p.counter, digest, at: this.ctx.now() },
      (settled) => this.issueReceipt({ reference: p.txId, payer: p.payer, payee: p.payee, amount: p.amount, currency: p.currency, nonce: offer.statement.nonce, ...settled }),
    );
    if (outcome.status === 'duplicate') return outcome;
    return { status: outcome.status, ...receiptOf(outcome.record) };
  }

  private issueReceipt(r: ReceiptFields): Uint8Array {
    const statement = receiptStatement(r);
    const signature = this.provider.sign('p256', this.backendKey.secretKey, signingBytes(statement));
    return encodeSigned({ statement, signature });
  }

  /** The same receipt, signed on a worker of the pool (which holds this backend's key). */
  private async issueReceiptOnPool(r: ReceiptFields): Promise<Uint8Array> {
    const statement = receiptStatement(r);
    const signature = await this.verifyPool!.sign(signingBytes(statement));
    return encodeSigned({ statement, signature });
  }
}

type ReceiptFields = Omit<Receipt, 'version' | 'kind' | 'receiptId' | 'settledAt' | 'ledgerSeq'> & { seq: number; settledAt: number };

function receiptStatement(r: ReceiptFields): Receipt {
  return {
    version: 1, kind: 'receipt', receiptId: `rcpt-${r.seq}`, reference: r.reference, payer: r.payer, payee: r.payee,
    amount: r.amount, currency: r.currency, nonce: r.nonce, settledAt: r.settledAt, ledgerSeq: r.seq,
  };
}

function decodeMatrix(bytes: Uint8Array): PublicMatrix {
  try {
    return decodePublicMatrix(bytes);
  } catch (err) {
    if (err instanceof TeeError) throw new TeeError(err.code, err.message, 'BACKEND');
    throw new TeeError('BAD_PARAMETERS', 'public matrix: malformed', 'BACKEND');
  }
}

function receiptOf(record: SettlementRecord): SettledPayment {
  const receiptBytes = fromBase64url(record.receipt);
  return { receipt: decodeSigned(receiptBytes, 'receipt'), receiptBytes };
}
