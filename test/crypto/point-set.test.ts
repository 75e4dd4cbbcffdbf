/** P256PointSet: prepared sums equal addPoints in both providers, with the same errors. */
import { describe, expect, it } from 'vitest';
import { TeeError } from '../../src/common/errors.js';
import { PROVIDERS } from '../../src/crypto/index.js';

describe.each(['noble', 'native'] as const)('%s preparePoints/addPrepared', (name) => {
  const provider = PROVIDERS[name];
  const arith = provider.p256;
  const points = Array.from({ length: 12 }, () => provider.generateKeyPair('p256').publicKey);

  it('sums the same as addPoints, reusing decoded points across sums', () => {
    const set = arith.preparePoints!(points);
    expect(set.size).toBe(12);
    for (const idx of [[0], [1, 2, 3], [11, 0, 5, 5], [3, 4, 5, 6, 7, 8, 9, 10]]) {
      expect(arith.addPrepared!(set, idx)).toEqual(arith.addPoints(idx.map((i) => points[i]!)));
    }
  });

  it('keeps its own copies: later changes to the input do not reach it', () => {
    const input = points.map((p) => new Uint8Array(p));
    const set = arith.preparePoints!(input);
    const expected = arith.addPoints([points[0]!, points[1]!]);
    input[0]!.fill(0);
    expect(arith.addPrepared!(set, [0, 1])).toEqual(expected);
  });

  it('infinity is SECURITY, an invalid point or bad index BAD_PARAMETERS', () => {
    const k = 12345n;
    const p = arith.multiplyBase(k);
    const minus = arith.multiplyBase(arith.order - k);
    const bad = new Uint8Array(33).fill(0xff);
    bad[0] = 0x02;
    const set = arith.preparePoints!([p, minus, bad]);
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (err) {
        expect(err).toBeInstanceOf(TeeError);
        return (err as TeeError).code;
      }
      return 'none';
    };
    expect(code(() => arith.addPrepared!(set, [0, 1]))).toBe('SECURITY');
    expect(code(() => arith.addPrepared!(set, [0, 2]))).toBe('BAD_PARAMETERS');
    expect(code(() => arith.addPrepared!(set, [3]))).toBe('BAD_PARAMETERS');
    expect(code(() => arith.addPrepared!({ size: 1 }, [0]))).toBe('BAD_PARAMETERS');
    expect(code(() => arith.preparePoints!([p, 'x' as unknown as Uint8Array]))).toBe('BAD_PARAMETERS');
  });
});
