/** The HTTP backend with its signature checks on worker threads (`verifyThreads`, `--verify-threads`). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { nativeProvider } from '../../../src/crypto/index.js';
import { verifyReceipt } from '../../../src/ree/backend/client.js';
import { registerBackendCommands } from '../../../src/ree/backend/cli.js';
import { expectTeeError, makeKmc, onlinePayment, signAs, startTestBackend, type Kmc, type TestBackend } from './fixtures.js';

const provider = nativeProvider;
let world: Kmc;
let t: TestBackend;
const shop = { subdomainId: 'retail', userId: 'shop-1' };

beforeAll(async () => {
  world = await makeKmc(provider, { retail: 'plain' }, ['retail/alice', 'retail/bob']);
  t = await startTestBackend(world, { verifyThreads: 2 });
  await t.client.openAccount(world.identity('retail', 'alice').party, 'CNY', 10_000);
  await t.client.openAccount(shop, 'CNY', 0);
});
afterAll(async () => {
  await t?.dispose();
});

describe('backend with verifyThreads', () => {
  it('settles concurrent payments checked on the pool, with receipts the backend key verifies', async () => {
    expect(t.backend.verifyThreads).toBe(2);
    const alice = world.identity('retail', 'alice');
    const payments = Array.from({ length: 24 }, (_, i) => signAs(provider, alice, onlinePayment(alice.party, shop, { amount: 10, orderId: `ORD-pool-${i}` })));
    const settled = await Promise.all(payments.map((p) => t.client.submitPayment(p)));
    for (const s of settled) verifyReceipt(provider, s.receiptBytes, t.backend.publicKey);
    expect(new Set(settled.map((s) => s.receipt.statement.reference)).size).toBe(24);
    expect((await t.client.balance('retail', 'alice')).CNY).toBe(10_000 - 240);
  });

  it('refuses a forgery (another user signs as alice) and a replay, as without the pool', async () => {
    const alice = world.identity('retail', 'alice');
    const forged = signAs(provider, world.identity('retail', 'bob'), onlinePayment(alice.party, shop, { amount: 10 }));
    expect((await expectTeeError(t.client.submitPayment(forged), 'SECURITY')).message).toMatch(/signature does not verify/);
    const once = signAs(provider, alice, onlinePayment(alice.party, shop, { amount: 10 }));
    await t.client.submitPayment(once);
    await expectTeeError(t.client.submitPayment(once), 'SECURITY');
  });

  it('refuses a thread count that is not an integer in [0, 64], leaving the data directory free', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'tee-sim-backend-threads-'));
    try {
      for (const verifyThreads of [-1, 1.5, 65, Number.NaN]) {
        const err = await expectTeeError(startTestBackend(world, { dataDir, verifyThreads }), 'BAD_PARAMETERS');
        expect(err.message).toMatch(/verifyThreads must be an integer in \[0, 64\]/);
      }
      // Nothing stayed open: the ledger's lock is free, so a good start succeeds.
      const ok = await startTestBackend(world, { dataDir, verifyThreads: 1 });
      expect((await ok.client.health()).status).toBe('ok');
      await ok.backend.close();
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('backend serve refuses a bad --verify-threads with a one-line BAD_PARAMETERS before it serves', async () => {
    for (const bad of ['x', '-1', '65', '1.5']) {
      const program = new Command('tee-sim').exitOverride();
      registerBackendCommands(program, () => '/nonexistent');
      const err = await expectTeeError(program.parseAsync(['node', 'tee-sim', 'backend', 'serve', '--port', '0', '--verify-threads', bad]), 'BAD_PARAMETERS');
      expect(err.message).toBe('--verify-threads: expected an integer in [0, 64]');
    }
  });
});
