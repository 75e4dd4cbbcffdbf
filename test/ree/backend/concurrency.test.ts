import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nativeProvider } from '../../../src/crypto/index.js';
import { TeeError } from '../../../src/common/errors.js';
import { makeKmc, onlinePayment, signAs, startTestBackend, type Kmc, type TestBackend } from './fixtures.js';

const provider = nativeProvider;
let world: Kmc;
let t: TestBackend;
const payers = ['p0', 'p1', 'p2', 'p3'];
const shop = { subdomainId: 'retail', userId: 'shop' };

beforeAll(async () => {
  world = await makeKmc(provider, { retail: 'plain' }, [...payers, 'poor'].map((u) => `retail/${u}`));
  // Durable writes here: concurrency must hold with the fsync on the path, as in production.
  t = await startTestBackend(world, { sync: true });
  for (const p of payers) await t.client.openAccount({ subdomainId: 'retail', userId: p }, 'CNY', 10_000);
  await t.client.openAccount(shop, 'CNY', 0);
});
afterAll(async () => {
  await t.dispose();
});

describe('backend: concurrent submissions', () => {
  it('settles 200 concurrent distinct payments exactly once each, with gapless ledger sequence numbers', async () => {
    const totalBefore = await t.backend.ledger.totals();
    const startSeq = t.backend.ledger.sequence;
    const payments = Array.from({ length: 200 }, (_, i) => {
      const who = world.identity('retail', payers[i % payers.length]!);
      return signAs(provider, who, onlinePayment(who.party, shop, { amount: 10 + (i % 7), orderId: `C-${i}` }));
    });
    const results = await Promise.all(payments.map((bytes) => t.client.submitPayment(bytes)));
    const seqs = results.map((r) => r.receipt.statement.ledgerSeq).sort((a, b) => a - b);
    expect(seqs).toEqual(Array.from({ length: 200 }, (_, i) => startSeq + i));
    const expected = Array.from({ length: 200 }, (_, i) => 10 + (i % 7)).reduce((a, b) => a + b, 0);
    expect((await t.client.balance('retail', 'shop')).CNY).toBe(expected);
    expect(await t.backend.ledger.totals()).toEqual(totalBefore);
  });

  it('settles 50 concurrent submissions of the same payment once; the rest are replays', async () => {
    const who = world.identity('retail', 'p0');
    const bytes = signAs(provider, who, onlinePayment(who.party, shop, { amount: 100, orderId: 'SAME' }));
    const before = await t.client.balance('retail', 'p0');
    const results = await Promise.allSettled(Array.from({ length: 50 }, () => t.client.submitPayment(bytes)));
    const settled = results.filter((r) => r.status === 'fulfilled');
    expect(settled).toHaveLength(1);
    for (const r of results) {
      if (r.status === 'rejected') {
        expect(r.reason).toBeInstanceOf(TeeError);
        expect((r.reason as TeeError).code).toBe('SECURITY');
      }
    }
    expect((await t.client.balance('retail', 'p0')).CNY).toBe(before.CNY! - 100);
  });

  it('never overdraws under a concurrent rush on one account', async () => {
    const poor = { subdomainId: 'retail', userId: 'poor' };
    await t.client.openAccount(poor, 'CNY', 1000);
    const who = world.identity('retail', 'poor');
    const totalBefore = await t.backend.ledger.totals();
    const rush = Array.from({ length: 60 }, (_, i) => signAs(provider, who, onlinePayment(poor, shop, { amount: 100, orderId: `R-${i}` })));
    const results = await Promise.allSettled(rush.map((bytes) => t.client.submitPayment(bytes)));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(10);
    for (const r of results) if (r.status === 'rejected') expect((r.reason as TeeError).code).toBe('ACCESS_DENIED');
    expect((await t.client.balance('retail', 'poor')).CNY).toBe(0);
    expect(await t.backend.ledger.totals()).toEqual(totalBefore);
  });
});
