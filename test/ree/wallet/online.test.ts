/**
 * Online payments through the REE wallet against the backend over real HTTP: the happy path and
 * every way the REE (or a bad QR) might try to cheat — each refused, with nothing settled.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeSigned, decodeSigned, onlineDisplayText } from '../../../src/protocol/payment.js';
import { encodePaymentRequest } from '../../../src/protocol/payment.js';
import { encodeQrText } from '../../../src/ree/qr/index.js';
import { runOnlinePayment, type DemoWorld } from '../../../src/ree/demo/index.js';
import { scanQr, showQr } from '../../../src/ree/wallet/index.js';
import { failure, makeDemoWorld } from './fixtures.js';

describe('online payment through the wallets', () => {
  let world: DemoWorld;
  beforeAll(async () => {
    ({ world } = await makeDemoWorld());
  }, 30_000);
  afterAll(async () => world?.close());

  const balances = async () => ({ payer: (await world.wallets.payer.balance()).CNY, payee: (await world.wallets.payee.balance()).CNY });
  const signFor = async (amount: number) => {
    const { qrText } = world.wallets.payee.requestPayment({ amount, currency: 'CNY' });
    return world.wallets.payer.signOnline(scanQr(await showQr(qrText)));
  };

  it('pays: the receipt verifies with the backend key and matches the order', async () => {
    const before = await balances();
    const { qrText, request } = world.wallets.payee.requestPayment({ amount: 2500, currency: 'CNY', orderId: 'ORD-1' });
    const png = await showQr(qrText);
    expect(scanQr(png)).toBe(qrText);
    const { receipt, payment } = await world.wallets.payer.payOnline(scanQr(png));
    expect(receipt.statement).toMatchObject({ reference: 'ORD-1', amount: 2500, payer: world.parties.payer, payee: request.payee });
    expect(payment.display).toBe(onlineDisplayText(payment));
    expect(world.users.payer.prompts.at(-1)?.lines.join(' ')).toContain('25.00 CNY');
    expect(await balances()).toEqual({ payer: before.payer - 2500, payee: before.payee + 2500 });
  });

  it('a forged signature is refused by the backend (SECURITY)', async () => {
    const before = await balances();
    const signed = decodeSigned(await signFor(100), 'online-payment');
    signed.signature[5]! ^= 1;
    expect((await failure(world.wallets.payer.submitOnline(encodeSigned(signed)))).code).toBe('SECURITY');
    expect(await balances()).toEqual(before);
  });

  it('the REE altering the amount after the user confirmed is refused (SECURITY), even with a matching display text', async () => {
    const before = await balances();
    const signed = decodeSigned(await signFor(100), 'online-payment');
    signed.statement.amount = 9900;
    expect((await failure(world.wallets.payer.submitOnline(encodeSigned(signed)))).code).toBe('SECURITY');
    signed.statement.display = onlineDisplayText(signed.statement);
    expect((await failure(world.wallets.payer.submitOnline(encodeSigned(signed)))).code).toBe('SECURITY');
    expect(await balances()).toEqual(before);
  });

  it('redirecting a signed payment to another payee is refused (SECURITY)', async () => {
    const before = await balances();
    const signed = decodeSigned(await signFor(100), 'online-payment');
    signed.statement.payee = { subdomainId: 'retail', userId: 'mallory' };
    signed.statement.display = onlineDisplayText(signed.statement);
    expect((await failure(world.wallets.payer.submitOnline(encodeSigned(signed)))).code).toBe('SECURITY');
    expect(await balances()).toEqual(before);
  });

  it('replaying a settled payment is refused and settles nothing', async () => {
    const signed = await signFor(300);
    await world.wallets.payer.submitOnline(signed);
    const before = await balances();
    const err = await failure(world.wallets.payer.submitOnline(signed));
    expect(err.code).toBe('SECURITY');
    expect(err.message).toMatch(/replay/);
    expect(await balances()).toEqual(before);
  });

  it('an expired request QR is refused before the trusted key is asked', async () => {
    const prompts = world.users.payer.prompts.length;
    const now = Date.now();
    const request = { version: 1, kind: 'online-request', payee: world.parties.payee, amount: 100, currency: 'CNY', orderId: 'ORD-old', expiresAt: now - 60_000 } as const;
    const qr = encodeQrText({ version: 1, type: 'online-request', issuedAt: now - 120_000, expiresAt: now - 60_000, body: encodePaymentRequest(request) });
    expect((await failure(world.wallets.payer.payOnline(qr))).code).toBe('EXPIRED');
    expect(world.users.payer.prompts.length).toBe(prompts);
  });

  it('a receipt not signed by the pinned backend key is refused (SECURITY)', async () => {
    const { Wallet } = await import('../../../src/ree/wallet/index.js');
    const impostorKey = world.provider.generateKeyPair('p256').publicKey;
    const wallet = await Wallet.open({
      driver: world.phones.payer.driver, party: world.parties.payer, provider: world.provider,
      backend: world.backend.client, backendPublicKey: impostorKey,
    });
    try {
      const { qrText } = world.wallets.payee.requestPayment({ amount: 100, currency: 'CNY' });
      const err = await failure(wallet.payOnline(qrText));
      expect(err.code).toBe('SECURITY');
      expect(err.message).toMatch(/receipt/);
    } finally {
      await wallet.close();
    }
  });

  it('a genuine receipt for another payment, handed back by the REE, is refused (SECURITY)', async () => {
    const { BackendClient } = await import('../../../src/ree/backend/client.js');
    const { Wallet } = await import('../../../src/ree/wallet/index.js');
    const earlier = await world.wallets.payer.payOnline(world.wallets.payee.requestPayment({ amount: 300, currency: 'CNY' }).qrText);
    // A backend (or REE) that answers every payment with that earlier, validly sealed receipt.
    class Replaying extends BackendClient {
      override async submitPayment(): Promise<{ receipt: typeof earlier.receipt; receiptBytes: Uint8Array }> {
        return { receipt: earlier.receipt, receiptBytes: earlier.receiptBytes };
      }
    }
    const wallet = await Wallet.open({
      driver: world.phones.payer.driver, party: world.parties.payer, provider: world.provider,
      backend: new Replaying(world.backend.url), backendPublicKey: world.backend.publicKey,
    });
    try {
      const err = await failure(wallet.payOnline(world.wallets.payee.requestPayment({ amount: 300, currency: 'CNY' }).qrText));
      expect(err.code).toBe('SECURITY');
      expect(err.message).toMatch(/receipt: does not match/);
    } finally {
      await wallet.close();
    }
  });

  it('a QR of the wrong kind or a garbled text is a clear BAD_PARAMETERS', async () => {
    const offer = await world.wallets.payee.offerOffline({ amount: 100, currency: 'CNY' });
    expect((await failure(world.wallets.payer.payOnline(offer.qrText))).message).toMatch(/expected a online-request code/);
    expect((await failure(world.wallets.payer.payOnline('TS1:not base45 at all!'))).code).toBe('BAD_PARAMETERS');
  });

  it('the user rejecting on the trusted UI: no signature, nothing sent', async () => {
    const before = await balances();
    world.users.payer.decision = 'reject';
    try {
      const { qrText } = world.wallets.payee.requestPayment({ amount: 700, currency: 'CNY' });
      const err = await failure(world.wallets.payer.payOnline(qrText));
      expect(err.code).toBe('CANCEL');
      expect(world.users.payer.prompts.at(-1)?.lines.join(' ')).toContain('7.00 CNY');
    } finally {
      world.users.payer.decision = 'confirm';
    }
    expect(await balances()).toEqual(before);
  });

  it('above the PIN limit a wrong PIN signs nothing; the right one pays', async () => {
    const before = await balances();
    world.users.payer.pin = '00000000';
    try {
      const { qrText } = world.wallets.payee.requestPayment({ amount: 15_000, currency: 'CNY' });
      const err = await failure(world.wallets.payer.payOnline(qrText));
      expect(err.code).toBe('ACCESS_DENIED');
      expect(err.message).toMatch(/PIN: wrong/);
      expect(world.users.payer.prompts.at(-1)?.requirePin).toBe(true);
    } finally {
      world.users.payer.pin = '73925184';
    }
    expect(await balances()).toEqual(before);
    const r = await runOnlinePayment(world, { amount: 15_000 });
    expect(r.receipt.statement.amount).toBe(15_000);
  });
});
