import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { addElement, emptyCommitment, subtractElement } from '../../src/storage/commitment.js';

const element = fc.uint8Array({ minLength: 32, maxLength: 32 });

describe('set commitment (additive multiset hash mod 2^256)', () => {
  it('is independent of insertion order and removal undoes insertion', () => {
    fc.assert(
      fc.property(fc.array(element, { maxLength: 8 }), (elements) => {
        const forward = elements.reduce(addElement, emptyCommitment());
        expect([...elements].reverse().reduce(addElement, emptyCommitment())).toEqual(forward);
        expect(elements.reduce(subtractElement, forward)).toEqual(emptyCommitment());
      }),
    );
  });

  it('wraps around mod 2^256', () => {
    const max = new Uint8Array(32).fill(0xff);
    const one = new Uint8Array(32);
    one[31] = 1;
    expect(addElement(max, one)).toEqual(emptyCommitment());
    expect(subtractElement(emptyCommitment(), one)).toEqual(max);
  });
});
