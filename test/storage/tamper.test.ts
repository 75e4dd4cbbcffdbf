/**
 * The REE owns the LevelDB directory: these tests edit it the way an attacker would (with the store
 * closed, straight through `level` or the file system) and assert that the store notices.
 */
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { containsBytes, toHex, utf8 } from '../../src/common/bytes.js';
import { PROVIDERS } from '../../src/crypto/index.js';
import {
  expectTeeError,
  filesUnder,
  flipBit,
  makeDirs,
  openAndReadAll,
  openStore,
  rawEntries,
  removeDirs,
  withRawDb,
  type Entry,
  type StoreDirs,
} from './helpers.js';

const provider = PROVIDERS.native;
const NAMESPACES = ['ta-one', 'ta-two'];
const TAMPERED = ['CORRUPT_OBJECT', 'SECURITY'] as const;

afterAll(removeDirs);

/** A small store: two namespaces, objects of equal and different sizes. */
async function populated(): Promise<StoreDirs> {
  const dirs = makeDirs();
  const store = await openStore(dirs, provider);
  const one = store.namespace('ta-one');
  const two = store.namespace('ta-two');
  await one.put('a', utf8('value-a'));
  await one.put('b', utf8('value-b'));
  await one.put('long', new Uint8Array(300).fill(1));
  await two.put('a', utf8('value-c'));
  await store.close();
  return dirs;
}

/** Copy a pristine store into fresh directories, so each attack starts from the same state. */
function clone(dirs: StoreDirs): StoreDirs {
  const copy = makeDirs();
  cpSync(dirs.location, copy.location, { recursive: true });
  cpSync(dirs.counterLocation, copy.counterLocation, { recursive: true });
  return copy;
}

async function rewrite(location: string, edit: (entries: Entry[]) => Entry[]): Promise<void> {
  const before = await rawEntries(location);
  const after = edit(before.map(([k, v]) => [new Uint8Array(k), new Uint8Array(v)]));
  await withRawDb(location, async (db) => {
    await db.batch([...before.map(([key]) => ({ type: 'del' as const, key })), ...after.map(([key, value]) => ({ type: 'put' as const, key, value }))]);
  });
}

describe('tampering with the REE-visible database', () => {
  let pristine: StoreDirs;
  let entries: Entry[];
  beforeAll(async () => {
    pristine = await populated();
    entries = await rawEntries(pristine.location);
  });

  it('the untouched store opens and reads', async () => {
    expect(entries.length).toBe(5); // four objects and the state record
    await openAndReadAll(clone(pristine), provider, NAMESPACES);
  });

  it('a flipped bit in any value is detected', async () => {
    for (let i = 0; i < entries.length; i++) {
      const value = entries[i]![1];
      for (const bit of [0, 8 * 8, 8 * 9 + 3, value.length * 8 - 1]) { // format, version, nonce, tag
        const dirs = clone(pristine);
        await rewrite(dirs.location, (all) => all.map(([k, v], j) => [k, j === i ? flipBit(value, bit) : v]));
        await expectTeeError(openAndReadAll(dirs, provider, NAMESPACES), [...TAMPERED]);
      }
    }
  });

  it('a flipped bit in any key is detected', async () => {
    for (let i = 0; i < entries.length; i++) {
      const dirs = clone(pristine);
      await rewrite(dirs.location, (all) => all.map(([k, v], j) => [j === i ? flipBit(k, k.length * 8 - 1) : k, v]));
      await expectTeeError(openAndReadAll(dirs, provider, NAMESPACES), [...TAMPERED]);
    }
  });

  it('swapping the values of any two records is detected (same or different namespace)', async () => {
    for (let i = 0; i < entries.length; i++) {
      for (let j = i + 1; j < entries.length; j++) {
        const dirs = clone(pristine);
        await rewrite(dirs.location, (all) => {
          const out = all.map(([k, v]) => [k, v] as Entry);
          const vi = out[i]![1];
          out[i]![1] = out[j]![1];
          out[j]![1] = vi;
          return out;
        });
        await expectTeeError(openAndReadAll(dirs, provider, NAMESPACES), [...TAMPERED]);
      }
    }
  });

  it('deleting a record, or adding a foreign one, is detected', async () => {
    for (let i = 0; i < entries.length; i++) {
      const dirs = clone(pristine);
      await rewrite(dirs.location, (all) => all.filter((_, j) => j !== i));
      await expectTeeError(openAndReadAll(dirs, provider, NAMESPACES), [...TAMPERED]);
    }
    const dirs = clone(pristine);
    await rewrite(dirs.location, (all) => [...all, [utf8('planted'), utf8('by the REE')]]);
    await expectTeeError(openAndReadAll(dirs, provider, NAMESPACES), [...TAMPERED]);
    // A copy of a real record under another well-formed key.
    const copy = clone(pristine);
    await rewrite(copy.location, (all) => {
      const obj = all.find(([k]) => k.length > 1)!;
      return [...all, [flipBit(obj[0], obj[0].length * 8 - 2), obj[1]]];
    });
    await expectTeeError(openAndReadAll(copy, provider, NAMESPACES), [...TAMPERED]);
  });

  it('another store under the same root key cannot stand in for this one', async () => {
    const other = makeDirs();
    const store = await openStore(other, provider);
    await store.namespace('ta-one').put('a', utf8('value-a'));
    await store.close();
    const dirs = clone(pristine);
    rmSync(dirs.location, { recursive: true });
    cpSync(other.location, dirs.location, { recursive: true });
    await expectTeeError(openStore(dirs, provider), [...TAMPERED]);
  });

  it('an emptied database is a rollback', async () => {
    const dirs = clone(pristine);
    rmSync(dirs.location, { recursive: true });
    await expectTeeError(openStore(dirs, provider), 'SECURITY');
  });
});

