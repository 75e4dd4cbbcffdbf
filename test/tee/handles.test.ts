import { describe, expect, it } from 'vitest';
import { TeeError } from '../../src/common/errors.js';
import { nobleProvider } from '../../src/crypto/index.js';
import { HandleTable } from '../../src/tee/handles.js';

function missOf(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (err) {
    if (err instanceof TeeError) return { code: err.code, message: err.message };
    throw err;
  }
  throw new Error('expected a miss');
}

describe('HandleTable', () => {
  const provider = nobleProvider;

  it('adds, gets and removes by 16 random bytes', () => {
    const t = new HandleTable<string>(provider);
    const h = t.add('key-1');
    expect(h).toHaveLength(16);
    expect(t.get(h)).toBe('key-1');
    expect(t.get(new Uint8Array(h))).toBe('key-1');
    expect(t.remove(h)).toBe('key-1');
    expect(t.has(h)).toBe(false);
  });

  it('answers a forged, foreign, malformed or removed handle identically', () => {
    const mine = new HandleTable<string>(provider);
    const theirs = new HandleTable<string>(provider);
    const foreign = theirs.add('their key');
    const removed = mine.add('gone');
    mine.remove(removed);
    const live = mine.add('mine');
    const misses = [
      missOf(() => mine.get(provider.randomBytes(16))),
      missOf(() => mine.get(foreign)),
      missOf(() => mine.get(removed)),
      missOf(() => mine.get(new Uint8Array(15))),
      missOf(() => mine.get('not bytes' as unknown as Uint8Array)),
      missOf(() => mine.remove(foreign)),
      missOf(() => mine.get(Uint8Array.from(live, (b, i) => (i === 15 ? b ^ 1 : b)))),
    ];
    for (const m of misses) expect(m).toEqual({ code: 'ITEM_NOT_FOUND', message: 'handle: not found' });
    expect(theirs.get(foreign)).toBe('their key');
  });

  it('is dead after close: lookups miss and adds are refused', () => {
    const t = new HandleTable<Uint8Array>(provider);
    const secret = new Uint8Array([1, 2, 3]);
    const h = t.add(secret);
    t.close((v) => v.fill(0));
    expect(secret).toEqual(new Uint8Array(3));
    expect(missOf(() => t.get(h)).code).toBe('ITEM_NOT_FOUND');
    expect(missOf(() => t.add(new Uint8Array(1))).code).toBe('BAD_STATE');
  });

  it('caps the number of live handles', () => {
    const t = new HandleTable<number>(provider, 3);
    t.add(1);
    t.add(2);
    t.add(3);
    expect(missOf(() => t.add(4)).code).toBe('OUT_OF_MEMORY');
  });
});
