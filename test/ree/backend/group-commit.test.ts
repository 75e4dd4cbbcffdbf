/** Group commit of online settlements: many in flight share batches, yet stay all-or-nothing each. */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ledger, type OnlineSettlement } from '../../../src/ree/backend/ledger.js';
import { TeeError } from '../../../src/common/errors.js';

const alice = { subdomainId: 'retail', userId: 'alice' };
const shop = { subdomainId: 'retail', userId: 'shop-1' };
const issue = ({ seq }: { seq: number }) => new Uint8Array([seq & 0xff]);
let dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  dirs = [];
});

function online(n: number, nonceOf = n): OnlineSettlement {
  const nonce = new Uint8Array(16);
  new DataView(nonce.buffer).setUint32(0, nonceOf);
  return { payer: alice, payee: shop, amount: 10, currency: 'CNY', orderId: `ORD-${n}`, nonce, digest: `d${n}`, at: 1000 + n };
}

async function open(balance: number): Promise<Ledger> {
  const dir = await mkdtemp(join(tmpdir(), 'tee-sim-group-'));
  dirs.push(dir);
  const ledger = await Ledger.open(dir, { sync: false });
  await ledger.openAccount(alice, 'CNY', balance);
  await ledger.openAccount(shop, 'CNY', 0);
  return ledger;
}

describe('ledger group commit', () => {
  it('64 concurrent payments against funds for 25: exactly 25 settle, replays refused, journal without gaps', async () => {
    const ledger = await open(250);
    const attempts = Array.from({ length: 64 }, (_, i) => ledger.settleOnline(online(i), issue));
    const replays = Array.from({ length: 8 }, (_, i) => ledger.settleOnline(online(100 + i, i), issue));
    const results = await Promise.allSettled([...attempts, ...replays]);
    const ok = results.filter((r) => r.status === 'fulfilled');
    expect(ok).toHaveLength(25);
    const codes = results.flatMap((r) => (r.status === 'rejected' ? [(r.reason as TeeError).code] : []));
    expect(codes.filter((c) => c === 'ACCESS_DENIED').length + codes.filter((c) => c === 'SECURITY').length).toBe(72 - 25);
    expect(await ledger.balances(alice)).toEqual({ CNY: 0 });
    expect(await ledger.balances(shop)).toEqual({ CNY: 250 });
    const seqs = (await ledger.journal()).map((e) => e.seq);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
    await ledger.close();
  });

  it('a failed batch fails its settlements and those staged after it; nothing of them is written', async () => {
    const ledger = await open(1000);
    // The first group write fails (groups are written with a chained batch).
    type Chained = { write: (options?: unknown) => Promise<void>; close: () => Promise<void> };
    const db = (ledger as unknown as { db: { batch: (...a: unknown[]) => unknown } }).db;
    const real = db.batch.bind(db);
    let fail = true;
    db.batch = (...a: unknown[]) => {
      const batch = real(...a);
      if (a.length === 0 && fail) {
        fail = false;
        const chained = batch as Chained;
        chained.write = async () => {
          await chained.close();
          throw new Error('disk full');
        };
      }
      return batch;
    };
    const first = await Promise.allSettled(Array.from({ length: 6 }, (_, i) => ledger.settleOnline(online(i), issue)));
    const failed = first.flatMap((r, i) => (r.status === 'rejected' ? [i] : []));
    const settled = first.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
    expect(failed.length).toBeGreaterThan(0);
    // Only what settled is in the ledger, and the journal has no gap where the failed group was.
    expect(await ledger.balances(alice)).toEqual({ CNY: 1000 - 10 * settled.length });
    let seqs = (await ledger.journal()).map((e) => e.seq);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
    // The failed payments go through when resubmitted; the settled ones are refused as replays.
    await Promise.all(failed.map((i) => ledger.settleOnline(online(i), issue)));
    for (const i of settled) await expect(ledger.settleOnline(online(i), issue)).rejects.toMatchObject({ code: 'SECURITY' });
    expect(await ledger.balances(alice)).toEqual({ CNY: 940 });
    seqs = (await ledger.journal()).map((e) => e.seq);
    expect(seqs).toEqual(Array.from({ length: 8 }, (_, i) => i + 1));
    await ledger.close();
  });

  it('receipts sealed per group: one batch record per group, positions from 0, and a group dropped after a failed seal is forgotten', async () => {
    const ledger = await open(1000);
    let collected: number[] = [];
    const seals: number[][] = [];
    let drops = 0;
    let failNext = true;
    const sealer = {
      async seal() {
        const batch = collected;
        collected = [];
        seals.push(batch);
        if (failNext) {
          failNext = false;
          await new Promise((r) => setTimeout(r, 20)); // later settlements stage meanwhile
          throw new TeeError('GENERIC', 'receipt: sealing failed', 'BACKEND');
        }
        return { seqs: batch };
      },
      drop() {
        drops++;
        collected = [];
      },
    };
    const issue = ({ seq }: { seq: number }) => collected.push(seq) - 1;
    const firstGroup = Array.from({ length: 3 }, (_, i) => ledger.settleOnline(online(i), issue, sealer));
    await new Promise((r) => setTimeout(r, 5)); // the first group is sealing
    const laterGroup = Array.from({ length: 4 }, (_, i) => ledger.settleOnline(online(10 + i), issue, sealer));
    for (const r of await Promise.allSettled([...firstGroup, ...laterGroup])) expect(r.status).toBe('rejected');
    expect(drops).toBe(1);
    // Nothing of either group was written; the next group seals only its own settlements, from position 0.
    const records = await Promise.all(Array.from({ length: 5 }, (_, i) => ledger.settleOnline(online(20 + i), issue, sealer)));
    expect(records.map((r) => r.receiptBatch!.index).sort()).toEqual([0, 1, 2, 3, 4]);
    expect(new Set(records.map((r) => r.receiptBatch!.seq)).size).toBe(1);
    expect(await ledger.receiptBatch(records[0]!.receiptBatch!.seq)).toEqual({ seqs: records.map((r) => r.seq).sort((a, b) => a - b) });
    expect(records.every((r) => r.receipt === undefined)).toBe(true);
    expect(await ledger.balances(alice)).toEqual({ CNY: 1000 - 5 * 10 });
    await ledger.close();
  });
});
