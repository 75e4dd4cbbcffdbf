import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { nativeProvider, nobleProvider } from '../../../src/crypto/index.js';
import { TeeError } from '../../../src/common/errors.js';
import { toBase64url } from '../../../src/common/bytes.js';
import { decodeSigned, encodeSigned, onlineDisplayText } from '../../../src/protocol/payment.js';
import { verifyReceipt } from '../../../src/ree/backend/client.js';
import { encodeSealedReceipt } from '../../../src/ree/backend/receipts.js';
import { verifyOnlinePayment } from '../../../src/ree/backend/verify.js';
import {
  expectTeeError, makeKmc, onlinePayment, rawRequest, signAs, startTestBackend, type Kmc, type TestBackend,
} from './fixtures.js';

const provider = nativeProvider;
let world: Kmc;
let t: TestBackend;

beforeAll(async () => {
  world = await makeKmc(provider, { retail: 'plain' }, ['retail/alice', 'retail/bob']);
  t = await startTestBackend(world);
  for (const [user, balance] of [['alice', 100_000], ['bob', 500], ['shop-1', 0], ['shop-2', 0]] as const) {
    await t.client.openAccount({ subdomainId: 'retail', userId: user }, 'CNY', balance);
  }
});
afterAll(async () => {
  await t.dispose();
});

const alice = () => world.identity('retail', 'alice');
const bob = () => world.identity('retail', 'bob');
const shop = { subdomainId: 'retail', userId: 'shop-1' };

async function healthy(): Promise<void> {
  expect((await t.client.health()).status).toBe('ok');
}

