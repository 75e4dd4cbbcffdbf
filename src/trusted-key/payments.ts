/**
 * Payments, built and signed inside the trusted key. The caller (the TEE OS, on behalf of the REE)
 * supplies only what the other party published (a payment request, an offer, a payment); the key
 * adds its own nonce, the payer identity, the time and the display text, renders the text from the
 * very fields it signs, asks the user on the trusted UI, and only then signs with the payment key.
 * A caller-supplied display that differs from the rendered one is refused: the user confirms what
 * is signed, nothing else ("what you see is what you sign").
 *
 * Offline state lives in the key's secure storage (namespace 'payments'):
 *   wallet:<keyId>                        payer: [1, currency, balance, counter]
 *   spent:<keyId>:<counter>               payer: each signed offline payment (for later sync), stored
 *                                         in the same atomic change as the balance and counter it set
 *   offer:<keyId>:<txId>                  payee: pending offers it signed (at most MAX_PENDING_OFFERS)
 *   seen:<keyId>:<payer hash>:<counter>   payee: accepted payments; its existence refuses a double spend;
 *                                         written in the same change that retires the offer
 * Restoring an old copy of the store is detected at open (SECURITY), so neither the balance nor the
 * counter can be wound back to spend twice.
 */
import { toHex, utf8 } from '../common/bytes.js';
import { aint, astring } from '../common/checks.js';
import { decode, encode } from '../common/codec.js';
import { TeeError } from '../common/errors.js';
import type { TraceSink } from '../common/trace.js';
import {
  assertDisplayMatches,
  decodePaymentRequest,
  decodeSigned,
  encodeSigned,
  encodeStatement,
  formatAmount,
  MAX_AMOUNT,
  NONCE_BYTES,
  offlineDisplayText,
  onlineDisplayText,
  parseStatement,
  signingBytes,
  type OfflineOffer,
  type OfflinePayment,
  type OnlinePayment,
  type PartyId,
  type SignedStatement,
} from '../protocol/payment.js';
import { Mutex } from '../storage/mutex.js';
import type { AppStorage, TrustedKeyStorage } from './secure-storage/index.js';
import type { IdentityInfo, TrustedComputing } from './trusted-computing/index.js';
import type { TrustedInteraction, TrustedUiPort } from './trusted-interaction/index.js';

export const APP_ID = 'payments';
/** Amounts above this (minor units) need the PIN as well as a confirmation. */
export const DEFAULT_PIN_LIMIT = 10_000;
const CURRENCY = /^[A-Z]{3}$/;
/**
 * Offers a payee key keeps at once. The REE may ask for offers at will, and each one stays in the
 * key's storage until it is paid: without a bound it could fill the key's storage.
 */
export const MAX_PENDING_OFFERS = 256;
/**
 * How long an offer is kept after it expires. A payment signed before expiry is still accepted when
 * it reaches the payee later (offline, the payer's answer may take a while), so an expired offer is
 * dropped only once this much later, and only to make room for a new one.
 */
export const EXPIRED_OFFER_RETENTION_MS = 24 * 60 * 60 * 1000;

export interface PaymentServiceOptions {
  computing: TrustedComputing;
  interaction: TrustedInteraction;
  storage: TrustedKeyStorage;
  pinLimit?: number;
  now?: () => number;
  trace?: TraceSink;
}

export interface OfflineState {
  currency: string;
  balance: number;
  counter: number;
  /** Payer side: the offline payments this key signed (encoded signed statements). */
  spent: Uint8Array[];
  /** Payee side: the offline payments this key accepted (encoded signed statements). */
  accepted: Uint8Array[];
  pendingOffers: number;
}

export interface AcceptedPayment {
  txId: string;
  amount: number;
  currency: string;
  payer: PartyId;
  counter: number;
}

interface Wallet {
  currency: string;
  balance: number;
  counter: number;
}

