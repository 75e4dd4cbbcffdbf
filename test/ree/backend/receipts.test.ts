/**
 * Batch-sealed receipts: every receipt of a batch verifies on its own under the backend key (both
 * providers), and every way of bending one fails: altered fields, another receipt's seal, a moved
 * index or size, a shortened or lengthened path, another key, a batch signature for another root.
 * Also: a receipt rebuilt from its batch is the same bytes; the service signs once per group commit,
 * stores each batch once (an edited record or leaf no longer rebuilds), and a failed seal fails the
 * whole group.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nativeProvider, nobleProvider } from '../../../src/crypto/index.js';
import type { Receipt } from '../../../src/protocol/payment.js';
import {
  batchSigningBytes, decodeSealedReceipt, encodeSealedReceipt, prepareBatch, rebuildSealed, sealBatch, verifySealedReceipt, type SealedReceipt,
} from '../../../src/ree/backend/receipts.js';
import { Level } from 'level';
import { Ledger } from '../../../src/ree/backend/ledger.js';
import { SubdomainDirectory } from '../../../src/ree/backend/directory.js';
import { SettlementService } from '../../../src/ree/backend/settle.js';
import { expectTeeError, makeKmc, nonce, onlinePayment, signAs, type Kmc } from './fixtures.js';

const provider = nativeProvider;
const key = provider.generateKeyPair('p256');
const sha256 = (b: Uint8Array) => provider.sha256(b);
const sign = (m: Uint8Array) => provider.sign('p256', key.secretKey, m);

function receipt(seq: number): Receipt {
  return {
    version: 1, kind: 'receipt', receiptId: `rcpt-${seq}`, reference: `ORD-${seq}`, payer: { subdomainId: 'retail', userId: 'alice' },
    payee: { subdomainId: 'retail', userId: 'shop' }, amount: 100 + seq, currency: 'CNY', nonce: new Uint8Array(16).fill(seq & 0xff), settledAt: 1000, ledgerSeq: seq,
  };
}

const verify = (r: SealedReceipt, pk = key.publicKey) => verifySealedReceipt(provider, encodeSealedReceipt(r), pk);
const refused = (r: SealedReceipt, pk = key.publicKey) => expect(() => verify(r, pk)).toThrow(/does not verify/);

describe('sealed receipts', () => {
  it('every receipt of batches of 1..33 verifies alone, with both providers, and round-trips', () => {
    for (let n = 1; n <= 33; n++) {
      const sealed = sealBatch(sha256, Array.from({ length: n }, (_, i) => receipt(i + 1)), sign);
      expect(new Set(sealed.map((r) => r.receipt.signature))).toHaveLength(1);
      for (const { receipt: r, bytes } of sealed) {
        expect(bytes).toEqual(encodeSealedReceipt(r));
        expect(verifySealedReceipt(provider, bytes, key.publicKey)).toEqual(r);
        if (n === 7) verifySealedReceipt(nobleProvider, bytes, key.publicKey);
        expect(decodeSealedReceipt(bytes)).toEqual(r);
      }
    }
  });

  it('refuses altered fields, borrowed seals, moved positions, bent paths and other keys', () => {
    const sealed = sealBatch(sha256, Array.from({ length: 7 }, (_, i) => receipt(i + 1)), sign).map((x) => x.receipt);
    const r = sealed[2]!;
    refused({ ...r, statement: { ...r.statement, amount: r.statement.amount + 1 } });
    refused({ ...r, statement: { ...r.statement, reference: 'ORD-99' } });
    refused({ ...r, statement: { ...r.statement, payee: { subdomainId: 'retail', userId: 'mallory' } } });
    refused({ ...r, statement: { ...r.statement, nonce: new Uint8Array(16) } });
    refused({ ...r, statement: { ...r.statement, ledgerSeq: 1 } });
    refused({ ...r, statement: sealed[3]!.statement });
    refused({ ...r, proof: sealed[3]!.proof });
    refused({ ...r, proof: { ...r.proof, index: 3 } });
    refused({ ...r, proof: { ...r.proof, size: 8 } });
    refused({ ...r, proof: { ...r.proof, size: 6 } });
    refused({ ...r, proof: { ...r.proof, path: r.proof.path.slice(1) } });
    refused({ ...r, proof: { ...r.proof, path: [...r.proof.path, r.proof.path[0]!] } });
    refused({ ...r, proof: { ...r.proof, path: r.proof.path.map((h, i) => (i === 1 ? sha256(h) : h)) } });
    refused(r, provider.generateKeyPair('p256').publicKey);
    // A signature over another batch's root, with this receipt's path.
    const other = sealBatch(sha256, [receipt(50), receipt(51)], sign);
    refused({ ...r, signature: other[0]!.receipt.signature });
    // A genuine batch signature over some other root.
    refused({ statement: r.statement, signature: sign(batchSigningBytes(sha256(new Uint8Array(1)), 1)), proof: { index: 0, size: 1, path: [] } });
  });

  it('rebuilds every receipt of a batch from its statement, the signature and the leaf hashes, byte for byte', () => {
    for (const n of [1, 2, 3, 7, 16, 33]) {
      const statements = Array.from({ length: n }, (_, i) => receipt(i + 1));
      const batch = prepareBatch(sha256, statements);
      const signature = sign(batch.message);
      const sealed = batch.seal(signature);
      const leaves = batch.leaves;
      statements.forEach((st, i) => expect(rebuildSealed(sha256, st, signature, leaves, i).bytes).toEqual(sealed[i]!.bytes));
      // Another position, another statement, or leaves that are not whole hashes do not rebuild.
      if (n > 1) expect(() => rebuildSealed(sha256, statements[0]!, signature, leaves, 1)).toThrow(/does not match its leaf/);
      expect(() => rebuildSealed(sha256, { ...statements[0]!, amount: 1 }, signature, leaves, 0)).toThrow(/does not match its leaf/);
      expect(() => rebuildSealed(sha256, statements[0]!, signature, leaves.subarray(1), 0)).toThrow(/leaves malformed/);
      expect(() => rebuildSealed(sha256, statements[0]!, signature, leaves, n)).toThrow(/out of range/);
    }
  });

  it('rejects malformed bytes with a TeeError from the backend', () => {
    const good = sealBatch(sha256, [receipt(1)], sign)[0]!.bytes;
    for (const bad of [new Uint8Array(0), good.subarray(0, good.length - 3), new Uint8Array([0x93, 1, 2, 3])]) {
      expect(() => decodeSealedReceipt(bad)).toThrow(expect.objectContaining({ origin: 'BACKEND' }));
    }
  });
});

describe('receipt sealing in the settle service', () => {
  let world: Kmc;
  let dir: string;
  beforeAll(async () => {
    world = await makeKmc(provider, { retail: 'plain' }, ['retail/alice', 'retail/shop']);
    dir = await mkdtemp(join(tmpdir(), 'tee-sim-receipts-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  async function service(name: string, backendKey = key) {
    const ledger = await Ledger.open(join(dir, name), { sync: true });
    const directory = new SubdomainDirectory(provider, world.kmcPublicKey);
    directory.register(world.matrices.retail!);
    const s = new SettlementService({ provider, ledger, directory, backendKey });
    return { ledger, s };
  }

  it('payments settled together share one signature (one per group), each receipt verifying alone', async () => {
    const { ledger, s } = await service('shared');
    const alice = world.identity('retail', 'alice');
    const shop = world.identity('retail', 'shop');
    await s.openAccount(alice.party, 'CNY', 1000);
    await s.openAccount(shop.party, 'CNY', 0);
    const payments = Array.from({ length: 10 }, (_, i) => signAs(provider, alice, onlinePayment(alice.party, shop.party, { amount: 1, orderId: `G-${i}`, nonce: nonce() })));
    const settled = await Promise.all(payments.map((p) => s.submitOnline(p)));
    for (const r of settled) verifySealedReceipt(provider, r.receiptBytes, key.publicKey);
    const signatures = new Set(settled.map((r) => Buffer.from(r.receipt.signature).toString('hex')));
    expect(signatures.size).toBeLessThan(settled.length);
    // What the ledger stored rebuilds what was handed out, byte for byte; each batch is stored once.
    for (const [i, r] of settled.entries()) expect((await s.storedReceipt('online', shop.party, `G-${i}`))?.receiptBytes).toEqual(r.receiptBytes);
    const record = await ledger.payment('online', shop.party, 'G-3');
    expect(record?.receipt).toBeUndefined();
    const batchSeqs = new Set(await Promise.all(settled.map(async (r) => (await ledger.payment('online', shop.party, r.receipt.statement.reference))!.receiptBatch!.seq)));
    expect(batchSeqs.size).toBe(signatures.size);
    expect(await s.storedReceipt('online', shop.party, 'G-404')).toBeUndefined();
    await ledger.close();
  });

  it('a record or a batch leaf edited on disk no longer rebuilds its receipt (CORRUPT_OBJECT)', async () => {
    const first = await service('edited');
    const alice = world.identity('retail', 'alice');
    const shop = world.identity('retail', 'shop');
    await first.s.openAccount(alice.party, 'CNY', 1000);
    await first.s.openAccount(shop.party, 'CNY', 0);
    const payments = Array.from({ length: 3 }, (_, i) => signAs(provider, alice, onlinePayment(alice.party, shop.party, { amount: 7, orderId: `E-${i}`, nonce: nonce() })));
    await Promise.all(payments.map((p) => first.s.submitOnline(p)));
    const record = (await first.ledger.payment('online', shop.party, 'E-1'))!;
    const e0 = (await first.ledger.payment('online', shop.party, 'E-0'))!.receiptBatch!;
    const e2 = (await first.ledger.payment('online', shop.party, 'E-2'))!.receiptBatch!;
    await first.ledger.close();
    // The REE's files are plain: anyone may edit them. Raise E-1's amount, and flip E-2's leaf in its batch.
    const db = new Level<string, unknown>(join(dir, 'edited'), { keyEncoding: 'utf8', valueEncoding: 'json' });
    await db.put('p!online/retail/shop/E-1', { ...record, amount: 700 });
    const batchKey = `b!${String(e2.seq).padStart(16, '0')}`;
    const batch = (await db.get(batchKey)) as { signature: string; leaves: string };
    const leaves = Buffer.from(batch.leaves, 'base64url');
    leaves[e2.index * 32]! ^= 1;
    await db.put(batchKey, { ...batch, leaves: leaves.toString('base64url') });
    await db.close();
    const again = await service('edited');
    await expectTeeError(again.s.storedReceipt('online', shop.party, 'E-1'), 'CORRUPT_OBJECT');
    await expectTeeError(again.s.storedReceipt('online', shop.party, 'E-2'), 'CORRUPT_OBJECT');
    // E-0 still rebuilds; if it shares E-2's batch, its path now holds the flipped leaf and its seal fails.
    const rebuilt = (await again.s.storedReceipt('online', shop.party, 'E-0'))!;
    if (e0.seq === e2.seq) expect(() => verifySealedReceipt(provider, rebuilt.receiptBytes, key.publicKey)).toThrow(/does not verify/);
    else verifySealedReceipt(provider, rebuilt.receiptBytes, key.publicKey);
    await again.ledger.close();
  });

  it('a failed seal fails its group: nothing written, the nonces still unused, the payments settle later', async () => {
    const broken = { secretKey: new Uint8Array(32), publicKey: key.publicKey }; // the zero scalar cannot sign
    const first = await service('failing', broken);
    const alice = world.identity('retail', 'alice');
    const shop = world.identity('retail', 'shop');
    await first.s.openAccount(alice.party, 'CNY', 1000);
    await first.s.openAccount(shop.party, 'CNY', 0);
    const payments = Array.from({ length: 4 }, (_, i) => signAs(provider, alice, onlinePayment(alice.party, shop.party, { amount: 10, orderId: `F-${i}`, nonce: nonce() })));
    for (const r of await Promise.allSettled(payments.map((p) => first.s.submitOnline(p)))) expect(r.status).toBe('rejected');
    await expectTeeError(first.s.submitOnline(payments[0]!), 'BAD_PARAMETERS');
    expect(await first.ledger.balances(alice.party)).toEqual({ CNY: 1000 });
    expect(await first.ledger.journal()).toHaveLength(2);
    await first.ledger.close();
    const again = await service('failing');
    const settled = await Promise.all(payments.map((p) => again.s.submitOnline(p)));
    expect(settled).toHaveLength(4);
    expect(await again.ledger.balances(alice.party)).toEqual({ CNY: 960 });
    await again.ledger.close();
  });
});
