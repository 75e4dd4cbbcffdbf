import { describe, expect, it } from 'vitest';
import { shortHex, traceFields } from '../../src/common/trace.js';

describe('traceFields', () => {
  it('shows bytes as short hex, cuts long strings, and flattens one level of nesting', () => {
    const bytes = new Uint8Array(40).fill(0xab);
    const fields = traceFields({
      keyId: '00ff', request: bytes, amount: 1200, confirmed: true, big: 2n ** 70n,
      display: 'x'.repeat(200), payer: { userId: 'alice', proof: { deep: 1 } }, list: [1, 2, 3], none: null,
    });
    expect(fields).toEqual({
      keyId: '00ff',
      request: shortHex(bytes),
      amount: 1200,
      confirmed: true,
      big: (2n ** 70n).toString(),
      display: `${'x'.repeat(120)}… (200 chars)`,
      'payer.userId': 'alice',
      'payer.proof': '{deep}',
      list: '[3 items]',
      none: 'null',
    });
  });

  it('names a value that is not an object', () => {
    expect(traceFields(new Uint8Array([1, 2]))).toEqual({ value: '0102' });
    expect(traceFields('text')).toEqual({ value: 'text' });
  });
});
