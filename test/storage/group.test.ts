/**
 * Concurrent puts are committed as groups: the results must be those of running every call one
 * after another in call order, and a resolved put is rollback-protected like a lone one.
 */
import { cpSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { utf8 } from '../../src/common/bytes.js';
import { PROVIDERS } from '../../src/crypto/index.js';
import { expectTeeError, makeDirs, openStore, removeDirs } from './helpers.js';

afterAll(removeDirs);

describe.each(Object.values(PROVIDERS))('concurrent puts ($name)', (provider) => {
  it('all land, the last write to an id wins, and they survive a reopen', async () => {
    const dirs = makeDirs();
    const store = await openStore(dirs, provider);
    const ns = store.namespace('ta');
    const other = store.namespace('tb');
    await Promise.all([
      ...Array.from({ length: 280 }, (_, i) => ns.put(`obj-${i % 40}`, utf8(`v${i}`))),
      other.put('obj-1', utf8('other namespace')),
    ]);
    for (let id = 0; id < 40; id++) expect(await ns.get(`obj-${id}`)).toEqual(utf8(`v${240 + id}`));
    await store.close();
    const again = await openStore(dirs, provider);
    expect(await again.namespace('ta').list()).toHaveLength(40);
    expect(await again.namespace('ta').get('obj-39')).toEqual(utf8('v279'));
    expect(await again.namespace('tb').get('obj-1')).toEqual(utf8('other namespace'));
    await again.close();
  });

  it('keeps call order with the operations around them', async () => {
    const store = await openStore(makeDirs(), provider);
    const ns = store.namespace('ta');
    await ns.put('x', utf8('0'));
    const results = await Promise.all([
      ns.put('x', utf8('1')),
      ns.get('x'), // called between the puts: sees 1, not 2
      ns.put('x', utf8('2')),
      ns.has('y'),
      ns.put('y', utf8('y')),
      ns.list(),
      ns.delete('y'),
      ns.put('z', utf8('z')),
    ]);
    expect(results[1]).toEqual(utf8('1'));
    expect(results[3]).toBe(false);
    expect(results[5]).toEqual(['x', 'y']);
    expect(await ns.list()).toEqual(['x', 'z']);
    expect(await ns.get('x')).toEqual(utf8('2'));
    await store.close();
  });

  it('an exclusive put sees the puts grouped before it, and fails alone', async () => {
    const store = await openStore(makeDirs(), provider);
    const ns = store.namespace('ta');
    const [first, second, third, fourth] = await Promise.allSettled([
      ns.put('a', utf8('first'), { exclusive: true }),
      ns.put('a', utf8('second'), { exclusive: true }),
      ns.put('b', utf8('b')),
      ns.put('b', utf8('b2'), { exclusive: true }),
    ]);
    expect(first.status).toBe('fulfilled');
    expect(third.status).toBe('fulfilled');
    await expectTeeError(Promise.reject((second as PromiseRejectedResult).reason), 'ACCESS_CONFLICT');
    await expectTeeError(Promise.reject((fourth as PromiseRejectedResult).reason), 'ACCESS_CONFLICT');
    expect(await ns.get('a')).toEqual(utf8('first'));
    expect(await ns.get('b')).toEqual(utf8('b'));
    await store.close();
  });

  it('snapshots each caller buffer at call time', async () => {
    const store = await openStore(makeDirs(), provider);
    const ns = store.namespace('ta');
    const buf = utf8('first');
    const pending = [ns.put('x', buf), ns.put('y', buf)];
    buf.fill(0);
    await Promise.all(pending);
    expect(await ns.get('x')).toEqual(utf8('first'));
    expect(await ns.get('y')).toEqual(utf8('first'));
    await store.close();
  });

  it('a database restored to before a resolved group is refused with SECURITY', async () => {
    const dirs = makeDirs();
    const store = await openStore(dirs, provider);
    await store.namespace('ta').put('balance', utf8('100'));
    await store.close();
    const saved = join(dirs.root, 'saved');
    cpSync(dirs.location, saved, { recursive: true });
    const again = await openStore(dirs, provider);
    const ns = again.namespace('ta');
    await Promise.all([ns.put('balance', utf8('40')), ns.put('spent', utf8('60'))]);
    await again.close();
    rmSync(dirs.location, { recursive: true });
    cpSync(saved, dirs.location, { recursive: true });
    await expectTeeError(openStore(dirs, provider), 'SECURITY');
  });

  it('puts called after close fail, puts called before it are written', async () => {
    const dirs = makeDirs();
    const store = await openStore(dirs, provider);
    const ns = store.namespace('ta');
    const before = ns.put('x', utf8('kept'));
    const closed = store.close();
    const after = ns.put('y', utf8('lost'));
    await before;
    await closed;
    await expectTeeError(after, 'BAD_STATE');
    const again = await openStore(dirs, provider);
    expect(await again.namespace('ta').list()).toEqual(['x']);
    await again.close();
  });
});