describe('backend: online payments over HTTP', () => {
  it('settles a valid payment, returns a receipt the backend key verifies, and moves balances', async () => {
    const before = await t.client.balance('retail', 'alice');
    const statement = onlinePayment(alice().party, shop, { amount: 1234, orderId: 'ORD-happy' });
    const { receipt, receiptBytes } = await t.client.submitPayment(signAs(provider, alice(), statement));
    const backendKey = await t.client.backendKey();
    expect(backendKey).toEqual(t.backend.publicKey);
    const verified = verifyReceipt(provider, receiptBytes, t.backend.publicKey);
    expect(verified.statement).toEqual(receipt.statement);
    expect(receipt.statement).toMatchObject({ reference: 'ORD-happy', amount: 1234, currency: 'CNY', payer: alice().party, payee: shop });
    expect(receipt.statement.nonce).toEqual(statement.nonce);
    // Both providers accept the receipt; a different key does not.
    verifyReceipt(nobleProvider, receiptBytes, t.backend.publicKey);
    expect(() => verifyReceipt(provider, receiptBytes, provider.generateKeyPair('p256').publicKey)).toThrow(/does not verify/);
    expect((await t.client.balance('retail', 'alice')).CNY).toBe(before.CNY! - 1234);
    expect((await t.client.balance('retail', 'shop-1')).CNY).toBeGreaterThanOrEqual(1234);
  });

  it('hands the same receipt out again by payee and reference; an unknown one is ITEM_NOT_FOUND (404)', async () => {
    const statement = onlinePayment(alice().party, shop, { amount: 5, orderId: 'ORD-again' });
    const { receiptBytes } = await t.client.submitPayment(signAs(provider, alice(), statement));
    expect((await t.client.storedReceipt('online', shop, 'ORD-again')).receiptBytes).toEqual(receiptBytes);
    await expectTeeError(t.client.storedReceipt('online', shop, 'ORD-none'), 'ITEM_NOT_FOUND');
    await expectTeeError(t.client.storedReceipt('offline', shop, 'ORD-again'), 'ITEM_NOT_FOUND');
    expect((await rawRequest(`${t.backend.url}/v1/receipts/online/retail/shop-1/bad%20id`)).status).toBe(400);
  });

  it('rejects a forged signature (another user signs as alice)', async () => {
    const statement = onlinePayment(alice().party, shop, { amount: 10 });
    const forged = signAs(provider, bob(), statement);
    const err = await expectTeeError(t.client.submitPayment(forged), 'SECURITY');
    expect(err.origin).toBe('BACKEND');
    expect(err.message).toMatch(/signature does not verify/);
  });

  it('rejects an amount altered after signing', async () => {
    const statement = onlinePayment(alice().party, shop, { amount: 10 });
    const signed = decodeSigned(signAs(provider, alice(), statement), 'online-payment');
    const altered = { ...statement, amount: 1 };
    altered.display = onlineDisplayText(altered); // even with a consistent display, the signature no longer covers it
    await expectTeeError(t.client.submitPayment(encodeSigned({ statement: altered, signature: signed.signature })), 'SECURITY');
  });

  it('rejects a display text that differs from the signed fields (WYSIWYS)', async () => {
    const statement = { ...onlinePayment(alice().party, shop, { amount: 10 }), display: 'Pay 0.01 CNY to shop-1@retail' };
    const err = await expectTeeError(t.client.submitPayment(signAs(provider, alice(), statement)), 'SECURITY');
    expect(err.message).toMatch(/confirmed text/);
  });

  it('rejects a payee swapped in the statement: by signature if changed after signing, by display if the user saw another payee', async () => {
    const statement = onlinePayment(alice().party, shop, { amount: 10, orderId: 'ORD-payee' });
    const signed = decodeSigned(signAs(provider, alice(), statement), 'online-payment');
    const swapped = { ...statement, payee: { subdomainId: 'retail', userId: 'shop-2' } };
    swapped.display = onlineDisplayText(swapped);
    await expectTeeError(t.client.submitPayment(encodeSigned({ statement: swapped, signature: signed.signature })), 'SECURITY');
    // The user confirmed "to shop-1" but the signed fields name shop-2.
    const misleading = { ...statement, payee: { subdomainId: 'retail', userId: 'shop-2' } };
    await expectTeeError(t.client.submitPayment(signAs(provider, alice(), misleading)), 'SECURITY');
    expect((await t.client.balance('retail', 'shop-2')).CNY).toBe(0);
  });

  it('rejects a replay of the same bytes and leaves the ledger unchanged', async () => {
    const bytes = signAs(provider, alice(), onlinePayment(alice().party, shop, { amount: 77 }));
    await t.client.submitPayment(bytes);
    const journal = await t.backend.ledger.journal();
    const balances = await t.client.balance('retail', 'alice');
    const err = await expectTeeError(t.client.submitPayment(bytes), 'SECURITY');
    expect(err.message).toBe('replayed payment');
    expect(await t.backend.ledger.journal()).toEqual(journal);
    expect(await t.client.balance('retail', 'alice')).toEqual(balances);
  });

  it('rejects an expired payment with EXPIRED (410)', async () => {
    const bytes = signAs(provider, alice(), onlinePayment(alice().party, shop, { expiresAt: Date.now() - 1000 }));
    await expectTeeError(t.client.submitPayment(bytes), 'EXPIRED');
    const r = await rawRequest(`${t.backend.url}/v1/payments`, { method: 'POST', body: JSON.stringify({ payment: toBase64url(bytes) }) });
    expect(r.status).toBe(410);
  });

  it('rejects paying an already-paid order again with a fresh nonce (ACCESS_CONFLICT, 409)', async () => {
    await t.client.submitPayment(signAs(provider, alice(), onlinePayment(alice().party, shop, { orderId: 'ORD-once' })));
    const again = signAs(provider, alice(), onlinePayment(alice().party, shop, { orderId: 'ORD-once' }));
    await expectTeeError(t.client.submitPayment(again), 'ACCESS_CONFLICT');
    const r = await rawRequest(`${t.backend.url}/v1/payments`, { method: 'POST', body: JSON.stringify({ payment: toBase64url(again) }) });
    expect(r).toEqual({ status: 409, body: { error: { code: 'ACCESS_CONFLICT', message: 'order ORD-once is already paid' } } });
  });

  it('rejects an unknown subdomain (ITEM_NOT_FOUND, 404)', async () => {
    const stranger = { ...alice(), party: { subdomainId: 'transit', userId: 'alice' } };
    await expectTeeError(t.client.submitPayment(signAs(provider, stranger, onlinePayment(stranger.party, shop))), 'ITEM_NOT_FOUND');
  });

  it('rejects insufficient funds (ACCESS_DENIED, 403) and payer == payee', async () => {
    await expectTeeError(t.client.submitPayment(signAs(provider, bob(), onlinePayment(bob().party, shop, { amount: 501 }))), 'ACCESS_DENIED');
    expect((await t.client.balance('retail', 'bob')).CNY).toBe(500);
    await expectTeeError(t.client.submitPayment(signAs(provider, bob(), onlinePayment(bob().party, bob().party, { amount: 1 }))), 'BAD_PARAMETERS');
  });

  it('answers malformed requests with 4xx and a coded error, and stays healthy', async () => {
    const url = t.backend.url;
    const post = (path: string, body: string | Uint8Array, headers: Record<string, string> = {}) => rawRequest(url + path, { method: 'POST', body, headers });
    const cases: Array<[Promise<{ status: number; body: unknown }>, number, string]> = [
      [post('/v1/payments', '{not json'), 400, 'BAD_PARAMETERS'],
      [post('/v1/payments', '[1,2]'), 400, 'BAD_PARAMETERS'],
      [post('/v1/payments', new Uint8Array([0xff, 0xfe, 0x00])), 400, 'BAD_PARAMETERS'],
      [post('/v1/payments', JSON.stringify({ payment: '!!!not base64!!!' })), 400, 'BAD_PARAMETERS'],
      [post('/v1/payments', JSON.stringify({ payment: 42 })), 400, 'BAD_PARAMETERS'],
      [post('/v1/payments', JSON.stringify({ payment: toBase64url(new Uint8Array([1, 2, 3])) })), 400, 'BAD_PARAMETERS'],
      [post('/v1/payments', JSON.stringify({ payment: 'A'.repeat(70_000) })), 413, 'BAD_PARAMETERS'],
      [post('/v1/payments', new Uint8Array(1024 * 1024)), 413, 'BAD_PARAMETERS'],
      [post('/v1/subdomains', JSON.stringify({ matrix: toBase64url(new Uint8Array(40)) })), 400, 'BAD_PARAMETERS'],
      [post('/v1/accounts', JSON.stringify({ subdomainId: 'retail', userId: 'x', currency: 'CNY', balance: -5 })), 400, 'BAD_PARAMETERS'],
      [post('/v1/accounts', JSON.stringify({ subdomainId: 'nowhere', userId: 'x', currency: 'CNY', balance: 5 })), 404, 'ITEM_NOT_FOUND'],
      [post('/v1/accounts', JSON.stringify({ subdomainId: 'retail', userId: 'alice', currency: 'CNY', balance: 5 })), 409, 'ACCESS_CONFLICT'],
      [rawRequest(`${url}/v1/accounts/retail/nobody`), 404, 'ITEM_NOT_FOUND'],
      [rawRequest(`${url}/v1/accounts/retail/%E0%A4%A`), 400, 'BAD_PARAMETERS'],
      [rawRequest(`${url}/v1/accounts/retail/${encodeURIComponent('a/b')}`), 400, 'BAD_PARAMETERS'],
      [rawRequest(`${url}/v1/subdomains/transit`), 404, 'ITEM_NOT_FOUND'],
      [rawRequest(`${url}/v1/nothing-here`), 404, 'ITEM_NOT_FOUND'],
      [rawRequest(`${url}/v1/payments`), 405, 'NOT_SUPPORTED'],
      [rawRequest(`${url}/v1/health`, { method: 'DELETE' }), 405, 'NOT_SUPPORTED'],
    ];
    for (const [p, status, code] of cases) {
      const r = await p;
      expect(r.status, JSON.stringify(r.body)).toBe(status);
      expect((r.body as { error: { code: string } }).error.code).toBe(code);
      expect(JSON.stringify(r.body)).not.toMatch(/at .*\.ts|node_modules|stack/);
    }
    // A client that keeps sending far past the cap is cut off (it may or may not read the 413 first).
    const flood = await post('/v1/payments', new Uint8Array(16 * 1024 * 1024)).catch(() => ({ status: 413, body: 'cut off' }));
    expect(flood.status).toBe(413);
    const info = await t.client.subdomain('retail');
    expect(info).toMatchObject({ subdomainId: 'retail', rows: 8, cols: 8, mode: 'plain' });
    await healthy();
  });

  it('survives 200 random byte strings over HTTP and 300 through the verifier, always with a typed error', async () => {
    const samples = fc.sample(fc.uint8Array({ minLength: 0, maxLength: 600 }), { numRuns: 200, seed: 42 });
    for (const bytes of samples) {
      const r = await rawRequest(`${t.backend.url}/v1/payments`, { method: 'POST', body: JSON.stringify({ payment: toBase64url(bytes) }) });
      expect(r.status).toBeGreaterThanOrEqual(400);
      expect(r.status).toBeLessThan(500);
    }
    // Structured fuzz: valid-looking statements with random fields and a random signature.
    const ctx = { provider, keys: t.backend.service.directory, now: Date.now };
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), fc.nat(), (noise, amount) => {
        const statement = onlinePayment(alice().party, shop, { amount: (amount % 1000) + 1 });
        const choices = [noise, encodeSigned({ statement, signature: noise.slice(0, 64).length === 64 ? noise.slice(0, 64) : new Uint8Array(64) })];
        for (const bytes of choices) {
          try {
            verifyOnlinePayment(ctx, bytes);
            throw new Error('accepted garbage');
          } catch (err) {
            expect(err).toBeInstanceOf(TeeError);
            expect((err as TeeError).origin).toBe('BACKEND');
          }
        }
      }),
      { numRuns: 300, seed: 7 },
    );
    await healthy();
  });

  it('seals what it settles: the receipt verifies only as issued; altered fields or a borrowed seal fail', async () => {
    const a = await t.client.submitPayment(signAs(provider, alice(), onlinePayment(alice().party, shop, { amount: 5 })));
    const b = await t.client.submitPayment(signAs(provider, alice(), onlinePayment(alice().party, shop, { amount: 6 })));
    for (const r of [a, b]) expect(verifyReceipt(provider, r.receiptBytes, t.backend.publicKey).statement).toEqual(r.receipt.statement);
    const tampered = encodeSealedReceipt({ ...a.receipt, statement: { ...a.receipt.statement, amount: 5000 } });
    expect(() => verifyReceipt(provider, tampered, t.backend.publicKey)).toThrow(/does not verify/);
    // b's statement under a's seal (signature and path): not what the backend signed.
    const borrowed = encodeSealedReceipt({ ...a.receipt, statement: b.receipt.statement });
    expect(() => verifyReceipt(provider, borrowed, t.backend.publicKey)).toThrow(/does not verify/);
  });
});
