/**
 * GlobalPlatform-style operation parameters: at most four, each typed. The same shapes are used by
 * the Client API (REE side) and by TAs (TEE side); `parseParams` is the one place where parameters
 * arriving from the REE are checked, so a TA only ever sees well-formed values.
 */
import { TeeError, type TeeOrigin } from '../common/errors.js';
import { aarray, abytes, aint, aobject, aoneOf } from '../common/checks.js';
import { copyBytes } from '../common/bytes.js';

export const MAX_PARAMS = 4;
/** Largest memref in either direction (GP leaves this to the implementation). */
export const MAX_MEMREF_BYTES = 1024 * 1024;
export const HANDLE_BYTES = 16;
const U32_MAX = 0xffff_ffff;

export type ValueParamType = 'value_input' | 'value_output' | 'value_inout';
export type MemrefParamType = 'memref_input' | 'memref_output' | 'memref_inout';
export type ParamType = 'none' | ValueParamType | MemrefParamType | 'handle_input';

export const PARAM_TYPES: readonly ParamType[] = [
  'none',
  'value_input',
  'value_output',
  'value_inout',
  'memref_input',
  'memref_output',
  'memref_inout',
  'handle_input',
];

export interface NoneParam {
  type: 'none';
}
/** `a` and `b` are u32, as in TEE_Param.value. */
export interface ValueParam {
  type: ValueParamType;
  a: number;
  b: number;
}
/**
 * A shared-memory reference. For output memrefs the buffer's length is the capacity the caller
 * offers; after the call `size` holds the number of bytes the TA wrote (or needs, on OVERFLOW).
 */
export interface MemrefParam {
  type: MemrefParamType;
  buffer: Uint8Array;
  size?: number;
}
/** An opaque 16-byte handle the TEE gave this session earlier (see ./handles.ts). */
export interface HandleParam {
  type: 'handle_input';
  handle: Uint8Array;
}

export type Param = NoneParam | ValueParam | MemrefParam | HandleParam;
export type Params = Param[];

export function isValueType(type: ParamType): type is ValueParamType {
  return type === 'value_input' || type === 'value_output' || type === 'value_inout';
}

export function isMemrefType(type: ParamType): type is MemrefParamType {
  return type === 'memref_input' || type === 'memref_output' || type === 'memref_inout';
}

/** True for the types whose contents travel back to the caller after the call. */
export function isOutputType(type: ParamType): boolean {
  return type === 'value_output' || type === 'value_inout' || type === 'memref_output' || type === 'memref_inout';
}

export const NONE: NoneParam = Object.freeze({ type: 'none' }) as NoneParam;

/** Pad to exactly four parameters, as GP's paramTypes word always describes four. */
export function padParams(params: readonly Param[] = []): Params {
  const out = params.slice();
  while (out.length < MAX_PARAMS) out.push({ type: 'none' });
  return out;
}

/** The TA's first line, as in every OP-TEE handler: anything but exactly these types -> BAD_PARAMETERS. */
export function expectParamTypes(params: readonly Param[], expected: readonly ParamType[]): void {
  for (let i = 0; i < MAX_PARAMS; i++) {
    const want = expected[i] ?? 'none';
    const got = params[i]?.type ?? 'none';
    if (got !== want) {
      throw new TeeError('BAD_PARAMETERS', `param ${i}: expected ${want}, got ${got}`, 'TRUSTED_APP');
    }
  }
}

function retitle<T>(origin: TeeOrigin, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof TeeError) throw new TeeError(err.code, err.message, origin);
    throw err;
  }
}

/** Where an output memref keeps its capacity and, once made or set, its buffer. */
const OUTPUT_STATE = Symbol('outputMemref');
interface OutputState {
  readonly capacity: number;
  buffer: Uint8Array | undefined;
}
type OutputMemref = MemrefParam & { [OUTPUT_STATE]: OutputState };

/**
 * `buffer` of an output memref: one getter and one setter shared by all of them. Accessors written
 * into each object literal (`get buffer() {…}`) gave every memref a hidden class of its own, held
 * in old space, and through it the call's buffers lived through every minor GC until a full one:
 * ~350 bytes promoted per call (measured), which slowed every scavenge on the TEE OS's thread.
 */
const OUTPUT_BUFFER: PropertyDescriptorMap = {
  buffer: {
    get(this: OutputMemref): Uint8Array {
      const state = this[OUTPUT_STATE];
      return (state.buffer ??= new Uint8Array(state.capacity));
    },
    set(this: OutputMemref, value: Uint8Array) {
      this[OUTPUT_STATE].buffer = value;
    },
    enumerable: true,
    configurable: true,
  },
};

/**
 * An output memref of `capacity` bytes. The zeroed buffer is made only when the TA reads `buffer`
 * (to write in place, as GP TAs do); a TA that hands back a buffer of its own never pays for one, so
 * offering a generous capacity costs nothing.
 */
export function outputMemref(capacity: number): MemrefParam {
  const memref = { type: 'memref_output' as const, size: capacity };
  // Not enumerable, so the memref still looks like { type, size, buffer } to whoever walks it.
  Object.defineProperty(memref, OUTPUT_STATE, { value: { capacity, buffer: undefined } satisfies OutputState });
  return Object.defineProperties(memref, OUTPUT_BUFFER) as OutputMemref;
}

