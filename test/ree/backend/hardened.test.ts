import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nativeProvider } from '../../../src/crypto/index.js';
import { decodeSigned, encodeSigned } from '../../../src/protocol/payment.js';
import { expectTeeError, makeKmc, offlineOffer, offlinePayment, onlinePayment, signAs, startTestBackend, type Kmc, type TestBackend } from './fixtures.js';

const provider = nativeProvider;
let world: Kmc;
let t: TestBackend;

beforeAll(async () => {
  world = await makeKmc(provider, { vault: 'hardened' }, ['vault/alice', 'vault/bob', 'vault/shop']);
  t = await startTestBackend(world);
  for (const u of ['alice', 'bob', 'shop']) await t.client.openAccount({ subdomainId: 'vault', userId: u }, 'CNY', 5000);
});
afterAll(async () => {
  await t.dispose();
});

describe('backend: hardened CPK subdomains', () => {
  it('settles payments that carry the signer separating certificate as identityProof', async () => {
    const alice = world.identity('vault', 'alice');
    const shop = world.identity('vault', 'shop');
    expect(alice.proof).toBeDefined();
    const { receipt } = await t.client.submitPayment(signAs(provider, alice, onlinePayment(alice.party, shop.party, { amount: 100 })));
    expect(receipt.statement.amount).toBe(100);
    const offer = offlineOffer(shop.party, { txId: 'H-1', amount: 10 });
    const r = await t.client.reconcileOffline(signAs(provider, shop, offer), signAs(provider, alice, offlinePayment(provider, offer, alice.party, 1)));
    expect(r.status).toBe('settled');
  });

  it('rejects a missing proof and another user certificate (SECURITY)', async () => {
    const alice = world.identity('vault', 'alice');
    const bob = world.identity('vault', 'bob');
    const shop = world.identity('vault', 'shop');
    const signed = decodeSigned(signAs(provider, alice, onlinePayment(alice.party, shop.party, { amount: 1 })), 'online-payment');
    await expectTeeError(t.client.submitPayment(encodeSigned({ statement: signed.statement, signature: signed.signature })), 'SECURITY');
    await expectTeeError(t.client.submitPayment(encodeSigned({ ...signed, identityProof: bob.proof! })), 'SECURITY');
    await expectTeeError(t.client.submitPayment(encodeSigned({ ...signed, identityProof: new Uint8Array([1, 2, 3]) })), 'BAD_PARAMETERS');
    // Bob signing with his own key but presenting as alice with his certificate.
    const asAlice = onlinePayment(alice.party, shop.party, { amount: 1 });
    await expectTeeError(t.client.submitPayment(signAs(provider, { ...bob, party: alice.party }, asAlice)), 'SECURITY');
    expect((await t.client.health()).status).toBe('ok');
  });
});
