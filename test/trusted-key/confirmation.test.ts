/**
 * "What you see is what you sign": the online payment is built inside the trusted key, shown on the
 * trusted UI as exactly the text it signs, and signed only if the user confirms. Verifiers map the
 * payer's public key from the CPK matrix (plain and hardened) and recompute the display text.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { utf8 } from '../../src/common/bytes.js';
import { mapHardenedPublicKey, mapPublicKey } from '../../src/cpk/index.js';
import {
  assertDisplayMatches,
  decodeSigned,
  encodePaymentRequest,
  onlineDisplayText,
  signingBytes,
  type PaymentRequest,
} from '../../src/protocol/payment.js';
import { ReeCapture } from '../../src/ree/client-api/index.js';
import type { Phone } from '../../src/device/index.js';
import { HARDENED, PLAIN, assertNoLeaks, failure, makeWorld, provision, seatUser, Wallet, type ScriptedUser, type World } from '../device/fixtures.js';

let orders = 0;
function paymentRequest(amount: number, overrides: Partial<PaymentRequest> = {}): PaymentRequest {
  return {
    version: 1,
    kind: 'online-request',
    payee: { subdomainId: PLAIN, userId: 'coffee-shop' },
    amount,
    currency: 'CNY',
    orderId: `order-${++orders}`,
    expiresAt: Date.now() + 600_000,
    ...overrides,
  };
}

describe('online payment confirmation', () => {
  let world: World;
  let phone: Phone;
  let user: ScriptedUser;
  let w: Wallet;
  let identity: Uint8Array;
  const capture = new ReeCapture();

  beforeAll(async () => {
    world = await makeWorld({ spy: true, hardened: true });
    phone = await world.makePhone('alice');
    await provision(world, phone, 'alice', { capture });
    user = seatUser(phone);
    w = await Wallet.open(phone, capture);
    identity = (await w.call('OPEN_IDENTITY', { subdomainId: PLAIN, userId: 'alice' })).handle;
  });

  afterAll(async () => {
    await w?.close();
    await world?.cleanup();
  });

  it('signs what the user saw: the signature verifies under the CPK-mapped key and the display matches', async () => {
    const req = paymentRequest(2_350);
    const { signed } = await w.call('SIGN_ONLINE_PAYMENT', { request: encodePaymentRequest(req) }, identity);
    const { statement, signature, identityProof } = decodeSigned(signed, 'online-payment');
    expect(identityProof).toBeUndefined();
    expect(statement).toMatchObject({ payee: req.payee, amount: 2_350, currency: 'CNY', orderId: req.orderId, payer: { subdomainId: PLAIN, userId: 'alice' } });
    expect(statement.nonce).toHaveLength(16);
    assertDisplayMatches(statement);
    expect(statement.display).toBe(onlineDisplayText(statement));
    // The screen showed exactly the signed text.
    const screen = user.prompts[user.prompts.length - 1]!;
    expect(screen.title).toBe('Confirm payment');
    expect(screen.lines.join(' ')).toBe(statement.display);
    expect(screen.requirePin).toBe(false);
    const matrix = await world.kmc.publicMatrix(PLAIN);
    const payerKey = mapPublicKey(world.provider, matrix, PLAIN, 'alice');
    expect(world.provider.verify('p256', payerKey, signingBytes(statement), signature)).toBe(true);
  });

  it('each payment carries the key\'s own fresh nonce', async () => {
    const a = decodeSigned((await w.call('SIGN_ONLINE_PAYMENT', { request: encodePaymentRequest(paymentRequest(100)) }, identity)).signed, 'online-payment');
    const b = decodeSigned((await w.call('SIGN_ONLINE_PAYMENT', { request: encodePaymentRequest(paymentRequest(100)) }, identity)).signed, 'online-payment');
    expect(a.statement.nonce).not.toEqual(b.statement.nonce);
  });

  it('the user rejects -> CANCEL and no signature', async () => {
    user.then({ confirmed: false });
    const before = capture.records.length;
    const err = await failure(w.call('SIGN_ONLINE_PAYMENT', { request: encodePaymentRequest(paymentRequest(500)) }, identity));
    expect(err.code).toBe('CANCEL');
    // Nothing signed crossed: the only answer was the error.
    const answers = capture.records.slice(before).filter((r) => r.direction === 'tee->ree');
    expect(answers).toHaveLength(1);
    expect(answers[0]!.bytes.length).toBeLessThan(200);
    user.then('throw'); // the user walks away
    expect((await failure(w.call('SIGN_ONLINE_PAYMENT', { request: encodePaymentRequest(paymentRequest(500)) }, identity))).code).toBe('CANCEL');
  });

  it('a caller-supplied display that differs from the payment is refused before the user is asked', async () => {
    const req = paymentRequest(99_00);
    const payer = { subdomainId: PLAIN, userId: 'alice' };
    const honest = onlineDisplayText({ ...req, payer });
    const screens = user.prompts.length;
    const lies = [
      honest.replace('99.00', '9.90'),
      onlineDisplayText({ ...req, payee: { subdomainId: PLAIN, userId: 'charity' }, payer }),
      `${honest} `,
    ];
    for (const display of lies) {
      const err = await failure(w.call('SIGN_ONLINE_PAYMENT', { request: encodePaymentRequest(req), display }, identity));
      expect(err.code).toBe('SECURITY');
    }
    expect(user.prompts.length).toBe(screens);
    // The honest text is accepted.
    const { signed } = await w.call('SIGN_ONLINE_PAYMENT', { request: encodePaymentRequest(req), display: honest }, identity);
    expect(decodeSigned(signed, 'online-payment').statement.display).toBe(honest);
  });

  it('amounts above the PIN limit ask for the PIN on the same screen', async () => {
    user.then({ confirmed: true, pin: '73925184' });
    await w.call('SIGN_ONLINE_PAYMENT', { request: encodePaymentRequest(paymentRequest(10_001)) }, identity);
    expect(user.prompts[user.prompts.length - 1]!.requirePin).toBe(true);
    // Exactly at the limit: no PIN.
    await w.call('SIGN_ONLINE_PAYMENT', { request: encodePaymentRequest(paymentRequest(10_000)) }, identity);
    expect(user.prompts[user.prompts.length - 1]!.requirePin).toBe(false);
  });

  it('expired or malformed requests are refused without a screen', async () => {
    const screens = user.prompts.length;
    const expired = paymentRequest(100, { expiresAt: Date.now() - 1 });
    expect((await failure(w.call('SIGN_ONLINE_PAYMENT', { request: encodePaymentRequest(expired) }, identity))).code).toBe('EXPIRED');
    const bytes = encodePaymentRequest(paymentRequest(100));
    expect((await failure(w.call('SIGN_ONLINE_PAYMENT', { request: bytes.slice(0, -3) }, identity))).code).toBe('BAD_PARAMETERS');
    expect((await failure(w.call('SIGN_ONLINE_PAYMENT', { request: utf8('pay me') }, identity))).code).toBe('BAD_PARAMETERS');
    const negative = encodePaymentRequest({ ...paymentRequest(100), amount: -5 });
    expect((await failure(w.call('SIGN_ONLINE_PAYMENT', { request: negative }, identity))).code).toBe('BAD_PARAMETERS');
    expect(user.prompts.length).toBe(screens);
  });

  it('only a payment key signs payments', async () => {
    const key = await w.call('GENERATE_KEY', { algorithm: 'p256', usage: 'sign' });
    expect((await failure(w.call('SIGN_ONLINE_PAYMENT', { request: encodePaymentRequest(paymentRequest(100)) }, key.handle))).code).toBe('ACCESS_DENIED');
  });

  it('hardened mode: the signed payment carries the separating certificate, and maps with it', async () => {
    const bob = await world.makePhone('bob');
    await provision(world, bob, 'bob', { subdomainId: HARDENED, capture });
    seatUser(bob);
    const wb = await Wallet.open(bob, capture);
    try {
      const handle = (await wb.call('OPEN_IDENTITY', { subdomainId: HARDENED, userId: 'bob' })).handle;
      const req = paymentRequest(700, { payee: { subdomainId: HARDENED, userId: 'shop' } });
      const { signed } = await wb.call('SIGN_ONLINE_PAYMENT', { request: encodePaymentRequest(req) }, handle);
      const { statement, signature, identityProof } = decodeSigned(signed, 'online-payment');
      expect(identityProof).toBeDefined();
      assertDisplayMatches(statement);
      const matrix = await world.kmc.publicMatrix(HARDENED);
      const payerKey = mapHardenedPublicKey(world.provider, matrix, HARDENED, 'bob', identityProof!);
      expect(world.provider.verify('p256', payerKey, signingBytes(statement), signature)).toBe(true);
    } finally {
      await wb.close();
    }
  });

  it('no key material reaches the REE', async () => {
    await assertNoLeaks(world, capture, [utf8('73925184')]);
  });
});