describe('rollback', () => {
  it('restoring an old copy of the whole directory is refused with SECURITY', async () => {
    const dirs = makeDirs();
    let store = await openStore(dirs, provider);
    const ns = store.namespace('wallet');
    await ns.put('balance', utf8('100'));
    await store.close();
    const saved = join(dirs.root, 'saved-copy');
    cpSync(dirs.location, saved, { recursive: true });

    store = await openStore(dirs, provider);
    await store.namespace('wallet').put('balance', utf8('40'));
    await store.close();

    rmSync(dirs.location, { recursive: true });
    cpSync(saved, dirs.location, { recursive: true });
    const err = await expectTeeError(openStore(dirs, provider), 'SECURITY');
    expect(err.message).toMatch(/rolled back/);
  });

  it('restoring one record (or one record and the state record) to an older value is detected', async () => {
    const dirs = makeDirs();
    const store = await openStore(dirs, provider);
    const ns = store.namespace('trusted-key');
    await ns.put('pin-retries', Uint8Array.of(3));
    await ns.put('other', utf8('unchanged'));
    await store.close();
    const before = await rawEntries(dirs.location);

    const again = await openStore(dirs, provider);
    await again.namespace('trusted-key').update('pin-retries', (old) => Uint8Array.of(old![0]! - 1));
    await again.close();
    const after = await rawEntries(dirs.location);

    const oldByKey = new Map(before.map(([k, v]) => [toHex(k), v]));
    const changed = after.filter(([k, v]) => toHex(oldByKey.get(toHex(k)) ?? new Uint8Array()) !== toHex(v));
    expect(changed.length).toBe(2); // the object record and the state record
    const snapshot = new Map<string, [Uint8Array, Uint8Array]>();
    cpSync(dirs.location, join(dirs.root, 'pristine'), { recursive: true });
    for (const [k] of changed) snapshot.set(toHex(k), [k, oldByKey.get(toHex(k))!]);

    for (const restore of [[...snapshot.values()].slice(0, 1), [...snapshot.values()].slice(1), [...snapshot.values()]]) {
      rmSync(dirs.location, { recursive: true });
      cpSync(join(dirs.root, 'pristine'), dirs.location, { recursive: true });
      await withRawDb(dirs.location, (db) => db.batch(restore.map(([key, value]) => ({ type: 'put' as const, key, value }))));
      await expectTeeError(openAndReadAll(dirs, provider, ['trusted-key']), [...TAMPERED]);
    }
  });
});

