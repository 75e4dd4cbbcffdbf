import { afterAll, describe, expect, it } from 'vitest';
import { utf8 } from '../../src/common/bytes.js';
import { PROVIDERS } from '../../src/crypto/index.js';
import { MAX_ATOMIC_BYTES, MAX_ATOMIC_WRITES, MAX_OBJECT_BYTES, SecureStore } from '../../src/storage/index.js';
import { expectTeeError, makeDirs, openStore, removeDirs, ROOT_KEY } from './helpers.js';

afterAll(removeDirs);

describe.each(Object.values(PROVIDERS))('SecureStore round trip ($name)', (provider) => {
  it('put, get, has, list, delete and persistence across reopen', async () => {
    const dirs = makeDirs();
    const store = await openStore(dirs, provider);
    const ns = store.namespace('8aaaf200-2450-11e4-abe2-0002a5d5c51b');
    expect(ns.name).toBe('8aaaf200-2450-11e4-abe2-0002a5d5c51b');
    await ns.put('alpha', utf8('one'));
    await ns.put('beta', new Uint8Array(4096).fill(7));
    await ns.put('empty', new Uint8Array(0));
    await ns.put('alpha', utf8('two')); // replace
    expect(await ns.get('alpha')).toEqual(utf8('two'));
    expect(await ns.get('empty')).toEqual(new Uint8Array(0));
    expect(await ns.has('beta')).toBe(true);
    expect(await ns.has('gamma')).toBe(false);
    expect(await ns.list()).toEqual(['alpha', 'beta', 'empty']);
    await ns.delete('empty');
    await expectTeeError(ns.get('empty'), 'ITEM_NOT_FOUND');
    await expectTeeError(ns.delete('empty'), 'ITEM_NOT_FOUND');
    await store.close();

    const again = await openStore(dirs, provider);
    const ns2 = again.namespace('8aaaf200-2450-11e4-abe2-0002a5d5c51b');
    expect(await ns2.list()).toEqual(['alpha', 'beta']);
    expect(await ns2.get('alpha')).toEqual(utf8('two'));
    expect(await ns2.get('beta')).toEqual(new Uint8Array(4096).fill(7));
    await again.close();
  });

  it('many replaces, deletes and renames one call at a time, ids in any script, then a reopen that checks them all', async () => {
    const dirs = makeDirs();
    const store = await openStore(dirs, provider);
    const ns = store.namespace('wallet');
    const ids = Array.from({ length: 20 }, (_, i) => (i % 3 === 0 ? `payé-${i}` : i % 3 === 1 ? `收款-${i}` : `order/${i}`));
    const expected = new Map<string, Uint8Array>();
    for (let round = 0; round < 200; round++) {
      const id = ids[(round * 7) % ids.length]!;
      if (round % 11 === 5 && expected.has(id)) {
        await ns.delete(id);
        expected.delete(id);
      } else if (round % 13 === 7 && expected.has(id) && !expected.has(`${id}~`)) {
        await ns.rename(id, `${id}~`);
        expected.set(`${id}~`, expected.get(id)!);
        expected.delete(id);
      } else {
        const data = utf8(`${id}#${round}`);
        await ns.put(id, data);
        expected.set(id, data);
      }
    }
    await store.close();
    // Open recomputes the set commitment from every record and checks it against the state record.
    const again = await openStore(dirs, provider);
    const ns2 = again.namespace('wallet');
    expect(await ns2.list()).toEqual([...expected.keys()].sort());
    for (const [id, data] of expected) expect(await ns2.get(id)).toEqual(data);
    await again.close();
  });

  it('exclusive create, rename, list with prefix, update', async () => {
    const store = await openStore(makeDirs(), provider);
    const ns = store.namespace('ta');
    await ns.put('key/1', utf8('a'), { exclusive: true });
    await expectTeeError(ns.put('key/1', utf8('b'), { exclusive: true }), 'ACCESS_CONFLICT');
    expect(await ns.get('key/1')).toEqual(utf8('a'));
    await ns.put('key/2', utf8('c'));
    await ns.put('other', utf8('d'));
    expect(await ns.list('key/')).toEqual(['key/1', 'key/2']);

    await ns.rename('key/2', 'key/3');
    expect(await ns.get('key/3')).toEqual(utf8('c'));
    await expectTeeError(ns.get('key/2'), 'ITEM_NOT_FOUND');
    await expectTeeError(ns.rename('missing', 'x'), 'ITEM_NOT_FOUND');
    await expectTeeError(ns.rename('key/1', 'other'), 'ACCESS_CONFLICT');
    expect(await ns.list('key/')).toEqual(['key/1', 'key/3']);

    const first = await ns.update('pin-retries', (old) => {
      expect(old).toBeUndefined();
      return Uint8Array.of(3);
    });
    expect(first).toEqual(Uint8Array.of(3));
    expect(await ns.update('pin-retries', (old) => Uint8Array.of(old![0]! - 1))).toEqual(Uint8Array.of(2));
    expect(await ns.get('pin-retries')).toEqual(Uint8Array.of(2));
    // A throwing update function leaves the object as it was.
    await expect(ns.update('pin-retries', () => { throw new Error('caller gave up'); })).rejects.toThrow('caller gave up');
    expect(await ns.get('pin-retries')).toEqual(Uint8Array.of(2));
    await store.close();
  });

  it('commit applies puts and deletes as one change, or nothing at all', async () => {
    const dirs = makeDirs();
    const store = await openStore(dirs, provider);
    const ns = store.namespace('ta');
    await ns.put('balance', utf8('100'));
    await ns.put('offer/1', utf8('pending'));
    await ns.commit([
      { id: 'balance', data: utf8('90') },
      { id: 'receipt/1', data: utf8('paid 10'), exclusive: true },
      { id: 'offer/1', delete: true },
      { id: 'balance', data: utf8('80') }, // a later operation on the same id wins
    ]);
    expect(await ns.get('balance')).toEqual(utf8('80'));
    expect(await ns.list()).toEqual(['balance', 'receipt/1']);
    // A failed condition fails the whole change: nothing of it is written.
    await expectTeeError(ns.commit([{ id: 'balance', data: utf8('0') }, { id: 'receipt/1', data: utf8('again'), exclusive: true }]), 'ACCESS_CONFLICT');
    await expectTeeError(ns.commit([{ id: 'balance', data: utf8('0') }, { id: 'offer/1', delete: true }]), 'ITEM_NOT_FOUND');
    // Conditions see the operations before them.
    await expectTeeError(ns.commit([{ id: 'new', data: utf8('a') }, { id: 'new', data: utf8('b'), exclusive: true }]), 'ACCESS_CONFLICT');
    await ns.commit([{ id: 'temp', data: utf8('t') }, { id: 'temp', delete: true }, { id: 'balance', data: utf8('70') }]);
    expect(await ns.list()).toEqual(['balance', 'receipt/1']);
    expect(await ns.get('balance')).toEqual(utf8('70'));
    // Every operation is checked before anything is written.
    await expectTeeError(ns.commit([{ id: 'balance', data: utf8('0') }, { id: '', data: utf8('x') }]), 'BAD_PARAMETERS');
    await expectTeeError(ns.commit([{ id: 'balance', data: utf8('0') }, { id: 'big', data: new Uint8Array(MAX_OBJECT_BYTES + 1) }]), 'BAD_PARAMETERS');
    await expectTeeError(ns.commit([{ id: 'balance', delete: false } as unknown as { id: string; delete: true }]), 'BAD_PARAMETERS');
    await expectTeeError(ns.commit([]), 'BAD_PARAMETERS');
    await expectTeeError(ns.commit(Array.from({ length: MAX_ATOMIC_WRITES + 1 }, (_, i) => ({ id: `o${i}`, data: utf8('x') }))), 'BAD_PARAMETERS');
    await expectTeeError(ns.commit(Array.from({ length: 5 }, (_, i) => ({ id: `o${i}`, data: new Uint8Array(MAX_ATOMIC_BYTES / 4) }))), 'BAD_PARAMETERS');
    expect(await ns.get('balance')).toEqual(utf8('70'));
    expect(await ns.list()).toEqual(['balance', 'receipt/1']);
    await store.close();
    const again = await openStore(dirs, provider);
    expect(await again.namespace('ta').list()).toEqual(['balance', 'receipt/1']);
    expect(await again.namespace('ta').get('receipt/1')).toEqual(utf8('paid 10'));
    await again.close();
  });

  it('serialises concurrent read-modify-writes', async () => {
    const store = await openStore(makeDirs(), provider);
    const ns = store.namespace('ta');
    const bump = (old: Uint8Array | undefined) => Uint8Array.of((old?.[0] ?? 0) + 1);
    await Promise.all(Array.from({ length: 40 }, () => ns.update('counter', bump)));
    expect(await ns.get('counter')).toEqual(Uint8Array.of(40));
    await store.close();
  });
});

