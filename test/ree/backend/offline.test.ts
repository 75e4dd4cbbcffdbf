import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nativeProvider } from '../../../src/crypto/index.js';
import { verifyReceipt } from '../../../src/ree/backend/client.js';
import {
  expectTeeError, makeKmc, offlineOffer, offlinePayment, signAs, startTestBackend, type Kmc, type TestBackend,
} from './fixtures.js';

const provider = nativeProvider;
let world: Kmc;
let t: TestBackend;

beforeAll(async () => {
  world = await makeKmc(provider, { retail: 'plain' }, ['retail/alice', 'retail/carol', 'retail/shop-1']);
  t = await startTestBackend(world);
  for (const [user, balance] of [['alice', 10_000], ['carol', 10_000], ['shop-1', 0]] as const) {
    await t.client.openAccount({ subdomainId: 'retail', userId: user }, 'CNY', balance);
  }
});
afterAll(async () => {
  await t.dispose();
});

const alice = () => world.identity('retail', 'alice');
const carol = () => world.identity('retail', 'carol');
const shop = () => world.identity('retail', 'shop-1');

function pair(payer = alice(), counter = 1, o: { txId?: string; amount?: number } = {}) {
  const offer = offlineOffer(shop().party, o);
  const offerBytes = signAs(provider, shop(), offer);
  const paymentBytes = signAs(provider, payer, offlinePayment(provider, offer, payer.party, counter));
  return { offer, offerBytes, paymentBytes };
}

describe('backend: offline reconciliation', () => {
  it('settles a valid pair; the same pair again is idempotent with the same receipt', async () => {
    const { offerBytes, paymentBytes, offer } = pair(alice(), 1, { txId: 'TX-A1', amount: 500 });
    const first = await t.client.reconcileOffline(offerBytes, paymentBytes);
    expect(first.status).toBe('settled');
    if (first.status === 'duplicate') throw new Error('unexpected');
    const receipt = verifyReceipt(provider, first.receiptBytes, t.backend.publicKey).statement;
    expect(receipt).toMatchObject({ reference: 'TX-A1', amount: 500, payer: alice().party, payee: shop().party });
    expect(receipt.nonce).toEqual(offer.nonce);
    const again = await t.client.reconcileOffline(offerBytes, paymentBytes);
    expect(again.status).toBe('already-reconciled');
    if (again.status === 'duplicate') throw new Error('unexpected');
    expect(again.receiptBytes).toEqual(first.receiptBytes);
    expect((await t.client.balance('retail', 'alice')).CNY).toBe(9_500);
    expect((await t.client.balance('retail', 'shop-1')).CNY).toBe(500);
  });

  it('flags the same payer counter spent on a different txId as a duplicate and does not settle it', async () => {
    await t.client.reconcileOffline(...args(pair(alice(), 2, { txId: 'TX-A2', amount: 100 })));
    const before = await t.backend.ledger.totals();
    const aliceBefore = (await t.client.balance('retail', 'alice')).CNY;
    const cloned = pair(alice(), 2, { txId: 'TX-A2-clone', amount: 100 });
    const r = await t.client.reconcileOffline(cloned.offerBytes, cloned.paymentBytes);
    expect(r).toMatchObject({ status: 'duplicate', reason: 'counter', conflictsWith: { reference: 'TX-A2' } });
    expect((await t.client.balance('retail', 'alice')).CNY).toBe(aliceBefore);
    expect(await t.backend.ledger.totals()).toEqual(before);
    const flagged = await t.backend.ledger.duplicates();
    expect(flagged.some((d) => d.reference === 'TX-A2-clone' && d.reason === 'counter')).toBe(true);
    // Resubmitting the flagged one stays a duplicate and is recorded once.
    expect((await t.client.reconcileOffline(cloned.offerBytes, cloned.paymentBytes)).status).toBe('duplicate');
    expect((await t.backend.ledger.duplicates()).filter((d) => d.reference === 'TX-A2-clone')).toHaveLength(1);
  });

  it('flags a second payer answering the same offer (same txId) as a duplicate', async () => {
    const first = pair(alice(), 3, { txId: 'TX-shared', amount: 50 });
    expect((await t.client.reconcileOffline(first.offerBytes, first.paymentBytes)).status).toBe('settled');
    const second = signAs(provider, carol(), offlinePayment(provider, first.offer, carol().party, 1));
    const r = await t.client.reconcileOffline(first.offerBytes, second);
    expect(r).toMatchObject({ status: 'duplicate', reason: 'txId' });
    expect((await t.client.balance('retail', 'carol')).CNY).toBe(10_000);
  });

  it('rejects a payment bound to another offer (digest or nonce mismatch) and forged signatures with SECURITY', async () => {
    const a = pair(alice(), 10, { txId: 'TX-M1' });
    const b = pair(alice(), 11, { txId: 'TX-M1' });
    // b's payment names the same txId and amount but is bound to b's offer, not a's.
    await expectTeeError(t.client.reconcileOffline(a.offerBytes, b.paymentBytes), 'SECURITY');
    // A payment whose digest is right but with a wrong nonce.
    const offer = offlineOffer(shop().party, { txId: 'TX-M2' });
    const p = { ...offlinePayment(provider, offer, alice().party, 12), offerNonce: new Uint8Array(16) };
    await expectTeeError(t.client.reconcileOffline(signAs(provider, shop(), offer), signAs(provider, alice(), p)), 'SECURITY');
    // An offer "signed" by someone other than the payee, and a payment signed by someone other than the payer.
    const c = pair(alice(), 13, { txId: 'TX-M3' });
    await expectTeeError(t.client.reconcileOffline(signAs(provider, carol(), c.offer), c.paymentBytes), 'SECURITY');
    await expectTeeError(t.client.reconcileOffline(c.offerBytes, signAs(provider, carol(), offlinePayment(provider, c.offer, alice().party, 13))), 'SECURITY');
    // Amount changed in the payment relative to the offer, consistently displayed and signed by the payer.
    const d = pair(alice(), 14, { txId: 'TX-M4', amount: 300 });
    const cheap = offlinePayment(provider, d.offer, alice().party, 14);
    const lowered = { ...cheap, amount: 3 };
    lowered.display = lowered.display.replace('3.00', '0.03');
    await expectTeeError(t.client.reconcileOffline(d.offerBytes, signAs(provider, alice(), lowered)), 'SECURITY');
    // Swapped order of the two fields, garbage and kinds mixed up: BAD_PARAMETERS.
    await expectTeeError(t.client.reconcileOffline(c.paymentBytes, c.offerBytes), 'BAD_PARAMETERS');
    expect((await t.client.health()).status).toBe('ok');
  });

  it('rejects a payment signed after its offer expired', async () => {
    const offer = offlineOffer(shop().party, { txId: 'TX-late', expiresAt: Date.now() - 60_000 });
    const late = signAs(provider, alice(), offlinePayment(provider, offer, alice().party, 20));
    await expectTeeError(t.client.reconcileOffline(signAs(provider, shop(), offer), late), 'EXPIRED');
  });
});

function args(p: { offerBytes: Uint8Array; paymentBytes: Uint8Array }): [Uint8Array, Uint8Array] {
  return [p.offerBytes, p.paymentBytes];
}
