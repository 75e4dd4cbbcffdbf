/**
 * Offline payments between two phones: the payee's key signs an offer, the payer's key verifies it
 * with the payee's CPK-mapped key, asks the user, debits its balance and raises its counter in one
 * atomic update and signs; the payee's key verifies and records (payer, counter). Attacks: replaying
 * a payment (double spend), overspending (also with two racing sessions), forged, expired or
 * redirected statements, and restoring an older copy of the payer key's store.
 */
import { cp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { utf8 } from '../../src/common/bytes.js';
import { encode } from '../../src/common/codec.js';
import { mapPublicKey } from '../../src/cpk/index.js';
import { EXPIRED_OFFER_RETENTION_MS, MAX_PENDING_OFFERS } from '../../src/trusted-key/index.js';
import { assertDisplayMatches, decodeSigned, encodeSigned, offlineDisplayText, signingBytes } from '../../src/protocol/payment.js';
import { ReeCapture } from '../../src/ree/client-api/index.js';
import { TO_INITIATOR } from '../../src/channel/index.js';
import { createPhone, type Phone } from '../../src/device/index.js';
import { PLAIN, assertNoLeaks, failure, makeWorld, provision, seatUser, Wallet, type ScriptedUser, type World } from '../device/fixtures.js';

describe('offline payments between two phones', () => {
  let world: World;
  let alicePhone: Phone;
  let bobPhone: Phone;
  let alice: Wallet; // payer
  let bob: Wallet; // payee
  let aliceUser: ScriptedUser;
  let aliceId: Uint8Array;
  let bobId: Uint8Array;
  const capture = new ReeCapture();
  let tx = 0;
  /** The payer's clock runs this far ahead of the payee's (to expire offers without waiting). */
  let aliceSkew = 0;
  const aliceClock = () => Date.now() + aliceSkew;
  /** The same for the payee. */
  let bobSkew = 0;
  const bobClock = () => Date.now() + bobSkew;

  async function offer(amount: number, expiresIn = 300_000) {
    const txId = `tx-${++tx}`;
    const { signed } = await bob.call('SIGN_OFFLINE_OFFER', { txId, amount, currency: 'CNY', expiresAt: Date.now() + expiresIn }, bobId);
    return { txId, signed };
  }

  async function openWallets() {
    aliceUser = seatUser(alicePhone);
    seatUser(bobPhone);
    alice = await Wallet.open(alicePhone, capture);
    bob = await Wallet.open(bobPhone, capture);
    aliceId = (await alice.call('OPEN_IDENTITY', { subdomainId: PLAIN, userId: 'alice' })).handle;
    bobId = (await bob.call('OPEN_IDENTITY', { subdomainId: PLAIN, userId: 'bob' })).handle;
  }

  beforeEach(async () => {
    world = await makeWorld({ spy: true });
    aliceSkew = 0;
    bobSkew = 0;
    alicePhone = await world.makePhone('alice', { now: aliceClock });
    bobPhone = await world.makePhone('bob', { now: bobClock });
    await provision(world, alicePhone, 'alice', { balance: 50_000, capture });
    await provision(world, bobPhone, 'bob', { capture });
    await openWallets();
  });

  afterEach(async () => {
    await alice?.close();
    await bob?.close();
    await world?.cleanup();
  });

  it('offer -> pay -> accept: balance and counter move once, both logs record it', async () => {
    const o = await offer(1_250);
    const { signed: payment } = await alice.call('PAY_OFFLINE', { offer: o.signed }, aliceId);
    const { statement, signature } = decodeSigned(payment, 'offline-payment');
    expect(statement).toMatchObject({ txId: o.txId, amount: 1_250, currency: 'CNY', counter: 1, payer: { userId: 'alice' }, payee: { userId: 'bob' } });
    assertDisplayMatches(statement);
    expect(aliceUser.lastScreen).toBe(offlineDisplayText(statement));
    const offerStatement = decodeSigned(o.signed, 'offline-offer').statement;
    expect(statement.offerDigest).toEqual(world.provider.sha256(signingBytes(offerStatement)));
    const payerKey = mapPublicKey(world.provider, await world.kmc.publicMatrix(PLAIN), PLAIN, 'alice');
    expect(world.provider.verify('p256', payerKey, signingBytes(statement), signature)).toBe(true);

    const accepted = await bob.call('ACCEPT_OFFLINE_PAYMENT', { payment }, bobId);
    expect(accepted).toEqual({ txId: o.txId, amount: 1_250, currency: 'CNY', payer: { subdomainId: PLAIN, userId: 'alice' }, counter: 1 });

    const payer = await alice.call('OFFLINE_STATE', {}, aliceId);
    expect(payer).toMatchObject({ currency: 'CNY', balance: 48_750, counter: 1, pendingOffers: 0 });
    expect(payer.spent).toEqual([payment]);
    const payee = await bob.call('OFFLINE_STATE', {}, bobId);
    expect(payee.accepted).toEqual([payment]);
    expect(payee.pendingOffers).toBe(0);

    // A second payment gets the next counter.
    const o2 = await offer(250);
    const second = decodeSigned((await alice.call('PAY_OFFLINE', { offer: o2.signed }, aliceId)).signed, 'offline-payment');
    expect(second.statement.counter).toBe(2);
  });

  it('a payment whose channel is lost (the REE replays its record) never reaches the user over the next channel, and nothing moves', async () => {
    const o = await offer(1_000);
    let replayed = false;
    alicePhone.interceptor.setHook((frame, direction) => {
      if (replayed || direction !== TO_INITIATOR) return 'pass';
      replayed = true;
      return { replace: [frame, frame.slice()] }; // the request, then the same record again
    });
    const prompts = aliceUser.prompts.length;
    expect((await failure(alice.call('PAY_OFFLINE', { offer: o.signed }, aliceId))).code).toBe('COMMUNICATION');
    alicePhone.interceptor.setHook(undefined);
    // The key refused the copy and dropped the channel, then reconnected. The request it had already
    // read belongs to the dead channel: its answer cannot arrive, so it must not ask the user on the
    // new channel, nor debit the balance for a payment nobody receives.
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    let reconnected = false;
    for (let i = 0; i < 100 && !reconnected; i++) reconnected = await alice.call('OFFLINE_STATE', {}, aliceId).then(() => true, () => sleep(20).then(() => false));
    expect(reconnected).toBe(true);
    await sleep(300); // time for the dead channel's request to run its course (it asked at once, before)
    expect(aliceUser.prompts.length).toBe(prompts);
    expect(await alice.call('OFFLINE_STATE', {}, aliceId)).toMatchObject({ balance: 50_000, counter: 0, spent: [] });
    // The new channel works: the same offer can be paid now, once.
    const { signed } = await alice.call('PAY_OFFLINE', { offer: o.signed }, aliceId);
    expect(decodeSigned(signed, 'offline-payment').statement.counter).toBe(1);
    expect(aliceUser.prompts.length).toBe(prompts + 1);
  });

  it('the same counter twice is a double spend (SECURITY), and is not recorded twice', async () => {
    const o = await offer(1_000);
    const { signed: payment } = await alice.call('PAY_OFFLINE', { offer: o.signed }, aliceId);
    await bob.call('ACCEPT_OFFLINE_PAYMENT', { payment }, bobId);
    const err = await failure(bob.call('ACCEPT_OFFLINE_PAYMENT', { payment }, bobId));
    expect(err.code).toBe('SECURITY');
    expect(err.message).toMatch(/double spend/);
    // The same (payer, counter) against a fresh offer: the payer's key would never sign it, so only a
    // forgery could try; the counter record refuses it before anything else.
    expect((await bob.call('OFFLINE_STATE', {}, bobId)).accepted).toHaveLength(1);
  });

  it('two payments for one offer, accepted at once from two sessions: one is recorded, the other finds no pending offer', async () => {
    const o = await offer(500);
    // The payer's key signs the same offer twice (two counters): only the payee can refuse the second.
    const first = (await alice.call('PAY_OFFLINE', { offer: o.signed }, aliceId)).signed;
    const second = (await alice.call('PAY_OFFLINE', { offer: o.signed }, aliceId)).signed;
    const bob2 = await Wallet.open(bobPhone, capture);
    try {
      const bob2Id = (await bob2.call('OPEN_IDENTITY', { subdomainId: PLAIN, userId: 'bob' })).handle;
      const before = (await bob.call('OFFLINE_STATE', {}, bobId)).accepted.length;
      const outcomes = await Promise.all([
        bob.call('ACCEPT_OFFLINE_PAYMENT', { payment: first }, bobId).then(() => 'accepted', (e: { code: string }) => e.code),
        bob2.call('ACCEPT_OFFLINE_PAYMENT', { payment: second }, bob2Id).then(() => 'accepted', (e: { code: string }) => e.code),
      ]);
      expect(outcomes.sort()).toEqual(['ACCESS_DENIED', 'accepted']);
      const state = await bob.call('OFFLINE_STATE', {}, bobId);
      expect(state.accepted.length - before).toBe(1); // the refused one is not recorded either
      expect(state.pendingOffers).toBe(0);
    } finally {
      await bob2.close();
    }
  });

  it('over the balance -> ACCESS_DENIED, and nothing moves', async () => {
    const o = await offer(50_001);
    const screens = aliceUser.prompts.length;
    const err = await failure(alice.call('PAY_OFFLINE', { offer: o.signed }, aliceId));
    expect(err.code).toBe('ACCESS_DENIED');
    expect(aliceUser.prompts.length).toBe(screens); // not even asked
    expect(await alice.call('OFFLINE_STATE', {}, aliceId)).toMatchObject({ balance: 50_000, counter: 0, spent: [] });
  });

  it('two racing payments cannot together exceed the balance', async () => {
    const second = await Wallet.open(alicePhone, capture);
    try {
      const secondId = (await second.call('OPEN_IDENTITY', { subdomainId: PLAIN, userId: 'alice' })).handle;
      const [o1, o2] = [await offer(30_000), await offer(30_000)];
      aliceUser.then({ confirmed: true, pin: '73925184' }, { confirmed: true, pin: '73925184' });
      const results = await Promise.allSettled([
        alice.call('PAY_OFFLINE', { offer: o1.signed }, aliceId),
        second.call('PAY_OFFLINE', { offer: o2.signed }, secondId),
      ]);
      const ok = results.filter((r) => r.status === 'fulfilled');
      const denied = results.filter((r) => r.status === 'rejected' && (r.reason as { code?: string }).code === 'ACCESS_DENIED');
      expect(ok).toHaveLength(1);
      expect(denied).toHaveLength(1);
      expect(await alice.call('OFFLINE_STATE', {}, aliceId)).toMatchObject({ balance: 20_000, counter: 1 });
    } finally {
      await second.close();
    }
  });

  it('forged, expired, unknown or redirected statements are refused', async () => {
    const o = await offer(500);
    // The REE raises the offer amount: the payee's signature no longer verifies.
    const forged = decodeSigned(o.signed, 'offline-offer');
    forged.statement.amount = 5;
    expect((await failure(alice.call('PAY_OFFLINE', { offer: encodeSigned(forged) }, aliceId))).code).toBe('SECURITY');
    // An offer that names another payee (the REE swapped the name): mapped key differs, refused.
    const swapped = decodeSigned(o.signed, 'offline-offer');
    swapped.statement.payee = { subdomainId: PLAIN, userId: 'mallory' };
    expect((await failure(alice.call('PAY_OFFLINE', { offer: encodeSigned(swapped) }, aliceId))).code).toBe('SECURITY');
    // An offer from a subdomain whose matrix the payer does not have: cannot be checked, refused.
    const foreign = decodeSigned(o.signed, 'offline-offer');
    foreign.statement.payee = { subdomainId: 'elsewhere', userId: 'bob' };
    expect((await failure(alice.call('PAY_OFFLINE', { offer: encodeSigned(foreign) }, aliceId))).code).toBe('ITEM_NOT_FOUND');
    // Expired by the time the payer sees it.
    const late = await offer(500, 60_000);
    aliceSkew = 120_000;
    expect((await failure(alice.call('PAY_OFFLINE', { offer: late.signed }, aliceId))).code).toBe('EXPIRED');
    aliceSkew = 0;
    // A caller-supplied display that lies.
    expect((await failure(alice.call('PAY_OFFLINE', { offer: o.signed, display: 'Pay 0.05 CNY' }, aliceId))).code).toBe('SECURITY');
    expect(await alice.call('OFFLINE_STATE', {}, aliceId)).toMatchObject({ balance: 50_000, counter: 0 });

    const { signed: payment } = await alice.call('PAY_OFFLINE', { offer: o.signed }, aliceId);
    // Payment altered on the way: signature or display check fails.
    const altered = decodeSigned(payment, 'offline-payment');
    altered.statement.amount = 400;
    expect((await failure(bob.call('ACCEPT_OFFLINE_PAYMENT', { payment: encodeSigned(altered) }, bobId))).code).toBe('SECURITY');
    altered.statement.display = offlineDisplayText(altered.statement);
    expect((await failure(bob.call('ACCEPT_OFFLINE_PAYMENT', { payment: encodeSigned(altered) }, bobId))).code).toBe('SECURITY');
    // A payment for an offer the payee never made.
    const unknown = decodeSigned(payment, 'offline-payment');
    unknown.statement.txId = 'tx-unknown';
    expect((await failure(bob.call('ACCEPT_OFFLINE_PAYMENT', { payment: encodeSigned(unknown) }, bobId))).code).toBe('SECURITY');
    // Presented to the wrong payee (alice's own key).
    expect((await failure(alice.call('ACCEPT_OFFLINE_PAYMENT', { payment }, aliceId))).code).toBe('ACCESS_DENIED');
    // Malformed bytes.
    expect((await failure(bob.call('ACCEPT_OFFLINE_PAYMENT', { payment: encode([1, 2, 3]) }, bobId))).code).toBe('BAD_PARAMETERS');
    expect((await failure(bob.call('ACCEPT_OFFLINE_PAYMENT', { payment: utf8('x') }, bobId))).code).toBe('BAD_PARAMETERS');
    // The genuine payment still goes through.
    await bob.call('ACCEPT_OFFLINE_PAYMENT', { payment }, bobId);
  });

  it('offers: txIds are single-use; the balance is set only at provisioning', async () => {
    const o = await offer(100);
    expect((await failure(bob.call('SIGN_OFFLINE_OFFER', { txId: o.txId, amount: 100, currency: 'CNY', expiresAt: Date.now() + 1000 }, bobId))).code).toBe('ACCESS_CONFLICT');
    expect((await failure(bob.call('SIGN_OFFLINE_OFFER', { txId: 'past', amount: 100, currency: 'CNY', expiresAt: Date.now() - 1 }, bobId))).code).toBe('BAD_PARAMETERS');
    const channel = alicePhone.teeOs.trustedKey!;
    const info = (await channel.call('tk.identityKey', { subdomainId: PLAIN, userId: 'alice' })) as { keyId: string };
    expect(await failure(channel.call('tk.setOfflineBalance', { keyId: info.keyId, amount: 1_000_000, currency: 'CNY' }))).toMatchObject({ code: 'ACCESS_DENIED' });
    expect((await alice.call('OFFLINE_STATE', {}, aliceId)).balance).toBe(50_000);
  });

  it(`a flood of offers from the REE stops at ${MAX_PENDING_OFFERS} pending (OUT_OF_MEMORY); offers long expired make room`, async () => {
    const expiresAt = Date.now() + 60_000;
    const ask = (txId: string, at = expiresAt + bobSkew) => bob.call('SIGN_OFFLINE_OFFER', { txId, amount: 100, currency: 'CNY', expiresAt: at }, bobId);
    const first = await offer(100, 60_000);
    for (let i = 1; i < MAX_PENDING_OFFERS; i++) await ask(`flood-${i}`);
    expect((await bob.call('OFFLINE_STATE', {}, bobId)).pendingOffers).toBe(MAX_PENDING_OFFERS);
    expect(await failure(ask('one-too-many'))).toMatchObject({ code: 'OUT_OF_MEMORY' });
    // A payment for a kept offer still goes through, and frees its place.
    const { signed: payment } = await alice.call('PAY_OFFLINE', { offer: first.signed }, aliceId);
    await bob.call('ACCEPT_OFFLINE_PAYMENT', { payment }, bobId);
    await ask('in-the-freed-place');
    expect(await failure(ask('one-too-many'))).toMatchObject({ code: 'OUT_OF_MEMORY' });

    // Just expired: kept, since a payment signed in time may still arrive.
    bobSkew = 120_000;
    expect(await failure(ask('one-too-many'))).toMatchObject({ code: 'OUT_OF_MEMORY' });
    // Expired for longer than the retention: dropped to make room for the new one.
    bobSkew = 60_000 + EXPIRED_OFFER_RETENTION_MS + 1_000;
    await ask('after-retention');
    const payee = await bob.call('OFFLINE_STATE', {}, bobId);
    expect(payee.pendingOffers).toBe(1);
    expect(payee.accepted).toHaveLength(1);
  }, 60_000);

  it('restoring the payer key\'s store to an older copy is caught (SECURITY): no double spend', async () => {
    await alice.close();
    await alicePhone.close();
    const store = join(alicePhone.paths.trustedKey, 'store');
    const copy = join(world.dir, 'alice-store-copy');
    await cp(store, copy, { recursive: true });

    const reopen = () => createPhone({ dir: join(world.dir, 'alice'), factory: world.factory, provider: world.provider, name: 'alice', now: aliceClock });
    alicePhone = await reopen();
    world.phones.push(alicePhone);
    await openWallets();
    const o = await offer(30_000);
    aliceUser.then({ confirmed: true, pin: '73925184' });
    const { signed: payment } = await alice.call('PAY_OFFLINE', { offer: o.signed }, aliceId);
    await bob.call('ACCEPT_OFFLINE_PAYMENT', { payment }, bobId);
    await alice.close();
    await alicePhone.close();

    // The REE puts the old store back, hoping for the old balance and counter.
    await rm(store, { recursive: true, force: true });
    await cp(copy, store, { recursive: true });
    expect((await failure(reopen())).code).toBe('SECURITY');
  });

  it('no key, PIN or channel secret reaches the REE', async () => {
    const o = await offer(20_000);
    aliceUser.then({ confirmed: true, pin: '73925184' });
    const { signed: payment } = await alice.call('PAY_OFFLINE', { offer: o.signed }, aliceId);
    await bob.call('ACCEPT_OFFLINE_PAYMENT', { payment }, bobId);
    await assertNoLeaks(world, capture, [utf8('73925184')]);
  });
});
