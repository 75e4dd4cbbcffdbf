import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Trace } from '../../../src/common/trace.js';
import { PROVIDERS } from '../../../src/crypto/index.js';
import { createDemoWorld, runOfflinePayment, runOnlinePayment, type DemoWorld } from '../../../src/ree/demo/index.js';

describe('demo world, in-process backend', () => {
  let world: DemoWorld;
  const trace = new Trace();
  beforeAll(async () => {
    world = await createDemoWorld({ trace: trace.sink, backend: 'in-process', provider: PROVIDERS.native });
  }, 30_000);
  afterAll(async () => world?.close());

  it('runs an online payment: QR image round trip, trusted UI confirm, backend receipt', async () => {
    const r = await runOnlinePayment(world, { amount: 1234 });
    expect(r.receipt.statement).toMatchObject({ amount: 1234, currency: 'CNY', reference: r.orderId, payer: world.parties.payer, payee: world.parties.payee });
    expect(r.qrPngBytes).toBeGreaterThan(100);
    expect(world.users.payer.prompts.at(-1)?.lines.join(' ')).toContain('12.34 CNY');
    expect(await world.wallets.payee.balance()).toEqual({ CNY: 1234 });
  });

  it('runs an offline payment: offer, pay, accept, both sync, the backend reconciles once', async () => {
    const r = await runOfflinePayment(world, { amount: 500 });
    expect(r.accepted).toMatchObject({ txId: r.txId, amount: 500, counter: 1 });
    expect(r.payeeSync).toEqual([expect.objectContaining({ txId: r.txId, status: 'settled' })]);
    expect(r.payerSync).toEqual([expect.objectContaining({ txId: r.txId, status: 'already-reconciled' })]);
    const s = await world.summary();
    expect(s.onlinePayments).toBe(1);
    expect(s.offlinePayments).toBe(1);
    expect(s.balances.payer.offline.balance).toBe(20_000 - 500);
    expect(s.balances.payee.account.CNY).toBe(1234 + 500);
    expect(s.balances.payer.account.CNY).toBe(100_000 - 1234 - 500);
  });

  it('traces all three lanes', () => {
    const lanes = new Set(trace.events.map((e) => e.lane));
    expect([...lanes].sort()).toEqual(['REE', 'TEE', 'TK']);
  });
});

describe('demo world, backend as a child process', () => {
  it('pays online against the child process and stops it on close', async () => {
    const trace = new Trace();
    const world = await createDemoWorld({ trace: trace.sink, backend: 'process', provider: PROVIDERS.native, matrixSize: 8 });
    try {
      expect(world.backend.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const r = await runOnlinePayment(world, { amount: 999 });
      expect(r.receipt.statement.amount).toBe(999);
    } finally {
      await world.close();
    }
    const pid = Number(/\(pid (\d+)\)/.exec(trace.events.find((e) => /\(pid \d+\)/.test(e.text))!.text)![1]);
    expect(() => process.kill(pid, 0)).toThrow();
    await expect(world.backend.client.health()).rejects.toMatchObject({ code: 'COMMUNICATION' });
  }, 40_000);
});