describe('SecureStore', () => {
  it('works with sync: true (fsync every write)', async () => {
    const dirs = makeDirs();
    const options = { location: dirs.location, counterLocation: dirs.counterLocation, rootKey: ROOT_KEY, provider: PROVIDERS.native, sync: true };
    const store = await SecureStore.open(options);
    await store.namespace('ta').put('x', utf8('durable'));
    await store.namespace('ta').rename('x', 'y');
    await store.close();
    const again = await SecureStore.open(options);
    expect(await again.namespace('ta').list()).toEqual(['y']);
    expect(await again.namespace('ta').get('y')).toEqual(utf8('durable'));
    await again.close();
  });

  it('a store written by one provider reads back with the other', async () => {
    const dirs = makeDirs();
    const a = await openStore(dirs, PROVIDERS.native);
    await a.namespace('ta').put('x', utf8('from native'));
    await a.close();
    const b = await openStore(dirs, PROVIDERS.noble);
    expect(await b.namespace('ta').get('x')).toEqual(utf8('from native'));
    await b.namespace('ta').put('y', utf8('from noble'));
    await b.close();
    const c = await openStore(dirs, PROVIDERS.native);
    expect(await c.namespace('ta').get('y')).toEqual(utf8('from noble'));
    await c.close();
  });

  it('keeps namespaces apart: no reads, no listing, no existence checks across them', async () => {
    const store = await openStore(makeDirs(), PROVIDERS.native);
    const a = store.namespace('ta-a');
    const b = store.namespace('ta-b');
    await a.put('shared-name', utf8('secret of a'));
    await a.put('only-a', utf8('x'));
    await b.put('shared-name', utf8('secret of b'));
    expect(await a.get('shared-name')).toEqual(utf8('secret of a'));
    expect(await b.get('shared-name')).toEqual(utf8('secret of b'));
    expect(await b.list()).toEqual(['shared-name']);
    expect(await b.has('only-a')).toBe(false);
    await expectTeeError(b.get('only-a'), 'ITEM_NOT_FOUND');
    await b.delete('shared-name');
    expect(await a.get('shared-name')).toEqual(utf8('secret of a'));
    await store.close();
  });

  it('a different root key cannot open the store', async () => {
    const dirs = makeDirs();
    const store = await openStore(dirs, PROVIDERS.native);
    await store.namespace('ta').put('x', utf8('y'));
    await store.close();
    const otherKey = ROOT_KEY.map((b) => b ^ 0x55);
    await expectTeeError(openStore(dirs, PROVIDERS.native, otherKey), 'SECURITY');
  });

  it('snapshots data at call time, so a reused buffer does not change a queued write', async () => {
    const store = await openStore(makeDirs(), PROVIDERS.native);
    const ns = store.namespace('ta');
    const buf = utf8('first');
    const pending = ns.put('x', buf);
    buf.fill(0);
    await pending;
    expect(await ns.get('x')).toEqual(utf8('first'));
    await store.close();
  });

  it('rejects bad input with BAD_PARAMETERS', async () => {
    const dirs = makeDirs();
    const store = await openStore(dirs, PROVIDERS.native);
    const ns = store.namespace('ta');
    const bad = [
      ns.put('', utf8('x')),
      ns.put('x'.repeat(129), utf8('x')),
      ns.put('\uD800', utf8('x')), // lone surrogate: would collide with other ids in UTF-8
      ns.put('x', new Uint8Array(MAX_OBJECT_BYTES + 1)),
      ns.put('x', 'text' as unknown as Uint8Array),
      ns.put(42 as unknown as string, utf8('x')),
      ns.put('x', utf8('x'), { exclusive: 'yes' as unknown as boolean }),
      ns.get(''),
      ns.has(undefined as unknown as string),
      ns.delete('x'.repeat(200)),
      ns.rename('a', ''),
      ns.list(7 as unknown as string),
      ns.update('x', 'not a function' as unknown as () => Uint8Array),
      ns.update('x', () => 'not bytes' as unknown as Uint8Array),
    ];
    for (const p of bad) await expectTeeError(p, 'BAD_PARAMETERS');
    expect(() => store.namespace('')).toThrow(/namespace name/);
    await ns.put('x'.repeat(128), new Uint8Array(MAX_OBJECT_BYTES)); // the limits themselves are fine
    await store.close();

    const base = { location: dirs.location, counterLocation: dirs.counterLocation, rootKey: ROOT_KEY, provider: PROVIDERS.native };
    await expectTeeError(SecureStore.open({ ...base, rootKey: new Uint8Array(16) }), 'BAD_PARAMETERS');
    await expectTeeError(SecureStore.open({ ...base, counterLocation: dirs.location }), 'BAD_PARAMETERS');
    await expectTeeError(SecureStore.open({ ...base, counterLocation: `${dirs.location}/anchor` }), 'BAD_PARAMETERS');
    await expectTeeError(SecureStore.open({ ...base, provider: {} as typeof PROVIDERS.native }), 'BAD_PARAMETERS');
    await expectTeeError(SecureStore.open(null as unknown as typeof base), 'BAD_PARAMETERS');
  });

  it('is locked to one open instance, and refuses work once closed', async () => {
    const dirs = makeDirs();
    const store = await openStore(dirs, PROVIDERS.native);
    await expectTeeError(openStore(dirs, PROVIDERS.native), 'ACCESS_CONFLICT');
    const ns = store.namespace('ta');
    await store.close();
    await store.close(); // idempotent
    await expectTeeError(ns.get('x'), 'BAD_STATE');
    expect(() => store.namespace('ta')).toThrow(/closed/);
  });
});
