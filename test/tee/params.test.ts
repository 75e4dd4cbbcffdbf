import { describe, expect, it } from 'vitest';
import { TeeError } from '../../src/common/errors.js';
import {
  MAX_MEMREF_BYTES,
  collectOutputs,
  expectParamTypes,
  outputCapacities,
  padParams,
  parseParams,
  type Params,
} from '../../src/tee/params.js';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof TeeError ? err.code : 'not a TeeError';
  }
  return undefined;
}

describe('expectParamTypes', () => {
  it('accepts exactly the expected types, padding with none', () => {
    const params = padParams([{ type: 'memref_input', buffer: new Uint8Array(1) }, { type: 'value_output', a: 0, b: 0 }]);
    expect(() => expectParamTypes(params, ['memref_input', 'value_output'])).not.toThrow();
    expect(() => expectParamTypes(params, ['memref_input', 'value_output', 'none', 'none'])).not.toThrow();
  });

  it('refuses any difference with BAD_PARAMETERS naming the slot', () => {
    const params = padParams([{ type: 'value_input', a: 1, b: 2 }]);
    expect(() => expectParamTypes(params, ['memref_input'])).toThrowError(/param 0: expected memref_input, got value_input/);
    expect(codeOf(() => expectParamTypes(params, []))).toBe('BAD_PARAMETERS');
    expect(codeOf(() => expectParamTypes(params, ['value_input', 'value_input']))).toBe('BAD_PARAMETERS');
  });
});

describe('parseParams (untrusted input)', () => {
  it('pads to four and keeps valid values', () => {
    const p = parseParams([{ type: 'value_inout', a: 0xffff_ffff, b: 0 }]);
    expect(p).toHaveLength(4);
    expect(p[0]).toEqual({ type: 'value_inout', a: 0xffff_ffff, b: 0 });
    expect(p[3]).toEqual({ type: 'none' });
  });

  it.each([
    ['more than four params', [{ type: 'none' }, { type: 'none' }, { type: 'none' }, { type: 'none' }, { type: 'none' }]],
    ['unknown type', [{ type: 'memref_everything' }]],
    ['value above u32', [{ type: 'value_input', a: 2 ** 32, b: 0 }]],
    ['negative value', [{ type: 'value_input', a: -1, b: 0 }]],
    ['fractional value', [{ type: 'value_input', a: 1.5, b: 0 }]],
    ['value as string', [{ type: 'value_input', a: '1', b: 0 }]],
    ['memref without bytes', [{ type: 'memref_input', buffer: 'abc' }]],
    ['oversized memref', [{ type: 'memref_input', buffer: new Uint8Array(MAX_MEMREF_BYTES + 1) }]],
    ['oversized output capacity', [{ type: 'memref_output', size: MAX_MEMREF_BYTES + 1 }]],
    ['short handle', [{ type: 'handle_input', handle: new Uint8Array(15) }]],
    ['params not a list', { type: 'none' }],
    ['param not an object', [7]],
  ])('refuses %s with BAD_PARAMETERS', (_name, raw) => {
    expect(codeOf(() => parseParams(raw))).toBe('BAD_PARAMETERS');
  });

  it('gives an output memref a zeroed buffer of the offered capacity, never REE bytes', () => {
    const p = parseParams([{ type: 'memref_output', size: 8, buffer: new Uint8Array([1, 2, 3]) }]);
    expect(p[0]).toEqual({ type: 'memref_output', buffer: new Uint8Array(8), size: 8 });
  });
  it('output memrefs share an accessor but never a buffer: each call sees only its own bytes', () => {
    const [first, second] = parseParams([
      { type: 'memref_output', size: 4 },
      { type: 'memref_output', size: 6 },
    ]) as { buffer: Uint8Array; size?: number }[];
    first!.buffer.set([9, 9, 9, 9]);
    expect(second!.buffer).toEqual(new Uint8Array(6));
    second!.buffer = Uint8Array.of(1, 2);
    expect(first!.buffer).toEqual(Uint8Array.of(9, 9, 9, 9));
    expect(second!.buffer).toEqual(Uint8Array.of(1, 2));
    // Walked or copied, a memref still shows its buffer as a field of its own.
    expect(Object.keys(first!)).toEqual(['type', 'size', 'buffer']);
    expect({ ...second! }).toEqual({ type: 'memref_output', size: 6, buffer: Uint8Array.of(1, 2) });
  });
  it('an output memref written in place, as GP TAs do, returns what the TA wrote', () => {
    const p = parseParams([{ type: 'memref_output', size: 8 }]);
    const caps = outputCapacities(p);
    const m = p[0] as { buffer: Uint8Array; size?: number };
    m.buffer.set([5, 6, 7]);
    m.size = 3;
    expect(collectOutputs(p, p, caps)[0]).toEqual({ type: 'memref_output', buffer: new Uint8Array([5, 6, 7]) });
  });
});

describe('collectOutputs', () => {
  it('returns only output slots', () => {
    const req: Params = padParams([
      { type: 'memref_input', buffer: new Uint8Array([9]) },
      { type: 'value_inout', a: 1, b: 2 },
      { type: 'memref_output', buffer: new Uint8Array(4), size: 4 },
    ]);
    const caps = outputCapacities(req);
    (req[2] as { buffer: Uint8Array }).buffer = new Uint8Array([7, 7]);
    (req[2] as { size?: number }).size = 2;
    const out = collectOutputs(req, req, caps);
    expect(out[0]).toEqual({ type: 'none' });
    expect(out[1]).toEqual({ type: 'value_inout', a: 1, b: 2 });
    expect(out[2]).toEqual({ type: 'memref_output', buffer: new Uint8Array([7, 7]) });
  });

  it('reports a short buffer as OVERFLOW', () => {
    const req: Params = padParams([{ type: 'memref_output', buffer: new Uint8Array(2), size: 2 }]);
    const caps = outputCapacities(req);
    (req[0] as { buffer: Uint8Array }).buffer = new Uint8Array(3);
    delete (req[0] as { size?: number }).size;
    expect(codeOf(() => collectOutputs(req, req, caps))).toBe('OVERFLOW');
  });

  it('refuses a TA answer of the wrong type or range', () => {
    const req: Params = padParams([{ type: 'value_output', a: 0, b: 0 }]);
    const caps = outputCapacities(req);
    expect(codeOf(() => collectOutputs(req, padParams([{ type: 'memref_output', buffer: new Uint8Array(1) }]), caps))).toBe('BAD_PARAMETERS');
    expect(codeOf(() => collectOutputs(req, padParams([{ type: 'value_output', a: -1, b: 0 }]), caps))).toBe('BAD_PARAMETERS');
  });
});
