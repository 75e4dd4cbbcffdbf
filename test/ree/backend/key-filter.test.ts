import { describe, expect, it } from 'vitest';
import { KeyFilter } from '../../../src/ree/backend/key-filter.js';

describe('KeyFilter', () => {
  it('never answers "absent" for a key it was given, across the layers it grows', () => {
    const filter = new KeyFilter();
    const keys = Array.from({ length: 300_000 }, (_, i) => `n!retail/payer-${i % 97}/${i.toString(16).padStart(32, '0')}`);
    for (const k of keys) filter.add(k);
    expect(filter.count).toBe(keys.length);
    expect(keys.every((k) => filter.mayContain(k))).toBe(true);
  });

  it('answers "absent" for nearly every key it was not given', () => {
    const filter = new KeyFilter();
    for (let i = 0; i < 100_000; i++) filter.add(`p!online/retail/shop/ORD-${i}`);
    let maybe = 0;
    const probes = 100_000;
    for (let i = 0; i < probes; i++) if (filter.mayContain(`p!online/retail/shop/NEW-${i}`)) maybe++;
    // Sized for under 1% per layer; two layers hold these keys.
    expect(maybe / probes).toBeLessThan(0.03);
  });

  it('an empty filter holds nothing', () => {
    const filter = new KeyFilter();
    expect(filter.mayContain('')).toBe(false);
    expect(filter.mayContain('n!x')).toBe(false);
    filter.add('');
    expect(filter.mayContain('')).toBe(true);
  });
});
