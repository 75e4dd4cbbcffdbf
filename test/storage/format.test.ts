/**
 * On-disk formats over time: masks and anchor tags come in blocks of 64 generations, so stores are
 * reopened on both sides of block boundaries; and a store written by the v1 format (one HMAC per
 * mask and per anchor, fixtures/v1-store, made with ROOT_KEY before the v2 change) still opens,
 * upgrades on its next write, and stays rollback-protected.
 */
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { utf8 } from '../../src/common/bytes.js';
import { PROVIDERS } from '../../src/crypto/index.js';
import { expectTeeError, flipBit, makeDirs, openStore, removeDirs, withRawDb, type StoreDirs } from './helpers.js';

afterAll(removeDirs);

const V1_STORE = fileURLToPath(new URL('./fixtures/v1-store', import.meta.url));
const counterFile = (dirs: StoreDirs) => join(dirs.counterLocation, 'rollback-counter.bin');

function v1Copy(): StoreDirs {
  const dirs = makeDirs();
  cpSync(join(V1_STORE, 'ree-db'), dirs.location, { recursive: true });
  cpSync(join(V1_STORE, 'tee-private'), dirs.counterLocation, { recursive: true });
  return dirs;
}

describe.each(Object.values(PROVIDERS))('generation blocks ($name)', (provider) => {
  it('reopens at every generation around the block boundaries, and refuses an old anchor there', async () => {
    const dirs = makeDirs();
    const anchors = new Map<number, Buffer>();
    for (let generation = 1; generation <= 130; generation++) {
      const store = await openStore(dirs, provider);
      await store.namespace('ta').put('x', utf8(String(generation)));
      await store.close();
      anchors.set(generation, readFileSync(counterFile(dirs)));
    }
    const check = await openStore(dirs, provider);
    expect(await check.namespace('ta').get('x')).toEqual(utf8('130'));
    await check.close();
    // The database is at generation 130; an anchor at 128 (previous block boundary) is two behind.
    writeFileSync(counterFile(dirs), anchors.get(128)!);
    await expectTeeError(openStore(dirs, provider), 'SECURITY');
    writeFileSync(counterFile(dirs), anchors.get(129)!); // the crash window: accepted, catches up
    await (await openStore(dirs, provider)).close();
    expect(readFileSync(counterFile(dirs))).toEqual(anchors.get(130));
  });

  it('a database restored across a block boundary is refused', async () => {
    const dirs = makeDirs();
    const store = await openStore(dirs, provider);
    const ns = store.namespace('ta');
    for (let i = 1; i <= 63; i++) await ns.put('x', utf8(String(i)));
    await store.close();
    const saved = join(dirs.root, 'at-63');
    cpSync(dirs.location, saved, { recursive: true });
    const again = await openStore(dirs, provider);
    await again.namespace('ta').put('x', utf8('64'));
    await again.namespace('ta').put('x', utf8('65'));
    await again.close();
    rmSync(dirs.location, { recursive: true });
    cpSync(saved, dirs.location, { recursive: true });
    await expectTeeError(openStore(dirs, provider), 'SECURITY');
  });
});

describe.each(Object.values(PROVIDERS))('a v1 store ($name)', (provider) => {
  it('opens, reads, upgrades on write and reopens', async () => {
    const dirs = v1Copy();
    const store = await openStore(dirs, provider);
    expect(await store.namespace('ta-one').list()).toEqual(['a', 'b']);
    expect(await store.namespace('ta-one').get('a')).toEqual(utf8('value-a'));
    expect(await store.namespace('ta-one').get('b')).toEqual(utf8('value-b2'));
    expect(await store.namespace('ta-two').get('a')).toEqual(utf8('value-c'));
    await store.namespace('ta-two').put('a', utf8('value-d'));
    await store.close();
    const again = await openStore(dirs, provider);
    expect(await again.namespace('ta-two').get('a')).toEqual(utf8('value-d'));
    expect(await again.namespace('ta-one').get('b')).toEqual(utf8('value-b2'));
    await again.close();
  });

  it('the v1 database restored after an upgrade is a rollback', async () => {
    const dirs = v1Copy();
    const store = await openStore(dirs, provider);
    await store.namespace('ta-one').put('a', utf8('newer'));
    await store.close();
    rmSync(dirs.location, { recursive: true });
    cpSync(join(V1_STORE, 'ree-db'), dirs.location, { recursive: true });
    await expectTeeError(openStore(dirs, provider), 'SECURITY');
  });

  it('an edited v1 anchor or state is refused', async () => {
    const anchor = v1Copy();
    const bytes = new Uint8Array(readFileSync(counterFile(anchor)));
    bytes[bytes.length - 1]! ^= 1;
    writeFileSync(counterFile(anchor), bytes);
    await expectTeeError(openStore(anchor, provider), 'SECURITY');
    // Relabelling a v1 anchor as v2 does not make it verify either.
    const relabelled = v1Copy();
    const original = new Uint8Array(readFileSync(counterFile(relabelled)));
    original[4] = 0x02;
    writeFileSync(counterFile(relabelled), original);
    await expectTeeError(openStore(relabelled, provider), 'SECURITY');
    const state = v1Copy();
    await withRawDb(state.location, async (db) => {
      const key = Uint8Array.of(0x00);
      const value = (await db.get(key))!;
      await db.put(key, flipBit(value, value.length * 8 - 1));
    });
    await expectTeeError(openStore(state, provider), 'CORRUPT_OBJECT');
  });
});
