/**
 * Payment wire formats that the payer's trusted key, the payee's trusted key, the wallets and the
 * backend must agree on byte for byte. Each signed statement is encoded as a fixed-order array
 * behind a domain label, so the signed bytes are canonical and a signature for one kind of
 * statement can never be replayed as another.
 *
 * "What you see is what you sign": every signed payment carries the exact text the user confirmed
 * on the trusted UI, and every verifier recomputes that text from the fields and checks it matches.
 */
import { TeeError } from '../common/errors.js';
import { encode, decode, withEncoded } from '../common/codec.js';
import { concatBytes, utf8 } from '../common/bytes.js';
import { aarray, abytes, aint, astring } from '../common/checks.js';

export const PROTOCOL_VERSION = 1;
export const NONCE_BYTES = 16;
export const MAX_AMOUNT = 1_000_000_000_000; // minor units; well inside a safe integer
const ID_PATTERN = /^[A-Za-z0-9._:-]{1,64}$/;
const CURRENCY_PATTERN = /^[A-Z]{3}$/;

export interface PartyId {
  subdomainId: string;
  userId: string;
}

/** Online: what the payee's wallet shows as a QR code (public, unsigned). */
export interface PaymentRequest {
  version: 1;
  kind: 'online-request';
  payee: PartyId;
  amount: number;
  currency: string;
  orderId: string;
  expiresAt: number;
}

/** Online: what the payer's trusted key signs after the user confirmed it. */
export interface OnlinePayment {
  version: 1;
  kind: 'online-payment';
  nonce: Uint8Array;
  payee: PartyId;
  amount: number;
  currency: string;
  orderId: string;
  expiresAt: number;
  payer: PartyId;
  display: string;
  signedAt: number;
}

/** Offline: what the payee's trusted key signs into the first QR code. */
export interface OfflineOffer {
  version: 1;
  kind: 'offline-offer';
  nonce: Uint8Array;
  txId: string;
  amount: number;
  currency: string;
  payee: PartyId;
  expiresAt: number;
}

/** Offline: what the payer's trusted key signs back, bound to the offer and a monotonic counter. */
export interface OfflinePayment {
  version: 1;
  kind: 'offline-payment';
  offerNonce: Uint8Array;
  offerDigest: Uint8Array;
  txId: string;
  amount: number;
  currency: string;
  payee: PartyId;
  payer: PartyId;
  counter: number;
  display: string;
  signedAt: number;
}

/** Backend: the settlement receipt, signed by the backend's key. */
export interface Receipt {
  version: 1;
  kind: 'receipt';
  receiptId: string;
  reference: string; // orderId (online) or txId (offline)
  payer: PartyId;
  payee: PartyId;
  amount: number;
  currency: string;
  nonce: Uint8Array;
  settledAt: number;
  ledgerSeq: number;
}

export type SignedStatement = OnlinePayment | OfflineOffer | OfflinePayment | Receipt;

/** A statement with its signature and, in hardened CPK mode, the signer's separating certificate. */
export interface Signed<T extends SignedStatement> {
  statement: T;
  signature: Uint8Array;
  identityProof?: Uint8Array;
}

const LABEL: Record<SignedStatement['kind'], string> = {
  'online-payment': 'tee-sim/payment/online/v1',
  'offline-offer': 'tee-sim/payment/offline-offer/v1',
  'offline-payment': 'tee-sim/payment/offline-payment/v1',
  receipt: 'tee-sim/payment/receipt/v1',
};

const party = (p: PartyId) => [p.subdomainId, p.userId];

/** Fixed-order tuple for each statement: the canonical form that is signed and carried. */
function toTuple(s: SignedStatement): unknown[] {
  switch (s.kind) {
    case 'online-payment':
      return [s.version, s.kind, s.nonce, party(s.payee), s.amount, s.currency, s.orderId, s.expiresAt, party(s.payer), s.display, s.signedAt];
    case 'offline-offer':
      return [s.version, s.kind, s.nonce, s.txId, s.amount, s.currency, party(s.payee), s.expiresAt];
    case 'offline-payment':
      return [s.version, s.kind, s.offerNonce, s.offerDigest, s.txId, s.amount, s.currency, party(s.payee), party(s.payer), s.counter, s.display, s.signedAt];
    case 'receipt':
      return [s.version, s.kind, s.receiptId, s.reference, party(s.payer), party(s.payee), s.amount, s.currency, s.nonce, s.settledAt, s.ledgerSeq];
  }
}

