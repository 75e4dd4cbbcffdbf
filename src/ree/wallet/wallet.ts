/**
 * The REE wallet app, one per user. It talks to the wallet TA through the Client API and to the
 * backend over HTTP, and holds only handles and public data: QR texts, signed statements, receipts.
 * Every decision that needs a key or the user's consent happens in the trusted key (the trusted UI
 * confirmation runs inside SIGN_ONLINE_PAYMENT / PAY_OFFLINE), so a compromised REE can at most
 * refuse to pass things on or alter bytes that are already signed (which the verifiers catch).
 */
import { toHex } from '../../common/bytes.js';
import { aint, astring } from '../../common/checks.js';
import { TeeError } from '../../common/errors.js';
import { shortHex, type TraceEvent, type TraceSink } from '../../common/trace.js';
import type { CryptoProvider } from '../../crypto/provider.js';
import {
  MAX_AMOUNT, decodePaymentRequest, decodeSigned, encodePaymentRequest, formatAmount,
  type OnlinePayment, type PartyId, type PaymentRequest,
} from '../../protocol/payment.js';
import { BackendClient, verifyReceipt } from '../backend/client.js';
import type { SealedReceipt } from '../backend/receipts.js';
import type { CaptureHook, TeeDriver } from '../client-api/index.js';
import { decodeQrText, encodeQrText, type QrPayloadType } from '../qr/index.js';
import type { WalletResults } from '../../tee/tas/wallet/index.js';
import { WalletTaSession } from './ta-session.js';

const ID_PATTERN = /^[A-Za-z0-9._:-]{1,64}$/;
const CURRENCY_PATTERN = /^[A-Z]{3}$/;
/** QR codes are short-lived: two minutes unless the caller says otherwise (at most a day). */
const DEFAULT_TTL_MS = 120_000;
const MAX_TTL_MS = 86_400_000;

export interface WalletOptions {
  driver: TeeDriver;
  party: PartyId;
  backend?: BackendClient;
  /** The backend's receipt key, obtained out of band; without it the wallet pins the key the backend first reports. */
  backendPublicKey?: Uint8Array;
  provider: CryptoProvider;
  trace?: TraceSink;
  /** Sees every byte crossing the REE/TEE boundary. */
  capture?: CaptureHook;
  now?: () => number;
}

export interface OnlinePaymentResult {
  receipt: SealedReceipt;
  receiptBytes: Uint8Array;
  payment: OnlinePayment;
}

export type AcceptedOffline = WalletResults['ACCEPT_OFFLINE_PAYMENT'];

export interface OfflineSyncResult {
  txId: string;
  status: 'settled' | 'already-reconciled' | 'duplicate' | 'unknown-offer';
  receipt?: SealedReceipt;
  reason?: string;
}

export interface AmountInput {
  amount: number;
  currency: string;
  ttlMs?: number;
}

/** An offline pair (the payee's signed offer and the payer's signed payment) waiting for the backend. */
interface PendingPair {
  txId: string;
  offer: Uint8Array;
  payment: Uint8Array;
}

export class Wallet {
  readonly party: PartyId;
  private readonly actor: string;
  private readonly offers = new Map<string, Uint8Array>();
  private readonly pending: PendingPair[] = [];
  private backendKey: Uint8Array | undefined;
  private closed = false;

  private constructor(
    private readonly ta: WalletTaSession,
    private readonly handle: Uint8Array,
    readonly publicKey: Uint8Array,
    private readonly options: WalletOptions,
  ) {
    this.party = options.party;
    this.actor = `wallet:${options.party.userId}`;
    this.backendKey = options.backendPublicKey;
  }

  /** Open the Client API session and this user's identity handle. */
  static async open(options: WalletOptions): Promise<Wallet> {
    const party = {
      subdomainId: astring(options.party?.subdomainId, 'party.subdomainId', { pattern: ID_PATTERN }),
      userId: astring(options.party?.userId, 'party.userId', { pattern: ID_PATTERN }),
    };
    const ta = await WalletTaSession.open(options.driver, {
      name: `wallet:${party.userId}`,
      ...(options.capture ? { capture: options.capture } : {}),
      ...(options.trace ? { trace: options.trace } : {}),
    });
    try {
      const id = await ta.call('OPEN_IDENTITY', party);
      if (!id.publicKey) throw new TeeError('ITEM_NOT_FOUND', 'wallet: identity has no public key', 'API');
      const wallet = new Wallet(ta, id.handle, id.publicKey, { ...options, party });
      wallet.emit('opened the wallet TA session and the identity handle', { handle: shortHex(id.handle, 8), publicKey: shortHex(id.publicKey) });
      return wallet;
    } catch (err) {
      await ta.close();
      throw err;
    }
  }

  // ---- payee ----