/** Check one parameter received from outside; output memrefs may arrive as a capacity only. */
export function parseParam(raw: unknown, index: number, origin: TeeOrigin = 'TEE'): Param {
  return retitle(origin, () => {
    const title = `param ${index}`;
    const obj = aobject(raw, title);
    const type = aoneOf(obj.type, `${title}.type`, PARAM_TYPES);
    if (type === 'none') return { type };
    if (isValueType(type)) {
      // Output values carry no input; accept them absent and start from zero.
      const needsInput = type !== 'value_output';
      const a = needsInput || obj.a !== undefined ? aint(obj.a, `${title}.a`, 0, U32_MAX) : 0;
      const b = needsInput || obj.b !== undefined ? aint(obj.b, `${title}.b`, 0, U32_MAX) : 0;
      return { type, a, b };
    }
    if (isMemrefType(type)) {
      if (type === 'memref_output') {
        // Only the capacity crosses for a pure output: the REE's buffer contents are none of the TA's business.
        return outputMemref(aint(obj.size, `${title}.size`, 0, MAX_MEMREF_BYTES));
      }
      const buffer = abytes(obj.buffer, `${title}.buffer`, { max: MAX_MEMREF_BYTES });
      return { type, buffer, size: buffer.length };
    }
    return { type, handle: abytes(obj.handle, `${title}.handle`, HANDLE_BYTES) };
  });
}

/** Check a whole parameter list from outside and pad it to four. */
export function parseParams(raw: unknown, origin: TeeOrigin = 'TEE'): Params {
  if (raw === undefined || raw === null) return padParams();
  const list = retitle(origin, () => aarray(raw, 'params', MAX_PARAMS));
  return padParams(list.map((p, i) => parseParam(p, i, origin)));
}

/** Wire form of one parameter sent towards the TEE (output memrefs carry only their capacity). */
export type WireParam =
  | NoneParam
  | ValueParam
  | { type: 'memref_input' | 'memref_inout'; buffer: Uint8Array }
  | { type: 'memref_output'; size: number }
  | HandleParam;

/** Wire form of one parameter coming back: only output directions carry anything. */
export type WireOutParam = NoneParam | ValueParam | { type: MemrefParamType; buffer: Uint8Array };

/** The bytes a memref param holds after the TA ran: its buffer cut to `size` if the TA set one. */
export function memrefContents(param: MemrefParam): Uint8Array {
  const size = param.size ?? param.buffer.length;
  if (!Number.isSafeInteger(size) || size < 0 || size > param.buffer.length) {
    throw new TeeError('BAD_PARAMETERS', 'memref: size exceeds its buffer', 'TRUSTED_APP');
  }
  return param.buffer.subarray(0, size);
}

/** What the caller offered for each output memref, recorded before the TA can touch the params. */
export function outputCapacities(params: readonly Param[]): (number | undefined)[] {
  return params.map((p) => {
    if (!isMemrefType(p.type) || !isOutputType(p.type)) return undefined;
    const m = p as MemrefParam;
    // An output's `size` is its capacity on the way in (see outputMemref); reading it allocates nothing.
    return p.type === 'memref_output' && m.size !== undefined ? m.size : m.buffer.length;
  });
}

/**
 * Collect what goes back to the caller: for each output-direction slot, the value or the bytes the TA
 * produced (from the params it returned, or else the ones it was given and updated in place). Input
 * slots come back as 'none', so nothing the caller did not ask for crosses the boundary.
 */
export function collectOutputs(requested: readonly Param[], produced: readonly Param[], capacities: readonly (number | undefined)[]): WireOutParam[] {
  return requested.map((req, i) => {
    if (!isOutputType(req.type)) return { type: 'none' };
    const out = produced[i];
    if (!out || out.type !== req.type) {
      throw new TeeError('BAD_PARAMETERS', `param ${i}: TA returned ${out?.type ?? 'nothing'} for ${req.type}`, 'TRUSTED_APP');
    }
    if (isValueType(req.type)) {
      const v = out as ValueParam;
      return {
        type: req.type,
        a: aint(v.a, `param ${i}.a`, 0, U32_MAX),
        b: aint(v.b, `param ${i}.b`, 0, U32_MAX),
      };
    }
    const m = out as MemrefParam;
    if (!(m.buffer instanceof Uint8Array)) throw new TeeError('BAD_PARAMETERS', `param ${i}: TA returned no buffer`, 'TRUSTED_APP');
    const bytes = memrefContents(m);
    const capacity = capacities[i] ?? MAX_MEMREF_BYTES;
    if (bytes.length > capacity) {
      // GP's TEE_ERROR_SHORT_BUFFER: the caller must retry with a larger buffer.
      throw new TeeError('OVERFLOW', `param ${i}: output of ${bytes.length} bytes exceeds the ${capacity}-byte buffer`, 'TRUSTED_APP');
    }
    return { type: req.type as MemrefParamType, buffer: copyBytes(bytes) };
  });
}