interface PendingOffer {
  nonce: Uint8Array;
  digest: Uint8Array;
  amount: number;
  currency: string;
  expiresAt: number;
}

const party = (i: IdentityInfo): PartyId => ({ subdomainId: i.subdomainId, userId: i.userId });
const sameParty = (a: PartyId, b: PartyId) => a.subdomainId === b.subdomainId && a.userId === b.userId;

function corrupt(what: string): never {
  throw new TeeError('CORRUPT_OBJECT', `payments: stored ${what} is malformed`, 'TRUSTED_KEY');
}

function encodeWallet(w: Wallet): Uint8Array {
  return encode([1, w.currency, w.balance, w.counter]);
}

function decodeWallet(bytes: Uint8Array): Wallet {
  const v = decode(bytes, 256, 'TRUSTED_KEY');
  if (!Array.isArray(v) || v.length !== 4 || v[0] !== 1) corrupt('offline wallet');
  try {
    return { currency: astring(v[1], 'currency', { pattern: CURRENCY }), balance: aint(v[2], 'balance'), counter: aint(v[3], 'counter') };
  } catch {
    return corrupt('offline wallet');
  }
}

function decodeOffer(bytes: Uint8Array): PendingOffer {
  const v = decode(bytes, 512, 'TRUSTED_KEY');
  if (!Array.isArray(v) || v.length !== 6 || v[0] !== 1 || !(v[1] instanceof Uint8Array) || !(v[2] instanceof Uint8Array)) corrupt('offer');
  try {
    return { nonce: v[1], digest: v[2], amount: aint(v[3], 'amount'), currency: astring(v[4], 'currency'), expiresAt: aint(v[5], 'expiresAt') };
  } catch {
    return corrupt('offer');
  }
}

export class PaymentService {
  readonly #computing: TrustedComputing;
  readonly #interaction: TrustedInteraction;
  readonly #store: AppStorage;
  readonly #pinLimit: number;
  readonly #now: () => number;
  readonly #trace: TraceSink | undefined;
  /** Offers are made one at a time, so concurrent calls cannot pass the bound together. */
  readonly #offers = new Mutex();
  /** Offline payments (payer side), one at a time: each reads the counter it replaces. */
  readonly #payments = new Mutex();
  /**
   * Per payee key, once its full list was scanned: a lower bound on the expiry of its pending
   * offers (offers paid since only raise the true minimum), so a refusal needs no rescan.
   */
  readonly #earliestExpiry = new Map<string, number>();

  constructor(options: PaymentServiceOptions) {
    this.#computing = options.computing;
    this.#interaction = options.interaction;
    this.#store = options.storage.app(APP_ID);
    this.#pinLimit = aint(options.pinLimit ?? DEFAULT_PIN_LIMIT, 'pinLimit', 0, MAX_AMOUNT);
    this.#now = options.now ?? Date.now;
    this.#trace = options.trace;
  }

