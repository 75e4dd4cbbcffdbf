import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { containsBytes, toHex } from '../../src/common/bytes.js';
import { nativeProvider } from '../../src/crypto/index.js';
import {
  createLevelKmcStore, createMemoryKmcStore, KeyManagementCentre, mapPublicKey, type KmcStore,
} from '../../src/cpk/index.js';
import { expectTeeErrorAsync, issueAndOpen, spyProvider } from './helpers.js';

const provider = nativeProvider;

describe('KeyManagementCentre', () => {
  it('creates subdomains once and knows only those', async () => {
    const kmc = await KeyManagementCentre.create({ provider });
    const matrix = await kmc.createSubdomain('retail', { rows: 4, cols: 5 });
    expect([matrix.rows, matrix.cols, matrix.mode, matrix.points.length]).toEqual([4, 5, 'plain', 20]);
    expect(await kmc.publicMatrix('retail')).toEqual(matrix);
    expect(await kmc.hasSubdomain('retail')).toBe(true);
    expect(await kmc.hasSubdomain('transit')).toBe(false);
    await expectTeeErrorAsync(() => kmc.createSubdomain('retail', { rows: 4, cols: 4 }), 'ACCESS_CONFLICT');
    await expectTeeErrorAsync(() => kmc.publicMatrix('transit'), 'ITEM_NOT_FOUND');
    await expectTeeErrorAsync(() => kmc.issuePrivateKey('transit', 'alice', { publicKey: provider.generateKeyPair('p256').publicKey }), 'ITEM_NOT_FOUND');
    // Two concurrent creations of one subdomain: exactly one wins.
    const results = await Promise.allSettled([kmc.createSubdomain('race', { rows: 2, cols: 2 }), kmc.createSubdomain('race', { rows: 2, cols: 2 })]);
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
  });

  it('validates its inputs with BAD_PARAMETERS', async () => {
    const kmc = await KeyManagementCentre.create({ provider });
    await expectTeeErrorAsync(() => kmc.createSubdomain('bad id', {}), 'BAD_PARAMETERS');
    await expectTeeErrorAsync(() => kmc.createSubdomain('one-row', { rows: 1, cols: 4 }), 'BAD_PARAMETERS');
    await expectTeeErrorAsync(() => kmc.createSubdomain('odd', { rows: 2, cols: 2, mode: 'odd' as 'plain' }), 'BAD_PARAMETERS');
    await kmc.createSubdomain('retail', { rows: 2, cols: 2 });
    await expectTeeErrorAsync(() => kmc.issuePrivateKey('retail', 'alice', { publicKey: new Uint8Array(33) }), 'BAD_PARAMETERS');
    await expectTeeErrorAsync(() => kmc.issuePrivateKey('retail', '', { publicKey: provider.generateKeyPair('p256').publicKey }), 'BAD_PARAMETERS');
    await expectTeeErrorAsync(() => KeyManagementCentre.create({ provider, store: createMemoryKmcStore() }), 'BAD_PARAMETERS');
    await expectTeeErrorAsync(() => KeyManagementCentre.create({ provider, store: createMemoryKmcStore(), masterKey: new Uint8Array(16) }), 'BAD_PARAMETERS');
  });

  it('stores only ciphertext: no matrix scalar, issued key or signing key appears in the store', async () => {
    const spy = spyProvider(provider);
    const store = createMemoryKmcStore();
    const kmc = await KeyManagementCentre.create({ provider: spy.provider, store, masterKey: provider.randomBytes(32) });
    await kmc.createSubdomain('retail', { rows: 4, cols: 4 });
    await kmc.createSubdomain('gov', { rows: 4, cols: 4, mode: 'hardened' });
    const opened = [await issueAndOpen(kmc, 'retail', 'alice'), await issueAndOpen(kmc, 'gov', 'bob')];
    expect(spy.secrets.length).toBeGreaterThanOrEqual(33); // 32 matrix scalars and the signing key, at least
    expect([...store.records.keys()].sort()).toEqual(['kmc/signing-key', 'subdomain/gov', 'subdomain/retail']);
    for (const record of store.records.values()) {
      for (const s of [...spy.secrets, ...opened.map((o) => o.secretKey)]) expect(containsBytes(record, s)).toBe(false);
    }
  });

  it('reopens over its store with the master key, and refuses a wrong key or swapped records', async () => {
    const store = createMemoryKmcStore();
    const masterKey = provider.randomBytes(32);
    const first = await KeyManagementCentre.create({ provider, store, masterKey });
    const matrix = await first.createSubdomain('retail', { rows: 4, cols: 4 });
    await first.createSubdomain('transit', { rows: 4, cols: 4 });
    first.close();

    await expectTeeErrorAsync(() => first.publicMatrix('retail'), 'BAD_STATE');

    const again = await KeyManagementCentre.create({ provider, store, masterKey });
    expect(toHex(again.kmcPublicKey)).toBe(toHex(first.kmcPublicKey));
    expect(await again.publicMatrix('retail')).toEqual(matrix);
    await expectTeeErrorAsync(() => again.createSubdomain('retail', { rows: 4, cols: 4 }), 'ACCESS_CONFLICT');
    const alice = await issueAndOpen(again, 'retail', 'alice', matrix);
    expect(toHex(alice.publicKey)).toBe(toHex(mapPublicKey(provider, matrix, 'retail', 'alice')));

    await expectTeeErrorAsync(() => KeyManagementCentre.create({ provider, store, masterKey: provider.randomBytes(32) }), 'SECURITY');

    // Copy transit's record over retail's: the record id is authenticated, so it does not open.
    const swapped: KmcStore = {
      get: async (id) => store.get(id === 'subdomain/retail' ? 'subdomain/transit' : id),
      put: async (id, value) => store.put(id, value),
    };
    const victim = await KeyManagementCentre.create({ provider, store: swapped, masterKey });
    await expectTeeErrorAsync(() => victim.publicMatrix('retail'), 'SECURITY');
    // A flipped byte in a record is caught the same way.
    const record = store.records.get('subdomain/transit')!;
    record[record.length - 20] ^= 1;
    await expectTeeErrorAsync(() => victim.issuePrivateKey('transit', 'alice', { publicKey: provider.generateKeyPair('p256').publicKey }), 'SECURITY');
  });

  it('persists in a level store that holds only ciphertext on disk', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tee-sim-cpk-kmc-'));
    try {
      const spy = spyProvider(provider);
      const masterKey = provider.randomBytes(32);
      let store = await createLevelKmcStore(dir);
      const kmc = await KeyManagementCentre.create({ provider: spy.provider, store, masterKey });
      const matrix = await kmc.createSubdomain('retail', { rows: 4, cols: 4 });
      await store.close();

      const files = await readdir(dir);
      let scanned = 0;
      for (const f of files) {
        const bytes = new Uint8Array(await readFile(join(dir, f)));
        scanned += bytes.length;
        for (const s of spy.secrets) expect(containsBytes(bytes, s), f).toBe(false);
      }
      expect(scanned).toBeGreaterThan(16 * 32);

      store = await createLevelKmcStore(dir);
      const reopened = await KeyManagementCentre.create({ provider, store, masterKey });
      expect(await reopened.publicMatrix('retail')).toEqual(matrix);
      const alice = await issueAndOpen(reopened, 'retail', 'alice', matrix);
      expect(toHex(alice.publicKey)).toBe(toHex(mapPublicKey(provider, matrix, 'retail', 'alice')));
      await store.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
