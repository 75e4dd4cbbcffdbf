/**
 * The settle pipeline: verify (./verify.ts, in parallel, outside the queue: on libuv's thread pool
 * through `provider.verifyAsync`, or on a worker pool), then settle in the ledger (serialised, group
 * committed), then hand back a receipt. Online receipts are sealed per group commit: one backend
 * signature over the Merkle root of the group's receipts (./receipts.ts), taken just before the group
 * is written, so a receipt is handed out only once its settlement is durable. This is everything the
 * backend does, without HTTP: the server is a thin JSON shell around it, and the benchmark drives it
 * in-process.
 */
import { availableParallelism } from 'node:os';
import { TeeError } from '../../common/errors.js';
import { fromBase64url, fromHex, toBase64url } from '../../common/bytes.js';
import type { CryptoProvider, KeyPair } from '../../crypto/provider.js';
import type { PartyId, Receipt } from '../../protocol/payment.js';
import { decodePublicMatrix, encodePublicMatrix, type PublicMatrix } from '../../cpk/index.js';
import type { DuplicateRecord, GroupSealer, Ledger, SettlementRecord } from './ledger.js';
import type { SubdomainDirectory } from './directory.js';
import { verifyOfflinePair, verifyOnlinePayment, verifyOnlinePaymentWith, type AsyncVerifier, type VerifyContext } from './verify.js';
import type { VerifyPool } from './verify-pool.js';
import { decodeSealedReceipt, prepareBatch, rebuildSealed, sealBatch, type SealedReceipt } from './receipts.js';

export interface SettledPayment {
  receipt: SealedReceipt;
  /** encodeSealedReceipt(receipt): the bytes the client gets. */
  receiptBytes: Uint8Array;
}

export type ReconcileResult =
  | { status: 'settled' | 'already-reconciled'; receipt: SealedReceipt; receiptBytes: Uint8Array }
  | { status: 'duplicate'; duplicate: DuplicateRecord };

export interface SettlementServiceOptions {
  provider: CryptoProvider;
  ledger: Ledger;
  directory: SubdomainDirectory;
  backendKey: KeyPair;
  now?: () => number;
  /** Check online payment signatures on worker threads (the caller owns and closes the pool). */
  verifyPool?: VerifyPool;
  /**
   * Without a pool, check online signatures with `provider.verifyAsync` where the provider has it
   * (libuv's thread pool; default true); false keeps them on the calling thread.
   */
  asyncVerify?: boolean;
}

export class SettlementService {
  readonly provider: CryptoProvider;
  readonly ledger: Ledger;
  readonly directory: SubdomainDirectory;
  private readonly backendKey: KeyPair;
  private readonly ctx: VerifyContext;
  /** Where online signatures are checked off this thread, if anywhere. */
  private readonly verifier: AsyncVerifier | undefined;
  private readonly sealer: ReceiptSealer;