/** Each kind's label and its zero byte, encoded once: every signature check on the backend needs one. */
const SIGNING_PREFIX = Object.fromEntries(
  Object.entries(LABEL).map(([kind, label]) => [kind, concatBytes(utf8(label), new Uint8Array([0]))]),
) as Record<SignedStatement['kind'], Uint8Array>;

/** The exact bytes a signer signs: domain label, a zero byte, then the canonical tuple. */
export function signingBytes(statement: SignedStatement): Uint8Array {
  return signingBytesAfter(0, statement);
}

/**
 * signingBytes(statement) written after `reserve` leading bytes (left zero) of one new buffer, which is
 * returned whole: for a caller that hashes a prefix and the signing bytes together (a Merkle leaf is
 * 0x00 || signing bytes) without a second copy. The signing bytes are `result.subarray(reserve)`.
 */
export function signingBytesAfter(reserve: number, statement: SignedStatement): Uint8Array {
  const prefix = SIGNING_PREFIX[statement.kind];
  return withEncoded(toTuple(statement), (body) => {
    const out = new Uint8Array(reserve + prefix.length + body.length);
    out.set(prefix, reserve);
    out.set(body, reserve + prefix.length);
    return out;
  });
}

export function encodeStatement(statement: SignedStatement): Uint8Array {
  return encode(toTuple(statement));
}

function parseParty(value: unknown, title: string): PartyId {
  const arr = aarray(value, title, 2);
  if (arr.length !== 2) throw new TeeError('BAD_PARAMETERS', `${title}: expected [subdomainId, userId]`, 'API');
  return {
    subdomainId: astring(arr[0], `${title}.subdomainId`, { min: 1, max: 64, pattern: ID_PATTERN }),
    userId: astring(arr[1], `${title}.userId`, { min: 1, max: 64, pattern: ID_PATTERN }),
  };
}

const amountOf = (v: unknown) => aint(v, 'amount', 1, MAX_AMOUNT);
const currencyOf = (v: unknown) => astring(v, 'currency', { min: 3, max: 3, pattern: CURRENCY_PATTERN });
const idOf = (v: unknown, title: string) => astring(v, title, { min: 1, max: 64, pattern: ID_PATTERN });
const timeOf = (v: unknown, title: string) => aint(v, title, 0, 8.64e15);
const displayOf = (v: unknown) => astring(v, 'display', { min: 1, max: 512 });

function expectTuple(value: unknown, length: number, kind: string): unknown[] {
  const arr = aarray(value, kind, 16);
  if (arr.length !== length) throw new TeeError('BAD_PARAMETERS', `${kind}: expected ${length} fields, got ${arr.length}`, 'API');
  if (arr[0] !== PROTOCOL_VERSION) throw new TeeError('NOT_SUPPORTED', `${kind}: unsupported version`, 'API');
  if (arr[1] !== kind) throw new TeeError('BAD_PARAMETERS', `${kind}: wrong statement kind`, 'API');
  return arr;
}

/** Decode and validate a statement of the expected kind from untrusted bytes. */
export function decodeStatement<K extends SignedStatement['kind']>(bytes: Uint8Array, kind: K): Extract<SignedStatement, { kind: K }> {
  const v = decode(bytes, 8192, 'API');
  return parseStatement(v, kind);
}

export function parseStatement<K extends SignedStatement['kind']>(value: unknown, kind: K): Extract<SignedStatement, { kind: K }> {
  let s: SignedStatement;
  switch (kind) {
    case 'online-payment': {
      const a = expectTuple(value, 11, kind);
      s = {
        version: 1, kind: 'online-payment', nonce: abytes(a[2], 'nonce', NONCE_BYTES), payee: parseParty(a[3], 'payee'),
        amount: amountOf(a[4]), currency: currencyOf(a[5]), orderId: idOf(a[6], 'orderId'), expiresAt: timeOf(a[7], 'expiresAt'),
        payer: parseParty(a[8], 'payer'), display: displayOf(a[9]), signedAt: timeOf(a[10], 'signedAt'),
      };
      break;
    }
    case 'offline-offer': {
      const a = expectTuple(value, 8, kind);
      s = {
        version: 1, kind: 'offline-offer', nonce: abytes(a[2], 'nonce', NONCE_BYTES), txId: idOf(a[3], 'txId'),
        amount: amountOf(a[4]), currency: currencyOf(a[5]), payee: parseParty(a[6], 'payee'), expiresAt: timeOf(a[7], 'expiresAt'),
      };
      break;
    }
    case 'offline-payment': {
      const a = expectTuple(value, 12, kind);
      s = {
        version: 1, kind: 'offline-payment', offerNonce: abytes(a[2], 'offerNonce', NONCE_BYTES), offerDigest: abytes(a[3], 'offerDigest', 32),
        txId: idOf(a[4], 'txId'), amount: amountOf(a[5]), currency: currencyOf(a[6]), payee: parseParty(a[7], 'payee'),
        payer: parseParty(a[8], 'payer'), counter: aint(a[9], 'counter', 1), display: displayOf(a[10]), signedAt: timeOf(a[11], 'signedAt'),
      };
      break;
    }
    case 'receipt': {
      const a = expectTuple(value, 11, kind);
      s = {
        version: 1, kind: 'receipt', receiptId: idOf(a[2], 'receiptId'), reference: idOf(a[3], 'reference'), payer: parseParty(a[4], 'payer'),
        payee: parseParty(a[5], 'payee'), amount: amountOf(a[6]), currency: currencyOf(a[7]), nonce: abytes(a[8], 'nonce', NONCE_BYTES),
        settledAt: timeOf(a[9], 'settledAt'), ledgerSeq: aint(a[10], 'ledgerSeq', 0),
      };
      break;
    }
    default:
      throw new TeeError('NOT_SUPPORTED', 'statement: unknown kind', 'API');
  }
  return s as Extract<SignedStatement, { kind: K }>;
}

