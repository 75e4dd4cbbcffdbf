import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ledger, type OnlineSettlement, type OfflineSettlement } from '../../../src/ree/backend/ledger.js';
import { TeeError } from '../../../src/common/errors.js';

const alice = { subdomainId: 'retail', userId: 'alice' };
const bob = { subdomainId: 'retail', userId: 'bob' };
const shop = { subdomainId: 'retail', userId: 'shop-1' };
const issue = ({ seq }: { seq: number }) => new Uint8Array([seq & 0xff]);

let dirs: string[] = [];
async function freshDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tee-sim-ledger-'));
  dirs.push(dir);
  return dir;
}
afterEach(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  dirs = [];
});

function online(n: number, overrides: Partial<OnlineSettlement> = {}): OnlineSettlement {
  const nonce = new Uint8Array(16);
  new DataView(nonce.buffer).setUint32(0, n);
  return { payer: alice, payee: shop, amount: 10, currency: 'CNY', orderId: `ORD-${n}`, nonce, digest: `d${n}`, at: 1000 + n, ...overrides };
}

function offline(counter: number, overrides: Partial<OfflineSettlement> = {}): OfflineSettlement {
  return { payer: alice, payee: shop, amount: 10, currency: 'CNY', txId: `TX-${counter}`, counter, digest: `o${counter}`, at: 5000, ...overrides };
}

async function expectCode(p: Promise<unknown>, code: string): Promise<void> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(TeeError);
  expect((err as TeeError).code).toBe(code);
}

async function withAccounts(sync = false): Promise<Ledger> {
  const ledger = await Ledger.open(await freshDir(), { sync });
  await ledger.openAccount(alice, 'CNY', 1000);
  await ledger.openAccount(bob, 'CNY', 1000);
  await ledger.openAccount(shop, 'CNY', 0);
  return ledger;
}

