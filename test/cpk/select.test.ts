import { describe, expect, it } from 'vitest';
import { PROVIDERS, nativeProvider } from '../../src/crypto/index.js';
import { selectIndices } from '../../src/cpk/index.js';
import { expectTeeError } from './helpers.js';

const provider = nativeProvider;

describe('selectIndices', () => {
  it('picks one row in range per column, deterministically, alike in both providers', () => {
    for (const [rows, cols] of [[2, 1], [5, 7], [32, 32], [3, 200], [1024, 16]] as const) {
      const a = selectIndices(PROVIDERS.native, 'retail', 'alice', rows, cols);
      expect(a).toHaveLength(cols);
      for (const r of a) expect(Number.isInteger(r) && r >= 0 && r < rows).toBe(true);
      expect(selectIndices(PROVIDERS.noble, 'retail', 'alice', rows, cols)).toEqual(a);
    }
  });

  it('separates subdomain, user and matrix shape', () => {
    const base = selectIndices(provider, 'retail', 'alice', 32, 32);
    expect(selectIndices(provider, 'transit', 'alice', 32, 32)).not.toEqual(base);
    expect(selectIndices(provider, 'retail', 'alice2', 32, 32)).not.toEqual(base);
    expect(selectIndices(provider, 'retail', 'alice', 32, 31)).not.toEqual(base.slice(0, 31));
    // Length prefixes: moving a character across the boundary gives another identity.
    expect(selectIndices(provider, 'ab', 'c', 32, 32)).not.toEqual(selectIndices(provider, 'a', 'bc', 32, 32));
  });

  it('is uniform over rows that are not a power of two (no modulo bias)', () => {
    // Rows are drawn as 3-bit values with 5..7 rejected; folding them back (draw % 5) would give
    // rows 0..2 twice the weight of rows 3..4. 3000 ids x 40 columns = 120,000 draws, 24,000 per row.
    const rows = 5;
    const counts = new Array<number>(rows).fill(0);
    for (let u = 0; u < 3000; u++) for (const r of selectIndices(provider, 'stats', `user-${u}`, rows, 40)) counts[r]!++;
    for (const c of counts) expect(Math.abs(c - 24_000)).toBeLessThan(800); // ~5.8 standard deviations
  });

  it('rejects malformed identities and shapes with BAD_PARAMETERS', () => {
    expectTeeError(() => selectIndices(provider, '', 'alice', 4, 4), 'BAD_PARAMETERS');
    expectTeeError(() => selectIndices(provider, 'retail', 'a b', 4, 4), 'BAD_PARAMETERS');
    expectTeeError(() => selectIndices(provider, 'retail', 'x'.repeat(65), 4, 4), 'BAD_PARAMETERS');
    expectTeeError(() => selectIndices(provider, 'retail', 'alice', 1, 4), 'BAD_PARAMETERS');
    expectTeeError(() => selectIndices(provider, 'retail', 'alice', 4, 0), 'BAD_PARAMETERS');
    expectTeeError(() => selectIndices(provider, 'retail', 'alice', 4.5, 4), 'BAD_PARAMETERS');
    expectTeeError(() => selectIndices(provider, 'retail', 'alice', 1024, 256), 'BAD_PARAMETERS');
  });
});