  constructor(options: SettlementServiceOptions) {
    this.provider = options.provider;
    this.ledger = options.ledger;
    this.directory = options.directory;
    this.backendKey = options.backendKey;
    const pool = options.verifyPool;
    const provider = options.provider;
    if (pool) this.verifier = (k, m, s) => pool.verify(k, m, s);
    else if (provider.verifyAsync && options.asyncVerify !== false) {
      const limit = new Limiter(availableParallelism());
      this.verifier = (k, m, s) => limit.run(() => provider.verifyAsync!('p256', k, m, s));
    }
    this.sealer = new ReceiptSealer(provider, options.backendKey.secretKey);
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

  /** Verify and settle an online payment (encodeSigned bytes); returns the sealed receipt once durable. */
  async submitOnline(bytes: Uint8Array): Promise<SettledPayment> {
    const { signed, digest } = this.verifier ? await verifyOnlinePaymentWith(this.ctx, bytes, this.verifier) : verifyOnlinePayment(this.ctx, bytes);
    const p = signed.statement;
    let sealed: Promise<SettledPayment> | undefined;
    await this.ledger.settleOnline(
      { payer: p.payer, payee: p.payee, amount: p.amount, currency: p.currency, orderId: p.orderId, nonce: p.nonce, digest, at: this.ctx.now() },
      (settled) => {
        const added = this.sealer.add(receiptStatement({ reference: p.orderId, payer: p.payer, payee: p.payee, amount: p.amount, currency: p.currency, nonce: p.nonce, ...settled }));
        sealed = added.receipt;
        return added.index;
      },
      this.sealer,
    );
    // settleOnline resolved, so the issuer ran and its receipt is part of the durable group.
    return sealed!;
  }

  /**
   * The receipt handed out for a settled payment, rebuilt from the ledger (byte for byte), or
   * undefined if nothing is settled under that reference. CORRUPT_OBJECT if the stored record or its
   * batch no longer match each other (the ledger's files were edited).
   */
  async storedReceipt(kind: 'online' | 'offline', payee: PartyId, reference: string): Promise<SettledPayment | undefined> {
    const record = await this.ledger.payment(kind, payee, reference);
    if (!record) return undefined;
    if (record.receipt !== undefined) return receiptOf(record);
    const corrupt = () => new TeeError('CORRUPT_OBJECT', `receipt of ${reference}: the stored record does not match its sealed batch`, 'BACKEND');
    if (!record.receiptBatch || record.nonce === undefined) throw corrupt();
    const stored = await this.ledger.receiptBatch(record.receiptBatch.seq);
    try {
      const batch = stored as StoredBatch;
      const statement = receiptStatement({
        reference: record.reference, payer: record.payer, payee: record.payee, amount: record.amount, currency: record.currency,
        nonce: fromHex(record.nonce), seq: record.seq, settledAt: record.settledAt,
      });
      const r = rebuildSealed((b) => this.provider.sha256(b), statement, fromBase64url(batch.signature), fromBase64url(batch.leaves), record.receiptBatch.index);
      return { receipt: r.receipt, receiptBytes: r.bytes };
    } catch {
      throw corrupt();
    }
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

  /** An offline reconciliation is its own batch of one (reconciliations are not group committed). */
  private issueReceipt(r: ReceiptFields): Uint8Array {
    const [sealed] = sealBatch((b) => this.provider.sha256(b), [receiptStatement(r)], (m) => this.provider.sign('p256', this.backendKey.secretKey, m));
    return sealed!.bytes;
  }
}

/** What the ledger stores once per sealed batch: the signature over its root, and every leaf hash (32 bytes each, concatenated). */
interface StoredBatch {
  signature: string;
  leaves: string;
}

/**
 * Collects the receipts of the group being staged and seals them with one signature when the ledger
 * closes the group (the ledger's GroupSealer); the signature is made off this thread where the
 * provider can (signAsync). A failed signature fails the group: nothing of it is written or
 * acknowledged, and its receipts are never resolved (their callers get the group's error from the
 * ledger, and never read them). What the ledger keeps of a batch is its StoredBatch.
 */
class ReceiptSealer implements GroupSealer {
  private pending: { statement: Receipt; resolve: (r: SettledPayment) => void }[] = [];
  private readonly sha256: (b: Uint8Array) => Uint8Array;
  private readonly sign: (message: Uint8Array) => Promise<Uint8Array>;

  constructor(provider: CryptoProvider, secretKey: Uint8Array) {
    this.sha256 = (b) => provider.sha256(b);
    this.sign = provider.signAsync
      ? (m) => provider.signAsync!('p256', secretKey, m)
      : async (m) => provider.sign('p256', secretKey, m);
  }

  /**
   * Add a receipt to the batch being collected: its position there, and the receipt once sealed
   * (to be read only once the ledger has made its group durable).
   */
  add(statement: Receipt): { index: number; receipt: Promise<SettledPayment> } {
    const index = this.pending.length;
    const receipt = new Promise<SettledPayment>((resolve) => this.pending.push({ statement, resolve }));
    return { index, receipt };
  }

  async seal(): Promise<StoredBatch> {
    const batch = this.pending;
    this.pending = [];
    try {
      const prepared = prepareBatch(this.sha256, batch.map((p) => p.statement));
      const signature = await this.sign(prepared.message);
      const sealed = prepared.seal(signature);
      batch.forEach((p, i) => p.resolve({ receipt: sealed[i]!.receipt, receiptBytes: sealed[i]!.bytes }));
      return { signature: toBase64url(signature), leaves: toBase64url(prepared.leaves) };
    } catch (err) {
      throw err instanceof TeeError ? err : new TeeError('GENERIC', 'receipt: sealing failed', 'BACKEND');
    }
  }

  drop(): void {
    this.pending = [];
  }
}

/**
 * At most `max` tasks running; the rest wait here, in order. Keeps libuv's thread-pool queue short,
 * so the ledger's batch write (which shares that queue) never waits behind a crowd of verifications.
 */
class Limiter {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly max: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.running >= this.max) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.running++;
    try {
      return await task();
    } finally {
      this.running--;
      this.waiting.shift()?.();
    }
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

/** A receipt stored whole in its record (offline settlements always are). */
function receiptOf(record: SettlementRecord): SettledPayment {
  if (record.receipt === undefined) throw new TeeError('CORRUPT_OBJECT', `receipt of ${record.reference}: not stored with its record`, 'BACKEND');
  const receiptBytes = fromBase64url(record.receipt);
  return { receipt: decodeSealedReceipt(receiptBytes), receiptBytes };
}
