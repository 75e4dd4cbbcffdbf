/**
 * Stateless checks on payments arriving from the REE, before the ledger sees them: decode with the
 * protocol's decoders, map the signer's public key with CPK, verify the signature over the canonical
 * signing bytes, recompute the confirmed text (WYSIWYS), check expiry. The ledger then does the
 * stateful checks (replay, order paid, funds) under its queue.
 *
 * Everything here is CPU-only and runs outside the ledger queue, so concurrent requests verify in
 * parallel with settlement. Every failure is a TeeError with origin 'BACKEND'.
 */
import { TeeError } from '../../common/errors.js';
import { toHex } from '../../common/bytes.js';
import type { CryptoProvider } from '../../crypto/provider.js';
import {
  assertDisplayMatches, decodeSigned, signingBytes,
  type OfflineOffer, type OfflinePayment, type OnlinePayment, type PartyId, type Signed,
} from '../../protocol/payment.js';

/** Maps a party to its public key; throws ITEM_NOT_FOUND for an unknown subdomain. */
export interface KeyResolver {
  publicKeyOf(party: PartyId, identityProof?: Uint8Array): Uint8Array;
}

export interface VerifyContext {
  provider: CryptoProvider;
  keys: KeyResolver;
  /** Milliseconds since the epoch. */
  now: () => number;
}

export interface VerifiedOnline {
  signed: Signed<OnlinePayment>;
  /** Hex SHA-256 of the payer's signing bytes. */
  digest: string;
}

export interface VerifiedOffline {
  offer: Signed<OfflineOffer>;
  payment: Signed<OfflinePayment>;
  /** Hex SHA-256 of the payer's signing bytes: what identifies this payment for idempotency. */
  digest: string;
}

function fail(code: 'SECURITY' | 'EXPIRED' | 'BAD_PARAMETERS', message: string): never {
  throw new TeeError(code, message, 'BACKEND');
}

/** Run a step and re-label any TeeError as the backend's (decoders say 'API'); foreign errors stay hidden. */
function asBackend<T>(step: () => T): T {
  try {
    return step();
  } catch (err) {
    if (err instanceof TeeError) throw new TeeError(err.code, err.message, 'BACKEND');
    throw new TeeError('BAD_PARAMETERS', 'malformed input', 'BACKEND');
  }
}

const sameParty = (a: PartyId, b: PartyId): boolean => a.subdomainId === b.subdomainId && a.userId === b.userId;

function checkSignature(ctx: VerifyContext, signer: PartyId, message: Uint8Array, signed: Signed<OnlinePayment | OfflineOffer | OfflinePayment>, what: string): void {
  const publicKey = asBackend(() => ctx.keys.publicKeyOf(signer, signed.identityProof));
  if (!ctx.provider.verify('p256', publicKey, message, signed.signature)) fail('SECURITY', `${what}: signature does not verify`);
}

/** Decode and verify a signed online payment; throws on the first failed check. */
export function verifyOnlinePayment(ctx: VerifyContext, bytes: Uint8Array): VerifiedOnline {
  const signed = asBackend(() => decodeSigned(bytes, 'online-payment'));
  const p = signed.statement;
  const message = signingBytes(p);
  checkSignature(ctx, p.payer, message, signed, 'online payment');
  return finishOnline(ctx, signed, message);
}

/** A signature check done elsewhere (a worker thread): the same answer as `provider.verify`. */
export type AsyncVerifier = (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array) => Promise<boolean>;

/** `verifyOnlinePayment` with the P-256 check handed to `verifier`; the same checks in the same order. */
export async function verifyOnlinePaymentWith(ctx: VerifyContext, bytes: Uint8Array, verifier: AsyncVerifier): Promise<VerifiedOnline> {
  const signed = asBackend(() => decodeSigned(bytes, 'online-payment'));
  const p = signed.statement;
  const message = signingBytes(p);
  const publicKey = asBackend(() => ctx.keys.publicKeyOf(p.payer, signed.identityProof));
  if (!(await verifier(publicKey, message, signed.signature))) fail('SECURITY', 'online payment: signature does not verify');
  return finishOnline(ctx, signed, message);
}

function finishOnline(ctx: VerifyContext, signed: Signed<OnlinePayment>, message: Uint8Array): VerifiedOnline {
  const p = signed.statement;
  asBackend(() => assertDisplayMatches(p));
  if (ctx.now() > p.expiresAt) fail('EXPIRED', `online payment: order ${p.orderId} expired`);
  if (sameParty(p.payer, p.payee)) fail('BAD_PARAMETERS', 'online payment: payer and payee are the same party');
  return { signed, digest: toHex(ctx.provider.sha256(message)) };
}

/**
 * Verify an offline pair: the payee-signed offer and the payer-signed payment that answers it. The
 * payment must be bound to exactly this offer (digest and nonce) and repeat its fields.
 */
export function verifyOfflinePair(ctx: VerifyContext, offerBytes: Uint8Array, paymentBytes: Uint8Array): VerifiedOffline {
  const offer = asBackend(() => decodeSigned(offerBytes, 'offline-offer'));
  const payment = asBackend(() => decodeSigned(paymentBytes, 'offline-payment'));
  const o = offer.statement;
  const p = payment.statement;
  const offerMessage = signingBytes(o);
  const paymentMessage = signingBytes(p);
  checkSignature(ctx, o.payee, offerMessage, offer, 'offline offer');
  checkSignature(ctx, p.payer, paymentMessage, payment, 'offline payment');
  if (toHex(ctx.provider.sha256(offerMessage)) !== toHex(p.offerDigest)) fail('SECURITY', 'offline payment: offer digest does not match the offer');
  if (toHex(p.offerNonce) !== toHex(o.nonce)) fail('SECURITY', 'offline payment: offer nonce does not match the offer');
  if (p.txId !== o.txId || p.amount !== o.amount || p.currency !== o.currency || !sameParty(p.payee, o.payee)) {
    fail('SECURITY', 'offline payment: fields differ from the signed offer');
  }
  asBackend(() => assertDisplayMatches(p));
  if (p.signedAt > o.expiresAt) fail('EXPIRED', `offline payment: signed after offer ${o.txId} expired`);
  if (sameParty(p.payer, p.payee)) fail('BAD_PARAMETERS', 'offline payment: payer and payee are the same party');
  return { offer, payment, digest: toHex(ctx.provider.sha256(paymentMessage)) };
}
