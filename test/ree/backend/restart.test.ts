import { afterEach, describe, expect, it } from 'vitest';
import { chmod, mkdtemp, readFile, rm, stat, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { nativeProvider } from '../../../src/crypto/index.js';
import { createMemoryKmcStore, encodePublicMatrix, KeyManagementCentre } from '../../../src/cpk/index.js';
import { BackendClient, verifyReceipt } from '../../../src/ree/backend/client.js';
import { registerBackendCommands, serveDataDir } from '../../../src/ree/backend/cli.js';
import { startBackend } from '../../../src/ree/backend/server.js';
import { expectTeeError, makeKmc, onlinePayment, signAs, startTestBackend } from './fixtures.js';

const provider = nativeProvider;
const cleanup: string[] = [];
afterEach(async () => {
  await Promise.all(cleanup.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

describe('backend: restart and data dir', () => {
  it('keeps balances, seen nonces, subdomains and its key across a restart', async () => {
    const world = await makeKmc(provider, { retail: 'plain' }, ['retail/alice']);
    const first = await startTestBackend(world, { sync: true });
    cleanup.push(first.dataDir);
    const alice = world.identity('retail', 'alice');
    const shop = { subdomainId: 'retail', userId: 'shop-1' };
    await first.client.openAccount(alice.party, 'CNY', 1000);
    await first.client.openAccount(shop, 'CNY', 0);
    const bytes = signAs(provider, alice, onlinePayment(alice.party, shop, { amount: 300 }));
    const { receiptBytes } = await first.client.submitPayment(bytes);
    const keyFile = join(first.dataDir, 'key.json');
    expect((await stat(keyFile)).mode & 0o777).toBe(0o600);
    const publicKey = first.backend.publicKey;
    await first.backend.close();

    // Second start: no matrices passed in; the ledger remembers the registered subdomain.
    const second = await startBackend({ dataDir: first.dataDir, provider, trustedKmcPublicKey: world.kmcPublicKey, sync: true });
    try {
      const client = new BackendClient(second.url);
      expect(second.publicKey).toEqual(publicKey);
      verifyReceipt(provider, receiptBytes, second.publicKey);
      expect(await client.balance('retail', 'alice')).toEqual({ CNY: 700 });
      expect(await client.balance('retail', 'shop-1')).toEqual({ CNY: 300 });
      const err = await expectTeeError(client.submitPayment(bytes), 'SECURITY');
      expect(err.message).toBe('replayed payment');
      const next = await client.submitPayment(signAs(provider, alice, onlinePayment(alice.party, shop, { amount: 1 })));
      expect(next.receipt.statement.ledgerSeq).toBe(4);
    } finally {
      await second.close();
    }
  });

  it('refuses a second server on the same data dir, a key file others can read, and a non-loopback host', async () => {
    const world = await makeKmc(provider);
    const first = await startTestBackend(world);
    cleanup.push(first.dataDir);
    await expectTeeError(startBackend({ dataDir: first.dataDir, provider, trustedKmcPublicKey: world.kmcPublicKey }), 'BUSY');
    await first.backend.close();
    await chmod(join(first.dataDir, 'key.json'), 0o644);
    await expectTeeError(startBackend({ dataDir: first.dataDir, provider, trustedKmcPublicKey: world.kmcPublicKey }), 'SECURITY');
    await chmod(join(first.dataDir, 'key.json'), 0o600);
    const text = await readFile(join(first.dataDir, 'key.json'), 'utf8');
    await writeFile(join(first.dataDir, 'key.json'), text.replace(/"publicKey":"[^"]+"/, `"publicKey":"${'A'.repeat(44)}"`), { mode: 0o600 });
    await expectTeeError(startBackend({ dataDir: first.dataDir, provider, trustedKmcPublicKey: world.kmcPublicKey }), 'CORRUPT_OBJECT');
    await expectTeeError(startBackend({ dataDir: first.dataDir, host: '0.0.0.0', provider, trustedKmcPublicKey: world.kmcPublicKey }), 'BAD_PARAMETERS');
  });

  it('refuses a public matrix not signed by the trusted KMC, at start and over HTTP', async () => {
    const world = await makeKmc(provider);
    const rogue = await makeKmc(provider, { retail: 'plain', rogue: 'plain' });
    const dataDir = await mkdtemp(join(tmpdir(), 'tee-sim-backend-'));
    cleanup.push(dataDir);
    await expectTeeError(
      startBackend({ dataDir, provider, trustedKmcPublicKey: world.kmcPublicKey, matrices: [rogue.matrices.rogue!] }),
      'SECURITY',
    );
    const t = await startTestBackend(world, { dataDir });
    try {
      await expectTeeError(t.client.registerSubdomain(rogue.matrices.rogue!), 'SECURITY');
      // A rival matrix for a known subdomain, even if validly signed by its own KMC, cannot replace it.
      await expectTeeError(t.client.registerSubdomain(rogue.matrices.retail!), 'SECURITY');
      expect(await t.client.registerSubdomain(world.matrices.retail!)).toEqual({ subdomainId: 'retail', status: 'unchanged' });
      // Even a matrix the trusted KMC did sign cannot replace a registered one (a KMC twin sharing its key).
      const masterKey = provider.randomBytes(32);
      const storeA = createMemoryKmcStore();
      const kmcA = await KeyManagementCentre.create({ provider, store: storeA, masterKey });
      const storeB = createMemoryKmcStore();
      await storeB.put('kmc/signing-key', storeA.records.get('kmc/signing-key')!);
      const kmcB = await KeyManagementCentre.create({ provider, store: storeB, masterKey });
      expect(kmcB.kmcPublicKey).toEqual(kmcA.kmcPublicKey);
      const twin = await startTestBackend({ ...world, kmcPublicKey: kmcA.kmcPublicKey, matrices: { shop: await kmcA.createSubdomain('shop', { rows: 4, cols: 4 }) } });
      try {
        await expectTeeError(twin.client.registerSubdomain(await kmcB.createSubdomain('shop', { rows: 4, cols: 4 })), 'ACCESS_CONFLICT');
      } finally {
        await twin.dispose();
      }
    } finally {
      await t.backend.close();
    }
  });

  it('serves a tee-sim data dir from the CLI until SIGTERM, and asks for "kmc init" when the KMC is missing', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'tee-sim-data-'));
    cleanup.push(dataDir);
    await expectTeeError(serveDataDir(dataDir), 'ITEM_NOT_FOUND');
    const world = await makeKmc(provider);
    await mkdir(join(dataDir, 'kmc', 'public'), { recursive: true });
    await writeFile(join(dataDir, 'kmc', 'kmc-public.bin'), world.kmcPublicKey);
    await writeFile(join(dataDir, 'kmc', 'public', 'retail.bin'), encodePublicMatrix(world.matrices.retail!));

    const program = new Command('tee-sim').exitOverride();
    registerBackendCommands(program, () => dataDir);
    const lines: string[] = [];
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    }) as typeof process.stdout.write;
    const earlier = new Set(process.listeners('SIGTERM'));
    let running: Promise<unknown>;
    try {
      running = program.parseAsync(['node', 'tee-sim', 'backend', 'serve', '--port', '0']);
      while (!lines.some((l) => l.includes('listening'))) await new Promise((r) => setTimeout(r, 10));
    } finally {
      process.stdout.write = write;
    }
    const url = /http:\/\/\S+/.exec(lines.join(''))![0];
    const client = new BackendClient(url);
    expect((await client.health()).status).toBe('ok');
    expect((await client.subdomain('retail')).rows).toBe(8);
    // Deliver "SIGTERM" to the command's own handler only (the test runner has handlers of its own).
    const ours = process.listeners('SIGTERM').filter((l) => !earlier.has(l));
    expect(ours).toHaveLength(1);
    (ours[0] as () => void)();
    await running;
    expect(process.listeners('SIGTERM').filter((l) => !earlier.has(l))).toHaveLength(0);
    await expect(client.health()).rejects.toMatchObject({ code: 'COMMUNICATION' });
    expect((await stat(join(dataDir, 'backend', 'key.json'))).isFile()).toBe(true);
  });
});
