import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  assertDisplayMatches, decodePaymentRequest, decodeSigned, encodePaymentRequest, encodeSigned, onlineDisplayText,
  signingBytes, type OnlinePayment, type OfflineOffer,
} from '../../src/protocol/payment.js';
import { TeeError } from '../../src/common/errors.js';
import { encode } from '../../src/common/codec.js';

const payment = (): OnlinePayment => {
  const base = {
    version: 1 as const, kind: 'online-payment' as const, nonce: new Uint8Array(16).fill(7),
    payee: { subdomainId: 'retail', userId: 'shop-1' }, amount: 1234, currency: 'CNY', orderId: 'ORD-1',
    expiresAt: 2_000_000_000_000, payer: { subdomainId: 'retail', userId: 'alice' }, display: '', signedAt: 1_900_000_000_000,
  };
  return { ...base, display: onlineDisplayText(base) };
};

describe('payment protocol', () => {
  it('round-trips a signed online payment', () => {
    const p = payment();
    const bytes = encodeSigned({ statement: p, signature: new Uint8Array(64).fill(1) });
    const back = decodeSigned(bytes, 'online-payment');
    expect(back.statement).toEqual(p);
    expect(signingBytes(back.statement)).toEqual(signingBytes(p));
  });

  it('separates statement kinds in the signed bytes', () => {
    const offer: OfflineOffer = {
      version: 1, kind: 'offline-offer', nonce: new Uint8Array(16), txId: 'T1', amount: 5, currency: 'CNY',
      payee: { subdomainId: 'retail', userId: 'shop-1' }, expiresAt: 1,
    };
    expect(decodeSigned(encodeSigned({ statement: offer, signature: new Uint8Array(64) }), 'offline-offer').statement).toEqual(offer);
    expect(() => decodeSigned(encodeSigned({ statement: offer, signature: new Uint8Array(64) }), 'online-payment')).toThrow(TeeError);
  });

  it('rejects a display text that differs from the fields', () => {
    const p = payment();
    expect(() => assertDisplayMatches(p)).not.toThrow();
    expect(() => assertDisplayMatches({ ...p, amount: 9999 })).toThrow(/does not match/);
  });

  it('validates requests and rejects bad fields with BAD_PARAMETERS', () => {
    const r = { version: 1 as const, kind: 'online-request' as const, payee: { subdomainId: 's', userId: 'u' }, amount: 100, currency: 'EUR', orderId: 'o', expiresAt: 5 };
    expect(decodePaymentRequest(encodePaymentRequest(r))).toEqual(r);
    expect(() => decodePaymentRequest(encodePaymentRequest({ ...r, amount: 0 }))).toThrow(/amount/);
    expect(() => decodePaymentRequest(encodePaymentRequest({ ...r, currency: 'eur' }))).toThrow(/currency/);
    expect(() => decodePaymentRequest(encode([2, 'online-request']))).toThrow(TeeError);
  });

  it('never throws anything but TeeError on random input', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        try {
          decodeSigned(bytes, 'online-payment');
        } catch (err) {
          expect(err).toBeInstanceOf(TeeError);
        }
      }),
      { numRuns: 1000 },
    );
  });
});
