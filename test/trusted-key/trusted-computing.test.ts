/**
 * The trusted-computing module on its own: keys persist (or not), usage flags, ECDH agreement, and
 * the CPK provisioning checks (pinned KMC key, packages sealed to this key only, re-issuance).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { utf8 } from '../../src/common/bytes.js';
import { PROVIDERS } from '../../src/crypto/index.js';
import { KeyManagementCentre, createMemoryKmcStore, encodeIssuancePackage, encodePublicMatrix } from '../../src/cpk/index.js';
import { MAX_PERSISTENT_KEYS, MAX_TRANSIENT_KEYS, TrustedComputing, TrustedKeyStorage } from '../../src/trusted-key/index.js';
import { failure } from '../device/fixtures.js';

const provider = PROVIDERS.native;

describe('TrustedComputing', () => {
  let kmc: KeyManagementCentre;
  let otherKmc: KeyManagementCentre;
  let root: string;
  let dir: string;
  let storage: TrustedKeyStorage;
  let tc: TrustedComputing;

  const reopen = async (kmcPublicKey?: Uint8Array) => {
    await storage.close();
    storage = await TrustedKeyStorage.open({ dir, provider });
    tc = await TrustedComputing.open(provider, storage, kmcPublicKey ? { kmcPublicKey } : {});
  };

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'tee-sim-tc-'));
    kmc = await KeyManagementCentre.create({ provider, store: createMemoryKmcStore(), masterKey: provider.randomBytes(32) });
    otherKmc = await KeyManagementCentre.create({ provider });
    await kmc.createSubdomain('retail', { rows: 8, cols: 8 });
    await kmc.createSubdomain('retail-h', { rows: 8, cols: 8, mode: 'hardened' });
    await otherKmc.createSubdomain('retail', { rows: 8, cols: 8 });
  });

  afterAll(async () => {
    kmc.close();
    otherKmc.close();
    await rm(root, { recursive: true, force: true });
  });

  beforeEach(async () => {
    dir = await mkdtemp(join(root, 'key-'));
    storage = await TrustedKeyStorage.open({ dir, provider });
    tc = await TrustedComputing.open(provider, storage);
  });

  afterEach(async () => {
    await storage.close();
  });

  it(`holds at most ${MAX_PERSISTENT_KEYS} persistent and ${MAX_TRANSIENT_KEYS} transient keys (OUT_OF_MEMORY); a deleted key frees its slot`, async () => {
    const message = utf8('still usable');
    const kept = [];
    // The provisioning key, made at first start, holds one persistent slot.
    for (let i = 1; i < MAX_PERSISTENT_KEYS; i++) kept.push(await tc.generateKey('ed25519', 'sign'));
    expect(await failure(tc.generateKey('ed25519', 'sign'))).toMatchObject({ code: 'OUT_OF_MEMORY' });
    expect(await failure(tc.deriveSharedKey((await tc.generateKey('x25519', 'agree', { persistent: false })).keyId, provider.generateKeyPair('x25519').publicKey, { persistent: true })))
      .toMatchObject({ code: 'OUT_OF_MEMORY' });
    expect(provider.verify('ed25519', kept[0]!.publicKey!, message, await tc.sign(kept[0]!.keyId, message))).toBe(true);
    // Still full after a restart: the count comes from storage.
    await reopen();
    expect(await failure(tc.generateKey('p256', 'sign'))).toMatchObject({ code: 'OUT_OF_MEMORY' });
    // One slot freed, three racing calls: exactly one gets it.
    await tc.deleteKey(kept[0]!.keyId);
    const racing = await Promise.allSettled([0, 1, 2].map(() => tc.generateKey('ed25519', 'sign')));
    expect(racing.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(racing.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason.code)).toEqual(['OUT_OF_MEMORY', 'OUT_OF_MEMORY']);

    // Transient keys (the restart dropped the one made for the derivation).
    for (let i = 1; i < MAX_TRANSIENT_KEYS; i++) await tc.generateKey('ed25519', 'sign', { persistent: false });
    const racingTransient = await Promise.allSettled([0, 1, 2].map(() => tc.generateKey('ed25519', 'sign', { persistent: false })));
    expect(racingTransient.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const full = await failure(tc.generateKey('ed25519', 'sign', { persistent: false }));
    expect(full).toMatchObject({ code: 'OUT_OF_MEMORY' });
    expect(full.message).not.toMatch(/[0-9a-f]{32}/); // no key id or key material in the message
  }, 60_000);

  it('persistent keys survive a restart; transient keys do not', async () => {
    const kept = await tc.generateKey('p256', 'sign');
    const gone = await tc.generateKey('ed25519', 'sign', { persistent: false });
    expect(kept.keyId).toMatch(/^[0-9a-f]{32}$/);
    const provisioning = await tc.provisioningPublicKey();
    await reopen();
    const message = utf8('m');
    expect(provider.verify('p256', kept.publicKey!, message, await tc.sign(kept.keyId, message))).toBe(true);
    expect((await failure(tc.sign(gone.keyId, message))).code).toBe('ITEM_NOT_FOUND');
    expect(await tc.provisioningPublicKey()).toEqual(provisioning);
    await tc.deleteKey(kept.keyId);
    expect((await failure(tc.keyInfo(kept.keyId))).code).toBe('ITEM_NOT_FOUND');
    expect((await failure(tc.keyInfo('not-an-id'))).code).toBe('ITEM_NOT_FOUND');
  });

  it('answers a burst of concurrent signatures, each under its own key, refusals included', async () => {
    const transient = await tc.generateKey('p256', 'sign', { persistent: false });
    const kept = await tc.generateKey('p256', 'sign');
    const m = utf8('burst');
    const keys = [transient, kept];
    const sigs = await Promise.all(Array.from({ length: 16 }, (_, i) => tc.sign(keys[i % 2]!.keyId, m)));
    sigs.forEach((sig, i) => expect(provider.verify('p256', keys[i % 2]!.publicKey!, m, sig)).toBe(true));
    const agree = await tc.generateKey('p256', 'agree', { persistent: false });
    const results = await Promise.allSettled([tc.sign(agree.keyId, m), tc.sign(kept.keyId, m), tc.sign(agree.keyId, m)]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'fulfilled', 'rejected']);
  });

  it('keeps used persistent keys in memory, but a deleted key is gone at once, and forget() drops transient keys', async () => {
    const kept = await tc.generateKey('p256', 'sign');
    const other = await tc.generateKey('ed25519', 'sign');
    const transient = await tc.generateKey('ed25519', 'sign', { persistent: false });
    const m = utf8('m');
    for (let i = 0; i < 3; i++) expect(provider.verify('p256', kept.publicKey!, m, await tc.sign(kept.keyId, m))).toBe(true);
    await tc.sign(other.keyId, m);
    await tc.deleteKey(kept.keyId);
    expect((await failure(tc.sign(kept.keyId, m))).code).toBe('ITEM_NOT_FOUND');
    tc.forget();
    expect((await failure(tc.sign(transient.keyId, m))).code).toBe('ITEM_NOT_FOUND');
    // Persistent keys come back from storage after forget().
    expect(provider.verify('ed25519', other.publicKey!, m, await tc.sign(other.keyId, m))).toBe(true);
  });

  it('enforces usage flags on every operation', async () => {
    const sign = await tc.generateKey('ed25519', 'sign');
    const agree = await tc.generateKey('p256', 'agree');
    const aead = await tc.generateKey('aes-256-gcm', 'encrypt');
    const m = utf8('m');
    expect((await failure(tc.sign(agree.keyId, m))).code).toBe('ACCESS_DENIED');
    expect((await failure(tc.sign(aead.keyId, m))).code).toBe('ACCESS_DENIED');
    expect((await failure(tc.encrypt(sign.keyId, m))).code).toBe('ACCESS_DENIED');
    expect((await failure(tc.deriveSharedKey(sign.keyId, sign.publicKey!))).code).toBe('ACCESS_DENIED');
    expect((await failure(tc.publicKey(aead.keyId))).code).toBe('BAD_PARAMETERS');
    expect((await failure(tc.generateKey('x25519', 'sign'))).code).toBe('BAD_PARAMETERS');
  });

  it('ECDH: two keys derive the same AEAD key; the wrong peer does not', async () => {
    const otherDir = await mkdtemp(join(root, 'peer-'));
    const otherStorage = await TrustedKeyStorage.open({ dir: otherDir, provider });
    try {
      const peer = await TrustedComputing.open(provider, otherStorage);
      const a = await tc.generateKey('x25519', 'agree');
      const b = await peer.generateKey('x25519', 'agree');
      const c = await peer.generateKey('x25519', 'agree');
      const ka = await tc.deriveSharedKey(a.keyId, b.publicKey!, { info: utf8('ctx') });
      const kb = await peer.deriveSharedKey(b.keyId, a.publicKey!, { info: utf8('ctx') });
      const kc = await peer.deriveSharedKey(c.keyId, a.publicKey!, { info: utf8('ctx') });
      const sealed = await tc.encrypt(ka.keyId, utf8('hello'), utf8('aad'));
      expect(await peer.decrypt(kb.keyId, sealed, utf8('aad'))).toEqual(utf8('hello'));
      expect((await failure(peer.decrypt(kc.keyId, sealed, utf8('aad')))).code).toBe('SECURITY');
      expect((await failure(tc.deriveSharedKey(a.keyId, new Uint8Array(32)))).code).toBe('SECURITY');
    } finally {
      await otherStorage.close();
    }
  });

  it('provisioning needs a pinned KMC key, and the pin cannot change', async () => {
    const matrix = encodePublicMatrix(await kmc.publicMatrix('retail'));
    expect((await failure(tc.installMatrix(matrix))).code).toBe('BAD_STATE');
    await tc.pinKmcPublicKey(kmc.kmcPublicKey);
    await tc.pinKmcPublicKey(kmc.kmcPublicKey); // the same key again is fine
    expect((await failure(tc.pinKmcPublicKey(otherKmc.kmcPublicKey))).code).toBe('SECURITY');
    await reopen();
    expect(tc.kmcPublicKey).toEqual(kmc.kmcPublicKey);
    await storage.close();
    storage = await TrustedKeyStorage.open({ dir, provider });
    expect((await failure(TrustedComputing.open(provider, storage, { kmcPublicKey: otherKmc.kmcPublicKey }))).code).toBe('SECURITY');
    tc = await TrustedComputing.open(provider, storage);
  });

  it('accepts matrices and packages only from the pinned KMC, sealed to this key', async () => {
    await tc.pinKmcPublicKey(kmc.kmcPublicKey);
    expect((await failure(tc.installMatrix(encodePublicMatrix(await otherKmc.publicMatrix('retail'))))).code).toBe('SECURITY');
    await tc.installMatrix(encodePublicMatrix(await kmc.publicMatrix('retail')));
    // A package the other KMC issued, or one sealed to another trusted key: refused.
    const foreign = await otherKmc.issuePrivateKey('retail', 'alice', { publicKey: await tc.provisioningPublicKey() });
    expect((await failure(tc.importIssuedIdentity(encodeIssuancePackage(foreign)))).code).toBe('SECURITY');
    const misaddressed = await kmc.issuePrivateKey('retail', 'alice', { publicKey: provider.generateKeyPair('p256').publicKey });
    expect((await failure(tc.importIssuedIdentity(encodeIssuancePackage(misaddressed)))).code).toBe('SECURITY');
    expect(await tc.identities()).toEqual([]);

    const pkg = await kmc.issuePrivateKey('retail', 'alice', { publicKey: await tc.provisioningPublicKey() });
    const first = await tc.importIssuedIdentity(encodeIssuancePackage(pkg));
    expect(first).toMatchObject({ usage: 'payment', algorithm: 'p256', identity: { subdomainId: 'retail', userId: 'alice', mode: 'plain' } });
    expect(await tc.identityKeyId('retail', 'alice')).toBe(first.keyId);
    expect((await failure(tc.sign(first.keyId, utf8('m')))).code).toBe('ACCESS_DENIED');
    expect((await failure(tc.deleteKey(first.keyId))).code).toBe('ACCESS_DENIED');
    // Re-issuance replaces the key.
    const again = await tc.importIssuedIdentity(encodeIssuancePackage(await kmc.issuePrivateKey('retail', 'alice', { publicKey: await tc.provisioningPublicKey() })));
    expect(await tc.identityKeyId('retail', 'alice')).toBe(again.keyId);
    expect((await failure(tc.keyInfo(first.keyId))).code).toBe('ITEM_NOT_FOUND');
    expect(await tc.identities()).toHaveLength(1);
  });

  it('two imports of one identity at once: both succeed in turn, the last one wins, no key is left behind', async () => {
    await tc.pinKmcPublicKey(kmc.kmcPublicKey);
    await tc.installMatrix(encodePublicMatrix(await kmc.publicMatrix('retail')));
    const issue = async () => encodeIssuancePackage(await kmc.issuePrivateKey('retail', 'alice', { publicKey: await tc.provisioningPublicKey() }));
    await tc.importIssuedIdentity(await issue());
    const [p1, p2] = [await issue(), await issue()];
    const [a, b] = await Promise.all([tc.importIssuedIdentity(p1), tc.importIssuedIdentity(p2)]);
    expect([a.keyId, b.keyId]).toContain(await tc.identityKeyId('retail', 'alice'));
    // Only the provisioning key and one identity key hold slots: the rest can still be generated.
    let made = 0;
    while ((await tc.generateKey('ed25519', 'sign').then(() => true, () => false))) made++;
    expect(2 + made).toBe(MAX_PERSISTENT_KEYS);
  });

  it('maps peers offline: unknown subdomains are not found, hardened peers need their certificate', async () => {
    await tc.pinKmcPublicKey(kmc.kmcPublicKey);
    expect((await failure(tc.mapPeerPublicKey({ subdomainId: 'retail', userId: 'bob' }))).code).toBe('ITEM_NOT_FOUND');
    await tc.installMatrix(encodePublicMatrix(await kmc.publicMatrix('retail')));
    await tc.installMatrix(encodePublicMatrix(await kmc.publicMatrix('retail-h')));
    await reopen();
    expect(await tc.installedSubdomains()).toEqual(['retail', 'retail-h']);
    expect(await tc.mapPeerPublicKey({ subdomainId: 'retail', userId: 'bob' })).toHaveLength(33);
    expect((await failure(tc.mapPeerPublicKey({ subdomainId: 'retail-h', userId: 'bob' }))).code).toBe('SECURITY');
  });
});
