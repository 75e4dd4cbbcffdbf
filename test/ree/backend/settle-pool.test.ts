/** SettlementService with a worker pool: same answers as without, receipts sealed by the backend key. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nativeProvider } from '../../../src/crypto/index.js';
import { verifyReceipt } from '../../../src/ree/backend/client.js';
import { Ledger } from '../../../src/ree/backend/ledger.js';
import { SubdomainDirectory } from '../../../src/ree/backend/directory.js';
import { SettlementService } from '../../../src/ree/backend/settle.js';
import { VerifyPool } from '../../../src/ree/backend/verify-pool.js';
import { expectTeeError, makeKmc, nonce, onlinePayment, signAs, type Kmc } from './fixtures.js';

describe('settle with a worker pool', () => {
  let world: Kmc;
  let dir: string;
  let ledger: Ledger;
  let pool: VerifyPool;
  let service: SettlementService;
  const backendKey = nativeProvider.generateKeyPair('p256');

  beforeAll(async () => {
    world = await makeKmc(nativeProvider, { retail: 'plain' }, ['retail/alice', 'retail/shop']);
    dir = await mkdtemp(join(tmpdir(), 'tee-sim-settle-pool-'));
    ledger = await Ledger.open(join(dir, 'ledger'), { sync: false });
    const directory = new SubdomainDirectory(nativeProvider, world.kmcPublicKey);
    directory.register(world.matrices.retail!);
    pool = new VerifyPool({ provider: 'native', size: 2 });
    service = new SettlementService({ provider: nativeProvider, ledger, directory, backendKey, verifyPool: pool });
    await service.openAccount(world.identity('retail', 'alice').party, 'CNY', 1000);
    await service.openAccount(world.identity('retail', 'shop').party, 'CNY', 0);
  });
  afterAll(async () => {
    await ledger?.close();
    await pool?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('settles concurrent payments with receipts that verify under the backend key; replays and forgeries fail', async () => {
    const alice = world.identity('retail', 'alice');
    const shop = world.identity('retail', 'shop');
    const payments = Array.from({ length: 12 }, (_, i) => signAs(nativeProvider, alice, onlinePayment(alice.party, shop.party, { amount: 5, orderId: `P-${i}`, nonce: nonce() })));
    const settled = await Promise.all(payments.map((p) => service.submitOnline(p)));
    for (const s of settled) {
      expect(verifyReceipt(nativeProvider, s.receiptBytes, backendKey.publicKey).statement).toEqual(s.receipt.statement);
      const stored = await service.storedReceipt('online', shop.party, s.receipt.statement.reference);
      expect(stored?.receiptBytes).toEqual(s.receiptBytes);
    }
    expect(await service.balances(alice.party)).toEqual({ CNY: 940 });
    await expectTeeError(service.submitOnline(payments[0]!), 'SECURITY');
    const forged = signAs(nativeProvider, shop, onlinePayment(alice.party, shop.party, { orderId: 'F-1', nonce: nonce() }));
    await expectTeeError(service.submitOnline(forged), 'SECURITY');
    expect(await service.balances(alice.party)).toEqual({ CNY: 940 });
  });
});
