/** The trusted key's secure storage on its own: app namespaces, counters, device secret, rollback. */
import { cp, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { containsBytes, utf8 } from '../../src/common/bytes.js';
import { PROVIDERS } from '../../src/crypto/index.js';
import { DEVICE_SECRET_BYTES, TrustedKeyStorage, trustedKeyPaths } from '../../src/trusted-key/index.js';
import { failure } from '../device/fixtures.js';

const provider = PROVIDERS.native;

async function filesUnder(dir: string): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) out.push(new Uint8Array(await readFile(join(e.parentPath, e.name))));
  }
  return out;
}

describe('TrustedKeyStorage', () => {
  let dir: string;
  let storage: TrustedKeyStorage;
  const open = () => TrustedKeyStorage.open({ dir, provider });

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tee-sim-tks-'));
    storage = await open();
  });

  afterEach(async () => {
    await storage.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('gives each app its own namespace', async () => {
    await storage.app('wallet').put('note', utf8('one'));
    expect(await storage.app('wallet').get('note')).toEqual(utf8('one'));
    expect(await storage.app('other').has('note')).toBe(false);
    expect(await storage.app('other').list()).toEqual([]);
    expect((await failure(storage.app('other').get('note'))).code).toBe('ITEM_NOT_FOUND');
    expect(() => storage.app('Bad App')).toThrow(/app id/);
  });

  it('counters only grow, and survive a reopen', async () => {
    expect(await storage.read('tx')).toBe(0);
    expect(await storage.increment('tx')).toBe(1);
    expect(await storage.increment('tx')).toBe(2);
    expect(await storage.increment('other')).toBe(1);
    await storage.close();
    storage = await open();
    expect(await storage.read('tx')).toBe(2);
    expect(await storage.increment('tx')).toBe(3);
  });

  it('keeps a 32-byte device secret in its private directory; derived keys are stable and separated by label', async () => {
    const secret = new Uint8Array(await readFile(join(trustedKeyPaths(dir).private, 'device-secret')));
    expect(secret).toHaveLength(DEVICE_SECRET_BYTES);
    const a = storage.deriveKey('purpose-a');
    expect(storage.deriveKey('purpose-b')).not.toEqual(a);
    await storage.close();
    storage = await open();
    expect(storage.deriveKey('purpose-a')).toEqual(a);
    expect(new Uint8Array(await readFile(join(trustedKeyPaths(dir).private, 'device-secret')))).toEqual(secret);
    // The REE-visible store holds neither the secret nor the data in the clear.
    await storage.app('wallet').put('note', utf8('plaintext-marker-1234'));
    for (const f of await filesUnder(trustedKeyPaths(dir).store)) {
      expect(containsBytes(f, secret)).toBe(false);
      expect(containsBytes(f, utf8('plaintext-marker-1234'))).toBe(false);
    }
  });

  it('a restored older copy of the store is refused with SECURITY', async () => {
    await storage.increment('pin-tries');
    await storage.close();
    const copy = join(dir, '..', `${dir.split('/').pop()}-copy`);
    await cp(trustedKeyPaths(dir).store, copy, { recursive: true });
    storage = await open();
    await storage.increment('pin-tries');
    await storage.close();
    await rm(trustedKeyPaths(dir).store, { recursive: true, force: true });
    await cp(copy, trustedKeyPaths(dir).store, { recursive: true });
    await rm(copy, { recursive: true, force: true });
    const err = await failure(open());
    expect(err.code).toBe('SECURITY');
    expect(err.origin).toBe('TRUSTED_KEY');
    // A fresh key for afterEach to close.
    await rm(dir, { recursive: true, force: true });
    storage = await open();
  });

  it('refuses use after close', async () => {
    await storage.close();
    expect(() => storage.app('wallet')).toThrow(/closed/);
    expect((await failure(storage.increment('x'))).code).toBe('BAD_STATE');
    expect(() => storage.deriveKey('x')).toThrow(/closed/);
  });
});