  /** Online: build the payment request the payer will scan (public, unsigned). */
  requestPayment(input: AmountInput & { orderId?: string }): { qrText: string; request: PaymentRequest } {
    const { amount, currency, expiresAt } = this.amountOf(input);
    const orderId = input.orderId === undefined ? this.freshId('ORD') : astring(input.orderId, 'orderId', { pattern: ID_PATTERN });
    const request: PaymentRequest = { version: 1, kind: 'online-request', payee: this.party, amount, currency, orderId, expiresAt };
    const qrText = this.qr('online-request', encodePaymentRequest(request), expiresAt);
    this.emit(`shows a payment request QR: ${formatAmount(amount, currency)}, order ${orderId}`, { qrChars: qrText.length, qr: qrText.slice(0, 40) + '…' });
    return { qrText, request };
  }

  /** Offline: the payee's trusted key signs an offer (fresh nonce, txId, amount) into a QR code. */
  async offerOffline(input: AmountInput & { txId?: string }): Promise<{ qrText: string; txId: string; offer: Uint8Array }> {
    const { amount, currency, expiresAt } = this.amountOf(input);
    const txId = input.txId === undefined ? this.freshId('TX') : astring(input.txId, 'txId', { pattern: ID_PATTERN });
    const { signed } = await this.call('SIGN_OFFLINE_OFFER', { txId, amount, currency, expiresAt });
    this.offers.set(txId, signed);
    const qrText = this.qr('offline-offer', signed, expiresAt);
    this.emit(`shows a signed offline offer QR: ${formatAmount(amount, currency)}, ${txId}`, { signedOffer: shortHex(signed), qrChars: qrText.length });
    return { qrText, txId, offer: signed };
  }

  /** Offline: hand the scanned payment to the trusted key, which verifies and records it (refusing a double spend). */
  async acceptOffline(paymentQrText: string): Promise<AcceptedOffline> {
    const env = this.scan(paymentQrText, 'offline-payment');
    const result = await this.call('ACCEPT_OFFLINE_PAYMENT', { payment: env.body });
    const offer = this.offers.get(result.txId);
    if (offer) this.queue({ txId: result.txId, offer, payment: env.body });
    this.emit(`accepted offline payment ${result.txId} from ${result.payer.userId} (counter ${result.counter})`, {
      amount: formatAmount(result.amount, result.currency),
    });
    return result;
  }

  /** Send every offline pair this wallet holds to the backend, which reconciles them (and flags duplicates). */
  async syncOffline(): Promise<OfflineSyncResult[]> {
    const backend = this.requireBackend();
    const out: OfflineSyncResult[] = [];
    for (const pair of this.pending.splice(0)) {
      const reply = await backend.reconcileOffline(pair.offer, pair.payment);
      if (reply.status === 'duplicate') {
        this.emit(`backend flagged ${pair.txId} as a duplicate (${reply.reason})`, { conflictsWith: reply.conflictsWith.reference });
        out.push({ txId: pair.txId, status: 'duplicate', reason: reply.reason });
        continue;
      }
      const receipt = verifyReceipt(this.options.provider, reply.receiptBytes, await this.pinnedBackendKey());
      this.emit(`backend reconciled ${pair.txId}: ${reply.status}, receipt signature verified`, { receipt: shortHex(reply.receiptBytes), ledgerSeq: receipt.statement.ledgerSeq });
      out.push({ txId: pair.txId, status: reply.status, receipt });
    }
    return out;
  }

  // ---- payer ----

  /** Online: scan, sign in the trusted key (after the user confirmed there), submit, check the receipt. */
  async payOnline(qrText: string): Promise<OnlinePaymentResult> {
    const signed = await this.signOnline(qrText);
    return this.submitOnline(signed);
  }

  /** The first half of `payOnline`: returns encodeSigned(OnlinePayment) bytes from the trusted key. */
  async signOnline(qrText: string): Promise<Uint8Array> {
    const env = this.scan(qrText, 'online-request');
    const request = decodePaymentRequest(env.body);
    if (request.expiresAt <= this.now()) throw new TeeError('EXPIRED', `payment request for order ${request.orderId} has expired`, 'API');
    this.emit(`scanned a request: ${formatAmount(request.amount, request.currency)} to ${request.payee.userId}, order ${request.orderId}`, { qrChars: qrText.length });
    const { signed } = await this.call('SIGN_ONLINE_PAYMENT', { request: env.body });
    this.emit('got the signed payment back from the trusted key', { signedPayment: shortHex(signed) });
    return signed;
  }