describe('the TEE-private rollback anchor', () => {
  const counterFile = (dirs: StoreDirs) => join(dirs.counterLocation, 'rollback-counter.bin');

  it('an edited anchor is refused with SECURITY', async () => {
    const dirs = makeDirs();
    const store = await openStore(dirs, provider);
    await store.namespace('ta').put('x', utf8('y'));
    await store.close();
    const bytes = new Uint8Array(readFileSync(counterFile(dirs)));
    for (const bit of [0, 8 * 40, bytes.length * 8 - 1]) {
      writeFileSync(counterFile(dirs), flipBit(bytes, bit));
      await expectTeeError(openStore(dirs, provider), 'SECURITY');
    }
    writeFileSync(counterFile(dirs), bytes.subarray(0, 20));
    await expectTeeError(openStore(dirs, provider), 'SECURITY');
    writeFileSync(counterFile(dirs), bytes);
    await (await openStore(dirs, provider)).close();
  });

  it('a missing anchor for an existing store is refused with SECURITY', async () => {
    const dirs = makeDirs();
    const store = await openStore(dirs, provider);
    await store.namespace('ta').put('x', utf8('y'));
    await store.close();
    rmSync(dirs.counterLocation, { recursive: true });
    await expectTeeError(openStore(dirs, provider), 'SECURITY');
  });

  it('accepts the crash window (write committed, anchor one behind) but nothing older', async () => {
    const dirs = makeDirs();
    const store = await openStore(dirs, provider);
    const ns = store.namespace('ta');
    const anchors: Buffer[] = [];
    for (const v of ['1', '2', '3']) {
      await ns.put('x', utf8(v));
      anchors.push(readFileSync(counterFile(dirs)));
    }
    await store.close();

    // Anchor two generations behind the database: not a crash, refuse.
    writeFileSync(counterFile(dirs), anchors[0]!);
    await expectTeeError(openStore(dirs, provider), 'SECURITY');

    // One behind: a kill between the batch and the anchor write of the last put. Accept, catch up.
    writeFileSync(counterFile(dirs), anchors[1]!);
    const recovered = await openStore(dirs, provider);
    expect(await recovered.namespace('ta').get('x')).toEqual(utf8('3'));
    await recovered.close();
    expect(readFileSync(counterFile(dirs))).toEqual(anchors[2]);
  });
});

describe('ciphertext only', () => {
  it('no object data, object id or namespace name appears in any file under location', async () => {
    const dirs = makeDirs();
    const store = await openStore(dirs, provider);
    const namespace = 'namespace-name-that-must-not-leak';
    const ids = ['object-id-that-must-not-leak', 'pin-of-the-user'];
    const secrets = [provider.randomBytes(64), utf8('PLAINTEXT-MARKER-0123456789-not-compressible-by-itself')];
    const ns = store.namespace(namespace);
    await ns.put(ids[0]!, secrets[0]!);
    await ns.put(ids[1]!, secrets[1]!);
    await ns.rename(ids[1]!, `${ids[1]!}-renamed`);
    const needles = [...ids.map(utf8), utf8(`${ids[1]!}-renamed`), utf8(namespace), ...secrets];
    const scan = () => {
      const files = filesUnder(dirs.location);
      expect(files.length).toBeGreaterThan(0);
      for (const { bytes } of files) for (const needle of needles) expect(containsBytes(bytes, needle)).toBe(false);
    };
    scan(); // while open: the write-ahead log holds the fresh records
    await store.close();
    scan();
    // And through LevelDB itself, in case its files were compressed.
    for (const [k, v] of await rawEntries(dirs.location)) {
      for (const needle of needles) expect(containsBytes(k, needle) || containsBytes(v, needle)).toBe(false);
    }
  });
});