  /** Online: sign a payment for a payee's request after the user confirms it (PIN above the limit). */
  async signOnlinePayment(keyId: string, requestBytes: Uint8Array, callerDisplay?: string, via?: TrustedUiPort): Promise<Uint8Array> {
    const identity = await this.#payerIdentity(keyId);
    const request = decodePaymentRequest(requestBytes);
    const now = this.#now();
    if (request.expiresAt <= now) throw new TeeError('EXPIRED', `online payment: request for order ${request.orderId} has expired`, 'TRUSTED_KEY');
    const payer = party(identity);
    const display = onlineDisplayText({ ...request, payer });
    this.#checkCallerDisplay(callerDisplay, display);
    this.#step('online payment request decoded', {
      payee: `${request.payee.userId}@${request.payee.subdomainId}`,
      amount: formatAmount(request.amount, request.currency),
      orderId: request.orderId,
      display,
    });
    await this.#confirm('Confirm payment', display, request.amount, via);
    const statement: OnlinePayment = {
      version: 1,
      kind: 'online-payment',
      nonce: this.#computing.random(NONCE_BYTES),
      payee: request.payee,
      amount: request.amount,
      currency: request.currency,
      orderId: request.orderId,
      expiresAt: request.expiresAt,
      payer,
      display,
      signedAt: this.#now(),
    };
    const signed = await this.#sign(keyId, identity, statement);
    this.#step('online payment signed with the identity key', { orderId: request.orderId, nonce: toHex(statement.nonce) });
    return signed;
  }

  /** Offline, payee side: sign an offer and remember it as pending. */
  async signOfflineOffer(keyId: string, input: { txId: unknown; amount: unknown; currency: unknown; expiresAt: unknown }): Promise<Uint8Array> {
    const identity = await this.#payerIdentity(keyId);
    await this.#assertNotBlocked();
    const draft = {
      version: 1 as const,
      kind: 'offline-offer' as const,
      nonce: this.#computing.random(NONCE_BYTES),
      txId: input.txId as string,
      amount: input.amount as number,
      currency: input.currency as string,
      payee: party(identity),
      expiresAt: input.expiresAt as number,
    };
    // One set of checks for every field: the protocol's own parser.
    const offer = parseStatement(decode(encodeStatement(draft), 8192, 'TRUSTED_KEY'), 'offline-offer');
    if (offer.expiresAt <= this.#now()) throw new TeeError('BAD_PARAMETERS', 'offline offer: expiresAt is in the past', 'TRUSTED_KEY');
    const pending = encode([1, offer.nonce, this.#computing.sha256(signingBytes(offer)), offer.amount, offer.currency, offer.expiresAt]);
    await this.#offers.run(async () => {
      const offerId = `offer:${keyId}:${offer.txId}`;
      // Checked first, so a reused txId is told as such even when no room is left.
      if (await this.#store.has(offerId)) throw new TeeError('ACCESS_CONFLICT', `offline offer: txId ${offer.txId} already used`, 'TRUSTED_KEY');
      await this.#makeRoomForOffer(keyId);
      await this.#store.put(offerId, pending, { exclusive: true });
      const earliest = this.#earliestExpiry.get(keyId);
      if (earliest !== undefined) this.#earliestExpiry.set(keyId, Math.min(earliest, offer.expiresAt));
    });
    const signed = await this.#sign(keyId, identity, offer);
    this.#step('offline offer signed (payee)', { txId: offer.txId, amount: formatAmount(offer.amount, offer.currency) });
    return signed;
  }

  /**
   * Offline, payer side: verify the payee's offer (key mapped from the installed matrix), refuse an
   * expired one, ask the user, sign the payment bound to the offer's digest and the next counter,
   * then store the lower balance, the new counter and the signed payment in one atomic change.
   */
  async payOffline(keyId: string, offerBytes: Uint8Array, callerDisplay?: string, via?: TrustedUiPort): Promise<Uint8Array> {
    const identity = await this.#payerIdentity(keyId);
    const signedOffer = decodeSigned(offerBytes, 'offline-offer');
    const offer = signedOffer.statement;
    const payeeKey = await this.#computing.mapPeerPublicKey(offer.payee, signedOffer.identityProof);
    if (!this.#computing.verifyWithPublicKey('p256', payeeKey, signingBytes(offer), signedOffer.signature)) {
      throw new TeeError('SECURITY', `offline offer ${offer.txId}: payee signature does not verify`, 'TRUSTED_KEY');
    }
    if (offer.expiresAt <= this.#now()) throw new TeeError('EXPIRED', `offline offer ${offer.txId}: expired`, 'TRUSTED_KEY');
    const payer = party(identity);
    if (sameParty(payer, offer.payee)) throw new TeeError('BAD_PARAMETERS', 'offline payment: payer and payee are the same identity', 'TRUSTED_KEY');
    const display = offlineDisplayText({ amount: offer.amount, currency: offer.currency, payee: offer.payee, txId: offer.txId, payer });
    this.#checkCallerDisplay(callerDisplay, display);
    this.#step('offline offer verified against the mapped payee key', {
      payee: `${offer.payee.userId}@${offer.payee.subdomainId}`,
      amount: formatAmount(offer.amount, offer.currency),
      txId: offer.txId,
      display,
    });
    const walletId = `wallet:${keyId}`;
    const checkFunds = (bytes: Uint8Array | undefined): Wallet => {
      if (!bytes) throw new TeeError('ACCESS_DENIED', 'offline payment: no offline balance on this key', 'TRUSTED_KEY');
      const wallet = decodeWallet(bytes);
      if (wallet.currency !== offer.currency) throw new TeeError('BAD_PARAMETERS', `offline payment: balance is in ${wallet.currency}, offer in ${offer.currency}`, 'TRUSTED_KEY');
      if (offer.amount > wallet.balance) throw new TeeError('ACCESS_DENIED', 'offline payment: amount exceeds the offline balance', 'TRUSTED_KEY');
      return wallet;
    };
    const readWallet = async () => checkFunds((await this.#store.has(walletId)) ? await this.#store.get(walletId) : undefined);
    // Early check so the user is not asked for a payment that cannot be made; the check below decides.
    await readWallet();
    await this.#confirm('Confirm offline payment', display, offer.amount, via);

    // The new balance and counter and the signed payment are stored as one change, so a crash or a
    // cut of power at any point leaves either no trace of the payment or all of it: never a debit
    // without the payment that explains it (OFFLINE_STATE lists it under `spent`, for the wallet to
    // recover after a lost answer). Payments run one at a time, so the counter read here is the one
    // that gets replaced.
    return this.#payments.run(async () => {
      const wallet = await readWallet();
      const counter = wallet.counter + 1;
      const signed = await this.#signOfflinePayment(keyId, identity, offer, payer, counter, display);
      wallet.balance -= offer.amount;
      wallet.counter = counter;
      await this.#store.commit([
        { id: walletId, data: encodeWallet(wallet) },
        { id: `spent:${keyId}:${String(counter).padStart(16, '0')}`, data: signed },
      ]);
      this.#step('offline payment signed; balance, counter and payment stored as one change', { counter, balanceLeft: formatAmount(wallet.balance, offer.currency) });
      return signed;
    });
  }

  async #signOfflinePayment(keyId: string, identity: IdentityInfo, offer: OfflineOffer, payer: PartyId, counter: number, display: string): Promise<Uint8Array> {
    const payment: OfflinePayment = {
      version: 1,
      kind: 'offline-payment',
      offerNonce: offer.nonce,
      offerDigest: this.#computing.sha256(signingBytes(offer)),
      txId: offer.txId,
      amount: offer.amount,
      currency: offer.currency,
      payee: offer.payee,
      payer,
      counter,
      display,
      signedAt: this.#now(),
    };
    return this.#sign(keyId, identity, payment);
  }

  /**
   * Offline, payee side: check the payer's signature (mapped key), that the payment answers one of
   * this key's pending offers, and that (payer, counter) is new; then record it. A second use of a
   * counter is SECURITY 'double spend'.
   */
  async acceptOfflinePayment(keyId: string, paymentBytes: Uint8Array): Promise<AcceptedPayment> {
    const identity = await this.#payerIdentity(keyId);
    const signed = decodeSigned(paymentBytes, 'offline-payment');
    const p = signed.statement;
    assertDisplayMatches(p);
    if (!sameParty(p.payee, party(identity))) throw new TeeError('ACCESS_DENIED', 'offline payment: made out to another payee', 'TRUSTED_KEY');
    const payerKey = await this.#computing.mapPeerPublicKey(p.payer, signed.identityProof);
    if (!this.#computing.verifyWithPublicKey('p256', payerKey, signingBytes(p), signed.signature)) {
      throw new TeeError('SECURITY', `offline payment ${p.txId}: payer signature does not verify`, 'TRUSTED_KEY');
    }
    const payerTag = toHex(this.#computing.sha256(utf8(`${p.payer.subdomainId}\u0000${p.payer.userId}`))).slice(0, 32);
    const seenId = `seen:${keyId}:${payerTag}:${p.counter}`;
    if (await this.#store.has(seenId)) throw this.#doubleSpend(p);
    const offerId = `offer:${keyId}:${p.txId}`;
    if (!(await this.#store.has(offerId))) throw new TeeError('ACCESS_DENIED', `offline payment ${p.txId}: no pending offer with this txId`, 'TRUSTED_KEY');
    const offer = decodeOffer(await this.#store.get(offerId));
    if (
      Buffer.compare(offer.nonce, p.offerNonce) !== 0 || Buffer.compare(offer.digest, p.offerDigest) !== 0 ||
      offer.amount !== p.amount || offer.currency !== p.currency
    ) {
      throw new TeeError('SECURITY', `offline payment ${p.txId}: does not answer the pending offer`, 'TRUSTED_KEY');
    }
    if (p.signedAt > offer.expiresAt) throw new TeeError('EXPIRED', `offline payment ${p.txId}: signed after the offer expired`, 'TRUSTED_KEY');
    try {
      // One change records the payment and retires the offer, and it is the commit point: of two
      // racing copies (same counter) one wins and the other is a double spend; of two payments for
      // one offer one wins and the other finds no pending offer. A crash leaves both or neither.
      await this.#store.commit([{ id: seenId, data: paymentBytes, exclusive: true }, { id: offerId, delete: true }]);
    } catch (err) {
      if (err instanceof TeeError && err.code === 'ACCESS_CONFLICT') throw this.#doubleSpend(p);
      if (err instanceof TeeError && err.code === 'ITEM_NOT_FOUND') throw new TeeError('ACCESS_DENIED', `offline payment ${p.txId}: no pending offer with this txId`, 'TRUSTED_KEY');
      throw err;
    }
    this.#step('offline payment verified and recorded (payee)', {
      txId: p.txId,
      payer: `${p.payer.userId}@${p.payer.subdomainId}`,
      counter: p.counter,
      amount: formatAmount(p.amount, p.currency),
    });
    return { txId: p.txId, amount: p.amount, currency: p.currency, payer: p.payer, counter: p.counter };
  }

  async offlineState(keyId: string): Promise<OfflineState> {
    await this.#payerIdentity(keyId);
    const walletId = `wallet:${keyId}`;
    const wallet = (await this.#store.has(walletId)) ? decodeWallet(await this.#store.get(walletId)) : { currency: '', balance: 0, counter: 0 };
    const read = async (prefix: string) => Promise.all((await this.#store.list(prefix)).map((id) => this.#store.get(id)));
    return {
      ...wallet,
      spent: await read(`spent:${keyId}:`),
      accepted: await read(`seen:${keyId}:`),
      pendingOffers: (await this.#store.list(`offer:${keyId}:`)).length,
    };
  }

  /**
   * Simulator shortcut for provisioning: load the offline balance once. A real key would accept only
   * a top-up signed by the backend; here the TEE-side provisioning code sets it, and only the first
   * time (ACCESS_DENIED afterwards), so the REE cannot refill a key.
   */
  async setOfflineBalance(keyId: string, amount: number, currency: string): Promise<void> {
    await this.#payerIdentity(keyId);
    const wallet: Wallet = { currency: astring(currency, 'currency', { pattern: CURRENCY }), balance: aint(amount, 'amount', 0, MAX_AMOUNT), counter: 0 };
    try {
      await this.#store.put(`wallet:${keyId}`, encodeWallet(wallet), { exclusive: true });
    } catch (err) {
      if (err instanceof TeeError && err.code === 'ACCESS_CONFLICT') throw new TeeError('ACCESS_DENIED', 'offline balance: set only once, at provisioning', 'TRUSTED_KEY');
      throw err;
    }
    this.#step('offline balance loaded (provisioning)', { balance: formatAmount(wallet.balance, wallet.currency) });
  }

  // ---- inside ----

  /**
   * Keep a key's pending offers under MAX_PENDING_OFFERS: when full, drop those expired for longer
   * than EXPIRED_OFFER_RETENTION_MS; if none is, refuse the new offer (OUT_OF_MEMORY).
   */
  async #makeRoomForOffer(keyId: string): Promise<void> {
    const ids = await this.#store.list(`offer:${keyId}:`);
    if (ids.length < MAX_PENDING_OFFERS) return;
    const full = () => new TeeError('OUT_OF_MEMORY', `offline offer: ${MAX_PENDING_OFFERS} offers are pending; one must be paid or expire first`, 'TRUSTED_KEY');
    const cutoff = this.#now() - EXPIRED_OFFER_RETENTION_MS;
    if ((this.#earliestExpiry.get(keyId) ?? -Infinity) > cutoff) throw full(); // none can go yet: no rescan
    let left = ids.length;
    let earliest = Infinity;
    for (const id of ids) {
      const { expiresAt } = decodeOffer(await this.#store.get(id));
      if (expiresAt > cutoff) {
        earliest = Math.min(earliest, expiresAt);
        continue;
      }
      await this.#store.delete(id);
      left--;
    }
    this.#earliestExpiry.set(keyId, earliest);
    if (left >= MAX_PENDING_OFFERS) throw full();
    this.#step('expired offers dropped to make room', { dropped: ids.length - left });
  }

  async #payerIdentity(keyId: string): Promise<IdentityInfo> {
    return this.#computing.identityOf(keyId);
  }

  async #assertNotBlocked(): Promise<void> {
    const status = await this.#interaction.pinStatus();
    if (status.permanentlyBlocked) throw new TeeError('PIN_BLOCKED', 'payments: the key is blocked for good', 'TRUSTED_KEY');
  }

  #checkCallerDisplay(callerDisplay: string | undefined, display: string): void {
    if (callerDisplay === undefined) return;
    if (callerDisplay !== display) {
      throw new TeeError('SECURITY', 'payment: the display text given does not match the payment; the key shows only what it signs', 'TRUSTED_KEY');
    }
  }

  /** Ask the user through `via`, the trusted UI of the command's own channel (see CommandOrigin). */
  async #confirm(title: string, display: string, amount: number, via: TrustedUiPort | undefined): Promise<void> {
    await this.#assertNotBlocked();
    const confirmed = await this.#interaction.confirm(display, { title, requirePin: amount > this.#pinLimit, ...(via ? { via } : {}) });
    if (!confirmed) throw new TeeError('CANCEL', 'payment: the user declined on the trusted UI', 'TRUSTED_KEY');
  }

  async #sign<T extends SignedStatement>(keyId: string, identity: IdentityInfo, statement: T): Promise<Uint8Array> {
    const signature = await this.#computing.signPaymentStatement(keyId, statement);
    return encodeSigned({ statement, signature, ...(identity.identityProof ? { identityProof: identity.identityProof } : {}) });
  }

  #doubleSpend(p: OfflinePayment): TeeError {
    this.#step('double spend refused', { txId: p.txId, payer: `${p.payer.userId}@${p.payer.subdomainId}`, counter: p.counter });
    return new TeeError('SECURITY', `offline payment ${p.txId}: double spend (counter ${p.counter} of this payer already used)`, 'TRUSTED_KEY');
  }

  #step(text: string, detail: Record<string, string | number | boolean>): void {
    this.#trace?.({ lane: 'TK', actor: 'payments', text, detail });
  }
}