/** Minor units to a human amount: 1234 CNY -> "12.34 CNY". */
export function formatAmount(amount: number, currency: string): string {
  const major = Math.floor(amount / 100);
  const minor = String(amount % 100).padStart(2, '0');
  return `${major}.${minor} ${currency}`;
}

/** The exact text the trusted UI shows for an online payment; verifiers recompute and compare it. */
export function onlineDisplayText(p: Pick<OnlinePayment, 'amount' | 'currency' | 'payee' | 'orderId' | 'payer'>): string {
  return `Pay ${formatAmount(p.amount, p.currency)} to ${p.payee.userId}@${p.payee.subdomainId} for order ${p.orderId} from ${p.payer.userId}`;
}

export function offlineDisplayText(p: Pick<OfflinePayment, 'amount' | 'currency' | 'payee' | 'txId' | 'payer'>): string {
  return `Pay ${formatAmount(p.amount, p.currency)} offline to ${p.payee.userId}@${p.payee.subdomainId} for ${p.txId} from ${p.payer.userId}`;
}

/** Validate a payment request shown by a payee (unsigned; a verifier trusts only what is signed later). */
export function parsePaymentRequest(value: unknown): PaymentRequest {
  const a = expectTuple(value, 7, 'online-request');
  return {
    version: 1, kind: 'online-request', payee: parseParty(a[2], 'payee'), amount: amountOf(a[3]), currency: currencyOf(a[4]),
    orderId: idOf(a[5], 'orderId'), expiresAt: timeOf(a[6], 'expiresAt'),
  };
}

export function encodePaymentRequest(r: PaymentRequest): Uint8Array {
  return encode([r.version, r.kind, party(r.payee), r.amount, r.currency, r.orderId, r.expiresAt]);
}

export function decodePaymentRequest(bytes: Uint8Array): PaymentRequest {
  return parsePaymentRequest(decode(bytes, 4096, 'API'));
}

/** Carry a signed statement as one byte string: [statement tuple, signature, identityProof?]. */
export function encodeSigned<T extends SignedStatement>(signed: Signed<T>): Uint8Array {
  const parts: unknown[] = [toTuple(signed.statement), signed.signature];
  if (signed.identityProof) parts.push(signed.identityProof);
  return encode(parts);
}

export function decodeSigned<K extends SignedStatement['kind']>(bytes: Uint8Array, kind: K): Signed<Extract<SignedStatement, { kind: K }>> {
  const v = aarray(decode(bytes, 8192, 'API'), 'signed statement', 3);
  if (v.length < 2) throw new TeeError('BAD_PARAMETERS', 'signed statement: expected [statement, signature, proof?]', 'API');
  const out: Signed<Extract<SignedStatement, { kind: K }>> = {
    statement: parseStatement(v[0], kind),
    signature: abytes(v[1], 'signature', 64),
  };
  if (v.length === 3) out.identityProof = abytes(v[2], 'identityProof', { min: 1, max: 1024 });
  return out;
}

/** WYSIWYS check for verifiers: the signed display text must be exactly what the fields render to. */
export function assertDisplayMatches(statement: OnlinePayment | OfflinePayment): void {
  const expected = statement.kind === 'online-payment' ? onlineDisplayText(statement) : offlineDisplayText(statement);
  if (statement.display !== expected) {
    throw new TeeError('SECURITY', `${statement.kind}: confirmed text does not match the signed fields`, 'API');
  }
}
