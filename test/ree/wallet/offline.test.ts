/**
 * Offline payments between the two phones through the REE wallets: the round trip with both sides
 * syncing later, and the defences — double acceptance, a restored payer store, overspending, and
 * damaged QR images.
 */
import { cp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPhone } from '../../../src/device/index.js';
import { runOfflinePayment, type DemoWorld } from '../../../src/ree/demo/index.js';
import { scanQr, showQr } from '../../../src/ree/wallet/index.js';
import { failure, makeDemoWorld } from './fixtures.js';

describe('offline payment through the wallets', () => {
  let world: DemoWorld;
  beforeAll(async () => {
    ({ world } = await makeDemoWorld());
  }, 30_000);
  afterAll(async () => world?.close());

  const offline = async () => (await world.wallets.payer.offlineState()).balance;

  it('offer -> pay -> accept -> sync: settled once, the second sync is already-reconciled', async () => {
    const r = await runOfflinePayment(world, { amount: 800, txId: 'TX-1' });
    expect(r.accepted).toMatchObject({ txId: 'TX-1', amount: 800, currency: 'CNY', payer: world.parties.payer });
    expect(r.payeeSync.map((s) => s.status)).toEqual(['settled']);
    expect(r.payerSync.map((s) => s.status)).toEqual(['already-reconciled']);
    expect(r.payeeSync[0]!.receipt!.statement).toMatchObject({ reference: 'TX-1', amount: 800 });
    expect(await offline()).toBe(20_000 - 800);
    expect((await world.wallets.payee.balance()).CNY).toBe(800);
    expect(world.users.payer.prompts.at(-1)?.lines.join(' ')).toContain('8.00 CNY');
  });

  it('accepting the same offline payment twice is a double spend (SECURITY), recorded once', async () => {
    const offer = await world.wallets.payee.offerOffline({ amount: 200, currency: 'CNY' });
    const { qrText } = await world.wallets.payer.payOffline(offer.qrText);
    await world.wallets.payee.acceptOffline(qrText);
    const accepted = (await world.wallets.payee.offlineState()).accepted.length;
    expect((await failure(world.wallets.payee.acceptOffline(qrText))).code).toBe('SECURITY');
    expect((await world.wallets.payee.offlineState()).accepted.length).toBe(accepted);
    expect(world.wallets.payee.pendingOffline).toBe(1);
    await world.wallets.payee.syncOffline();
    await world.wallets.payer.syncOffline();
  });

  it('paying more than the offline balance is refused before the user is asked', async () => {
    const before = await offline();
    const prompts = world.users.payer.prompts.length;
    const offer = await world.wallets.payee.offerOffline({ amount: before + 1, currency: 'CNY' });
    const err = await failure(world.wallets.payer.payOffline(offer.qrText));
    expect(err.message).toMatch(/balance/);
    expect(world.users.payer.prompts.length).toBe(prompts);
    expect(await offline()).toBe(before);
  });

  it('a damaged QR image is a clear BAD_PARAMETERS error', async () => {
    const offer = await world.wallets.payee.offerOffline({ amount: 100, currency: 'CNY' });
    const png = await showQr(offer.qrText);
    const corrupt = png.slice();
    corrupt[Math.floor(corrupt.length / 2)]! ^= 0xff;
    expect((await failure(() => scanQr(corrupt))).code).toBe('BAD_PARAMETERS');
    // A valid PNG whose code is half painted over.
    const image = PNG.sync.read(Buffer.from(png));
    image.data.fill(255, 0, Math.floor(image.data.length / 2));
    const smudged = new Uint8Array(PNG.sync.write(image));
    const err = await failure(() => scanQr(smudged));
    expect(err.code).toBe('BAD_PARAMETERS');
    expect(err.message).toMatch(/no QR code/);
    expect((await failure(() => scanQr(new Uint8Array([1, 2, 3])))).code).toBe('BAD_PARAMETERS');
  });

  it("restoring an older copy of the payer key's store is caught (SECURITY): no second spend of the same balance", async () => {
    const phone = world.phones.payer;
    await world.wallets.payer.close();
    await phone.close();
    const store = join(phone.paths.trustedKey, 'store');
    const copy = join(world.dataDir, 'payer-store-copy');
    await cp(store, copy, { recursive: true });
    const reopen = () => createPhone({ dir: join(world.dataDir, 'devices', phone.name), factory: world.factory, provider: world.provider, name: phone.name });

    // Spend once on the reopened phone, through a fresh wallet.
    const { Wallet } = await import('../../../src/ree/wallet/index.js');
    const again = await reopen();
    again.trustedUi.setUser(world.users.payer.answer);
    const wallet = await Wallet.open({ driver: again.driver, party: world.parties.payer, provider: world.provider, backend: world.backend.client, backendPublicKey: world.backend.publicKey });
    const offer = await world.wallets.payee.offerOffline({ amount: 1000, currency: 'CNY' });
    await world.wallets.payee.acceptOffline((await wallet.payOffline(offer.qrText)).qrText);
    await wallet.close();
    await again.close();

    // The REE puts the old store back, hoping for the old balance and counter.
    await rm(store, { recursive: true, force: true });
    await cp(copy, store, { recursive: true });
    expect((await failure(reopen())).code).toBe('SECURITY');
  });
});