describe('ledger', () => {
  it('moves money atomically and journals every mutation with gapless sequence numbers', async () => {
    const ledger = await withAccounts();
    const record = await ledger.settleOnline(online(1, { amount: 250 }), issue);
    expect(record.seq).toBe(4);
    expect(await ledger.balances(alice)).toEqual({ CNY: 750 });
    expect(await ledger.balances(shop)).toEqual({ CNY: 250 });
    expect((await ledger.journal()).map((e) => [e.seq, e.kind])).toEqual([[1, 'open-account'], [2, 'open-account'], [3, 'open-account'], [4, 'online']]);
    expect(await ledger.nonceSeen(alice, online(1).nonce)).toBe(true);
    expect((await ledger.payment('online', shop, 'ORD-1'))?.amount).toBe(250);
    await ledger.close();
  });

  it('refuses a second opening, a replayed nonce, a paid order, overdraft and missing accounts, writing nothing', async () => {
    const ledger = await withAccounts();
    await expectCode(ledger.openAccount(alice, 'CNY', 5), 'ACCESS_CONFLICT');
    await ledger.settleOnline(online(1), issue);
    const before = await ledger.journal();
    await expectCode(ledger.settleOnline(online(1, { orderId: 'OTHER' }), issue), 'SECURITY');
    await expectCode(ledger.settleOnline(online(2, { orderId: 'ORD-1' }), issue), 'ACCESS_CONFLICT');
    await expectCode(ledger.settleOnline(online(3, { amount: 991 }), issue), 'ACCESS_DENIED');
    await expectCode(ledger.settleOnline(online(4, { currency: 'EUR' }), issue), 'ITEM_NOT_FOUND');
    await expectCode(ledger.settleOnline(online(5, { payee: { subdomainId: 'retail', userId: 'nobody' } }), issue), 'ITEM_NOT_FOUND');
    await expectCode(ledger.settleOnline(online(6, { payee: alice }), issue), 'BAD_PARAMETERS');
    expect(await ledger.journal()).toEqual(before);
    expect(await ledger.balances(alice)).toEqual({ CNY: 990 });
    await ledger.close();
  });

  it('serialises concurrent settlements: no overdraft, each nonce once, totals constant', async () => {
    const ledger = await withAccounts();
    // 150 distinct payments of 10 from a balance of 1000: exactly 100 can settle.
    const results = await Promise.allSettled(Array.from({ length: 150 }, (_, i) => ledger.settleOnline(online(i), issue)));
    const ok = results.filter((r) => r.status === 'fulfilled');
    expect(ok).toHaveLength(100);
    for (const r of results) if (r.status === 'rejected') expect((r.reason as TeeError).code).toBe('ACCESS_DENIED');
    expect(await ledger.balances(alice)).toEqual({ CNY: 0 });
    expect(await ledger.totals()).toEqual({ CNY: 2000 });
    // The same payment 30 times at once settles once.
    const same = await Promise.allSettled(Array.from({ length: 30 }, () => ledger.settleOnline(online(999, { payer: bob }), issue)));
    expect(same.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(await ledger.balances(bob)).toEqual({ CNY: 990 });
    const seqs = (await ledger.journal()).map((e) => e.seq);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
    await ledger.close();
  });

  it('reconciles offline payments idempotently and flags counter or txId reuse once', async () => {
    const ledger = await withAccounts();
    const first = await ledger.reconcileOffline(offline(1), issue);
    expect(first.status).toBe('settled');
    const again = await ledger.reconcileOffline(offline(1), issue);
    expect(again.status).toBe('already-reconciled');
    if (first.status !== 'duplicate' && again.status !== 'duplicate') expect(again.record).toEqual(first.record);

    const sameCounter = await ledger.reconcileOffline(offline(1, { txId: 'TX-OTHER', digest: 'x1' }), issue);
    expect(sameCounter.status).toBe('duplicate');
    if (sameCounter.status === 'duplicate') expect(sameCounter.duplicate.reason).toBe('counter');
    const sameTx = await ledger.reconcileOffline(offline(2, { payer: bob, txId: 'TX-1', digest: 'x2' }), issue);
    expect(sameTx.status).toBe('duplicate');
    if (sameTx.status === 'duplicate') expect(sameTx.duplicate.reason).toBe('txId');
    // Flagged once even if resubmitted.
    await ledger.reconcileOffline(offline(1, { txId: 'TX-OTHER', digest: 'x1' }), issue);
    expect(await ledger.duplicates()).toHaveLength(2);
    expect(await ledger.balances(alice)).toEqual({ CNY: 990 });
    expect(await ledger.balances(bob)).toEqual({ CNY: 1000 });
    await ledger.close();
  });

  it('persists across reopen, continues the sequence, and locks out a second opener', async () => {
    const dir = await freshDir();
    const ledger = await Ledger.open(dir);
    await ledger.openAccount(alice, 'CNY', 100);
    await ledger.openAccount(shop, 'CNY', 0);
    await ledger.settleOnline(online(1), issue);
    await expectCode(Ledger.open(dir), 'BUSY');
    await ledger.close();
    const reopened = await Ledger.open(dir);
    expect(reopened.sequence).toBe(4);
    expect(await reopened.balances(alice)).toEqual({ CNY: 90 });
    await expectCode(reopened.settleOnline(online(1, { orderId: 'NEW' }), issue), 'SECURITY');
    await reopened.close();
    await expectCode(reopened.settleOnline(online(2), issue), 'BUSY');
  });

  it('refuses replays and paid orders after a reopen, both while its filter of claimed keys loads and after', async () => {
    const dir = await freshDir();
    const ledger = await Ledger.open(dir, { sync: false });
    await ledger.openAccount(alice, 'CNY', 100_000);
    await ledger.openAccount(shop, 'CNY', 0);
    const n = 300;
    await Promise.all(Array.from({ length: n }, (_, i) => ledger.settleOnline(online(i + 1, { amount: 1 }), issue)));
    await ledger.reconcileOffline(offline(1, { amount: 1 }), issue);
    await ledger.close();

    const reopened = await Ledger.open(dir, { sync: false });
    // At once, before the background scan can have finished: the lookups read the database.
    await expectCode(reopened.settleOnline(online(1, { orderId: 'EARLY' }), issue), 'SECURITY');
    await reopened.indexed;
    for (let i = 1; i <= n; i++) {
      await expectCode(reopened.settleOnline(online(i, { orderId: `AGAIN-${i}` }), issue), 'SECURITY'); // replayed nonce
      await expectCode(reopened.settleOnline(online(100_000 + i, { orderId: `ORD-${i}` }), issue), 'ACCESS_CONFLICT'); // paid order
    }
    // New nonces and orders still settle, and are refused in turn once settled.
    await reopened.settleOnline(online(5000, { amount: 1 }), issue);
    await expectCode(reopened.settleOnline(online(5000, { orderId: 'AGAIN-5000' }), issue), 'SECURITY');
    expect(await reopened.balances(alice)).toEqual({ CNY: 100_000 - n - 2 });
    await reopened.close();
  });

  it('settles online payments against the balances every other write left (accounts kept in memory are never stale)', async () => {
    const ledger = await withAccounts();
    // Online settlements read the accounts from memory after the first one; offline reconciliation
    // and account opening write them by another path. Each must see what the one before wrote.
    await ledger.settleOnline(online(1, { amount: 300 }), issue);
    await ledger.reconcileOffline(offline(1, { amount: 600 }), issue);
    await expectCode(ledger.settleOnline(online(2, { amount: 150 }), issue), 'ACCESS_DENIED');
    await ledger.settleOnline(online(3, { amount: 98 }), issue);
    await ledger.openAccount(alice, 'EUR', 5);
    await expectCode(ledger.settleOnline(online(4, { amount: 5, currency: 'EUR', payee: bob }), issue), 'ITEM_NOT_FOUND'); // bob holds no EUR yet
    await ledger.openAccount(bob, 'EUR', 0);
    await ledger.settleOnline(online(5, { amount: 5, currency: 'EUR', payee: bob }), issue);
    // Concurrent settlements staged in one group over the 2 CNY left: exactly two go through.
    const results = await Promise.allSettled(Array.from({ length: 4 }, (_, i) => ledger.settleOnline(online(10 + i, { amount: 1 }), issue)));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(2);
    const expected = { alice: { CNY: 0, EUR: 0 }, bob: { CNY: 1000, EUR: 5 }, shop: { CNY: 1000 } };
    expect(await ledger.balances(alice)).toEqual(expected.alice);
    expect(await ledger.balances(shop)).toEqual(expected.shop);
    const dir = dirs[dirs.length - 1]!;
    await ledger.close();
    const reopened = await Ledger.open(dir, { sync: false });
    expect(await reopened.balances(alice)).toEqual(expected.alice);
    expect(await reopened.balances(bob)).toEqual(expected.bob);
    expect(await reopened.balances(shop)).toEqual(expected.shop);
    await reopened.close();
  });
});