  /** The second half: send signed bytes to the backend and verify the receipt against them. */
  async submitOnline(signed: Uint8Array): Promise<OnlinePaymentResult> {
    const backend = this.requireBackend();
    const payment = decodeSigned(signed, 'online-payment').statement;
    const reply = await backend.submitPayment(signed);
    this.emit('POST /v1/payments -> 200, receipt received', { bodyBytes: signed.length, receipt: shortHex(reply.receiptBytes) });
    const receipt = verifyReceipt(this.options.provider, reply.receiptBytes, await this.pinnedBackendKey());
    const r = receipt.statement;
    if (r.reference !== payment.orderId || r.amount !== payment.amount || r.currency !== payment.currency || toHex(r.nonce) !== toHex(payment.nonce)) {
      throw new TeeError('SECURITY', 'receipt: does not match the payment that was sent', 'API');
    }
    this.emit(`receipt ${r.receiptId} verified with the backend key`, { ledgerSeq: r.ledgerSeq });
    return { receipt, receiptBytes: reply.receiptBytes, payment };
  }

  /** Offline: the trusted key verifies the offer, asks the user, debits its offline balance and signs. */
  async payOffline(offerQrText: string): Promise<{ qrText: string; payment: Uint8Array }> {
    const env = this.scan(offerQrText, 'offline-offer');
    const offer = decodeSigned(env.body, 'offline-offer').statement;
    this.emit(`scanned an offline offer: ${formatAmount(offer.amount, offer.currency)} to ${offer.payee.userId}, ${offer.txId}`, { qrChars: offerQrText.length });
    const { signed } = await this.call('PAY_OFFLINE', { offer: env.body });
    this.queue({ txId: offer.txId, offer: env.body, payment: signed });
    const qrText = this.qr('offline-payment', signed, offer.expiresAt);
    this.emit('shows the signed offline payment QR', { signedPayment: shortHex(signed), qrChars: qrText.length });
    return { qrText, payment: signed };
  }

  // ---- both ----

  async balance(): Promise<Record<string, number>> {
    return this.requireBackend().balance(this.party.subdomainId, this.party.userId);
  }

  async offlineState(): Promise<WalletResults['OFFLINE_STATE']> {
    return this.call('OFFLINE_STATE', {});
  }

  /** Offline pairs not yet sent to the backend. */
  get pendingOffline(): number {
    return this.pending.length;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.ta.call('CLOSE_HANDLE', {}, this.handle).catch(() => undefined);
    await this.ta.close();
  }

  // ---- internals ----

  private call<C extends 'SIGN_OFFLINE_OFFER' | 'ACCEPT_OFFLINE_PAYMENT' | 'SIGN_ONLINE_PAYMENT' | 'PAY_OFFLINE' | 'OFFLINE_STATE'>(
    command: C, args: Parameters<WalletTaSession['call']>[1] & object,
  ): Promise<WalletResults[C]> {
    if (this.closed) throw new TeeError('BAD_STATE', 'wallet: closed', 'API');
    return this.ta.call(command, args as never, this.handle) as Promise<WalletResults[C]>;
  }

  private amountOf(input: AmountInput): { amount: number; currency: string; expiresAt: number } {
    const amount = aint(input?.amount, 'amount', 1, MAX_AMOUNT);
    const currency = astring(input.currency, 'currency', { pattern: CURRENCY_PATTERN });
    const ttl = input.ttlMs === undefined ? DEFAULT_TTL_MS : aint(input.ttlMs, 'ttlMs', 1, MAX_TTL_MS);
    return { amount, currency, expiresAt: this.now() + ttl };
  }

  private qr(type: QrPayloadType, body: Uint8Array, expiresAt: number): string {
    return encodeQrText({ version: 1, type, issuedAt: this.now(), expiresAt, body });
  }

  /** Decode a scanned QR text (expiry checked by the envelope) and insist on the payload type. */
  private scan(text: string, type: QrPayloadType) {
    const env = decodeQrText(text, { now: this.now() });
    if (env.type !== type) throw new TeeError('BAD_PARAMETERS', `qr: expected a ${type} code, got ${env.type}`, 'API');
    return env;
  }

  private queue(pair: PendingPair): void {
    if (!this.pending.some((p) => p.txId === pair.txId && toHex(p.payment) === toHex(pair.payment))) this.pending.push(pair);
  }

  private freshId(prefix: string): string {
    // Random ids come from the crypto provider (no Math.random in src/).
    return `${prefix}-${toHex(this.options.provider.randomBytes(6)).toUpperCase()}`;
  }

  private requireBackend(): BackendClient {
    if (!this.options.backend) throw new TeeError('BAD_STATE', 'wallet: no backend configured (offline)', 'API');
    return this.options.backend;
  }

  /** Trust on first use when no key was given out of band: later replies must match the pinned key. */
  private async pinnedBackendKey(): Promise<Uint8Array> {
    this.backendKey ??= await this.requireBackend().backendKey();
    return this.backendKey;
  }

  private now(): number {
    return this.options.now?.() ?? Date.now();
  }

  private emit(text: string, detail?: TraceEvent['detail']): void {
    this.options.trace?.({ lane: 'REE', actor: this.actor, text, ...(detail ? { detail } : {}) });
  }
}
