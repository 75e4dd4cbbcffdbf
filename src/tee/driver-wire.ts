/**
 * The driver's byte layout: a fixed binary form, like OP-TEE's `struct optee_msg_arg` in shared
 * memory, instead of a general-purpose encoding. It is cheap to write and read (a request was two
 * msgpack passes over keyed maps each way, a sixth of a full-stack call's time) and it has one form
 * per request, so there is nothing to normalise.
 *
 * All integers big-endian. str8/str16: u8/u16 length, then UTF-8. bytes32: u32 length, then bytes.
 *
 *   request  = version(1) op(u8) body
 *     1 initializeContext  name:str16
 *     2 finalizeContext    context[16]
 *     3 openSession        context[16] uuid:str8 login(u8: 0 public, 1 user, 2 application) identity:str16 params
 *     4 invokeCommand      context[16] session[16] commandId(u32) params
 *     5 closeSession       context[16] session[16]
 *   params   = count(u8) { type(u8, index in PARAM_TYPES) value: a(u32) b(u32) | memref_input/inout: bytes32
 *                          | memref_output: size(u32) | handle_input: bytes8 }
 *   response = version(1) status(u8: 0 ok, 1 error) body
 *     error    code:str8 origin:str8 message:str16
 *     ok       initializeContext: context[16]; openSession: session[16] outParams; invokeCommand: outParams
 *   outParams = the same layout as params, but an output memref carries bytes32 and no handle travels
 *
 * Readers turn bytes into the same plain shapes the checks in ./driver.ts and ./params.ts validate
 * (so every field check stays where it was); byte fields are copied out, so a caller that changes
 * its buffer after submitting cannot change what the TEE already read (no double fetch).
 * Anything cut short, with bytes left over, or out of layout throws TeeError('BAD_PARAMETERS').
 */
import { TeeError } from '../common/errors.js';
import { PARAM_TYPES, MAX_PARAMS, isMemrefType, isValueType, type ParamType, type WireOutParam, type WireParam } from './params.js';
import type { LoginMethod } from './ta.js';

export const DRIVER_WIRE_VERSION = 1;
const OPS = ['initializeContext', 'finalizeContext', 'openSession', 'invokeCommand', 'closeSession'] as const;
const LOGINS: readonly LoginMethod[] = ['public', 'user', 'application'];
const ID_BYTES = 16;

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder('utf-8', { fatal: true });

/** Requests as the REE writes them (the shapes of TeeRequest in ./driver.ts). */
export type WireRequest =
  | { op: 'initializeContext'; name?: string }
  | { op: 'finalizeContext'; context: Uint8Array }
  | { op: 'openSession'; context: Uint8Array; uuid: string; login: { login: LoginMethod; identity?: string }; params: WireParam[] }
  | { op: 'invokeCommand'; context: Uint8Array; session: Uint8Array; commandId: number; params: WireParam[] }
  | { op: 'closeSession'; context: Uint8Array; session: Uint8Array };

export type WireResponse =
  | { ok: false; code: string; origin: string; message: string }
  | { ok: true; context?: Uint8Array; session?: Uint8Array; params?: WireOutParam[] };

// ---- writing ----

/**
 * Writes into one scratch buffer (grown as needed) and hands out an exact-size copy, so a message
 * costs one allocation; the used part of the scratch is cleared afterwards, as ../common/codec.ts
 * clears msgpackr's pool. Writing is synchronous, so one scratch serves every writer.
 */
let scratch = new Uint8Array(4096);

class Writer {
  private o = 0;
  private view = new DataView(scratch.buffer);

  private room(n: number): void {
    if (this.o + n <= scratch.length) return;
    const grown = new Uint8Array(Math.max(scratch.length * 2, this.o + n));
    grown.set(scratch.subarray(0, this.o));
    scratch.fill(0, 0, this.o);
    scratch = grown;
    this.view = new DataView(scratch.buffer);
  }
  u8(v: number): void {
    this.room(1);
    scratch[this.o++] = v;
  }
  u16(v: number): void {
    this.room(2);
    this.view.setUint16(this.o, v);
    this.o += 2;
  }
  u32(v: number): void {
    if (!Number.isInteger(v) || v < 0 || v > 0xffff_ffff) throw new TeeError('BAD_PARAMETERS', 'driver: integer out of range', 'API');
    this.room(4);
    this.view.setUint32(this.o, v);
    this.o += 4;
  }
  raw(bytes: Uint8Array): void {
    this.room(bytes.length);
    scratch.set(bytes, this.o);
    this.o += bytes.length;
  }
  fixed(bytes: Uint8Array, length: number, title: string): void {
    if (!(bytes instanceof Uint8Array) || bytes.length !== length) throw new TeeError('BAD_PARAMETERS', `driver: ${title} must be ${length} bytes`, 'API');
    this.raw(bytes);
  }
  bytes8(bytes: Uint8Array): void {
    if (!(bytes instanceof Uint8Array) || bytes.length > 0xff) throw new TeeError('BAD_PARAMETERS', 'driver: short byte field too long', 'API');
    this.u8(bytes.length);
    this.raw(bytes);
  }
  bytes32(bytes: Uint8Array): void {
    if (!(bytes instanceof Uint8Array)) throw new TeeError('BAD_PARAMETERS', 'driver: expected bytes', 'API');
    this.u32(bytes.length);
    this.raw(bytes);
  }
  str(value: string, lengthBytes: 1 | 2): void {
    if (typeof value !== 'string') throw new TeeError('BAD_PARAMETERS', 'driver: expected a string', 'API');
    const bytes = textEncoder.encode(value);
    if (bytes.length > (lengthBytes === 1 ? 0xff : 0xffff)) throw new TeeError('BAD_PARAMETERS', 'driver: string too long', 'API');
    if (lengthBytes === 1) this.u8(bytes.length);
    else this.u16(bytes.length);
    this.raw(bytes);
  }
  finish(): Uint8Array {
    const out = scratch.slice(0, this.o);
    scratch.fill(0, 0, this.o);
    return out;
  }
  /** Give up on a message half written (its bytes are cleared). */
  abandon(): void {
    scratch.fill(0, 0, Math.min(this.o, scratch.length));
  }
}

/**
 * Params in either direction. They differ in one thing: towards the TEE an output memref carries
 * only its capacity (its contents are none of the TA's business); back from it, its bytes.
 */
function writeParams(w: Writer, params: readonly (WireParam | WireOutParam)[], towardsTee: boolean): void {
  if (params.length > MAX_PARAMS) throw new TeeError('BAD_PARAMETERS', `driver: at most ${MAX_PARAMS} params`, 'API');
  w.u8(params.length);
  for (const p of params) {
    const type = PARAM_TYPES.indexOf(p.type);
    if (type < 0) throw new TeeError('BAD_PARAMETERS', 'driver: unknown param type', 'API');
    w.u8(type);
    if (isValueType(p.type)) {
      const v = p as { a?: number; b?: number };
      w.u32(v.a ?? 0);
      w.u32(v.b ?? 0);
    } else if (p.type === 'memref_output' && towardsTee) w.u32((p as { size: number }).size);
    else if (isMemrefType(p.type)) w.bytes32((p as { buffer: Uint8Array }).buffer);
    else if (p.type === 'handle_input') w.bytes8((p as { handle: Uint8Array }).handle);
  }
}

/** One message written by `body`: its exact bytes, or, if `body` throws, the scratch cleared. */
function written(body: (w: Writer) => void): Uint8Array {
  const w = new Writer();
  try {
    body(w);
  } catch (err) {
    w.abandon();
    throw err;
  }
  return w.finish();
}

export function writeRequest(request: WireRequest): Uint8Array {
  return written((w) => writeRequestTo(w, request));
}

function writeRequestTo(w: Writer, request: WireRequest): void {
  const op = OPS.indexOf(request.op);
  if (op < 0) throw new TeeError('BAD_PARAMETERS', 'driver: unknown op', 'API');
  w.u8(DRIVER_WIRE_VERSION);
  w.u8(op + 1);
  switch (request.op) {
    case 'initializeContext':
      w.str(request.name ?? '', 2);
      break;
    case 'finalizeContext':
      w.fixed(request.context, ID_BYTES, 'context');
      break;
    case 'openSession': {
      w.fixed(request.context, ID_BYTES, 'context');
      w.str(request.uuid, 1);
      const login = LOGINS.indexOf(request.login.login);
      if (login < 0) throw new TeeError('BAD_PARAMETERS', 'driver: unknown login method', 'API');
      w.u8(login);
      w.str(request.login.identity ?? '', 2);
      writeParams(w, request.params, true);
      break;
    }
    case 'invokeCommand':
      w.fixed(request.context, ID_BYTES, 'context');
      w.fixed(request.session, ID_BYTES, 'session');
      w.u32(request.commandId);
      writeParams(w, request.params, true);
      break;
    case 'closeSession':
      w.fixed(request.context, ID_BYTES, 'context');
      w.fixed(request.session, ID_BYTES, 'session');
      break;
  }
}

export function writeResponse(response: WireResponse, op: string): Uint8Array {
  return written((w) => writeResponseTo(w, response, op));
}

function writeResponseTo(w: Writer, response: WireResponse, op: string): void {
  w.u8(DRIVER_WIRE_VERSION);
  if (!response.ok) {
    w.u8(1);
    w.str(response.code, 1);
    w.str(response.origin, 1);
    w.str(response.message.length > 1024 ? response.message.slice(0, 1024) : response.message, 2);
    return;
  }
  w.u8(0);
  if (op === 'initializeContext') w.fixed(response.context!, ID_BYTES, 'context');
  if (op === 'openSession') w.fixed(response.session!, ID_BYTES, 'session');
  if (op === 'openSession' || op === 'invokeCommand') writeParams(w, response.params ?? [], false);
}

// ---- reading ----

/** Reads bytes that crossed the boundary: a failure is the COMMS layer's BAD_PARAMETERS. */
class Reader {
  private o = 0;
  private readonly view: DataView;

  constructor(private readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  fail(what: string): never {
    throw new TeeError('BAD_PARAMETERS', `driver: malformed ${what}`, 'COMMS');
  }
  need(n: number, what: string): void {
    if (this.o + n > this.bytes.length) this.fail(what);
  }
  u8(what: string): number {
    this.need(1, what);
    return this.bytes[this.o++]!;
  }
  u16(what: string): number {
    this.need(2, what);
    const v = this.view.getUint16(this.o);
    this.o += 2;
    return v;
  }
  u32(what: string): number {
    this.need(4, what);
    const v = this.view.getUint32(this.o);
    this.o += 4;
    return v;
  }
  /** A copy: the caller's buffer may change after it was submitted. Bounded by the message itself. */
  copy(n: number, what: string): Uint8Array {
    this.need(n, what);
    return this.bytes.slice(this.o, (this.o += n));
  }
  str(lengthBytes: 1 | 2, what: string): string {
    const n = lengthBytes === 1 ? this.u8(what) : this.u16(what);
    this.need(n, what);
    try {
      return textDecoder.decode(this.bytes.subarray(this.o, (this.o += n)));
    } catch {
      return this.fail(`${what} (not UTF-8)`);
    }
  }
  end(): void {
    if (this.o !== this.bytes.length) this.fail('message (bytes left over)');
  }
}

function paramType(r: Reader, index: number): ParamType {
  const t = r.u8(`param ${index}.type`);
  const type = PARAM_TYPES[t];
  if (type === undefined) r.fail(`param ${index}.type (${t})`);
  return type;
}

/**
 * Params as plain objects for parseParams / parseTeeResponse (which check ranges, lengths and
 * types), in the layout of their direction (see writeParams); handles only travel towards the TEE.
 */
function readParams(r: Reader, towardsTee: boolean): Record<string, unknown>[] {
  const count = r.u8('params count');
  if (count > MAX_PARAMS) r.fail(`params (${count} > ${MAX_PARAMS})`);
  const params: Record<string, unknown>[] = [];
  for (let i = 0; i < count; i++) {
    const type = paramType(r, i);
    if (isValueType(type)) params.push({ type, a: r.u32(`param ${i}.a`), b: r.u32(`param ${i}.b`) });
    else if (type === 'memref_output' && towardsTee) params.push({ type, size: r.u32(`param ${i}.size`) });
    else if (isMemrefType(type)) params.push({ type, buffer: r.copy(r.u32(`param ${i}.buffer`), `param ${i}.buffer`) });
    else if (type === 'handle_input' && towardsTee) params.push({ type, handle: r.copy(r.u8(`param ${i}.handle`), `param ${i}.handle`) });
    else if (type === 'none') params.push({ type });
    else r.fail(`param ${i}.type (${type})`);
  }
  return params;
}

/** A request as a plain object for parseTeeRequest (the caller caps the message size; parseParams the memrefs). */
export function readRequest(bytes: Uint8Array): Record<string, unknown> {
  const r = new Reader(bytes);
  if (r.u8('version') !== DRIVER_WIRE_VERSION) r.fail('version');
  const code = r.u8('op');
  const op = OPS[code - 1];
  if (op === undefined) r.fail(`op (${code})`);
  let out: Record<string, unknown>;
  switch (op) {
    case 'initializeContext':
      out = { op, name: r.str(2, 'name') };
      break;
    case 'finalizeContext':
      out = { op, context: r.copy(ID_BYTES, 'context') };
      break;
    case 'openSession': {
      const context = r.copy(ID_BYTES, 'context');
      const uuid = r.str(1, 'uuid');
      const method = LOGINS[r.u8('login')];
      if (method === undefined) r.fail('login');
      const identity = r.str(2, 'identity');
      out = { op, context, uuid, login: { login: method, identity }, params: readParams(r, true) };
      break;
    }
    case 'invokeCommand':
      out = { op, context: r.copy(ID_BYTES, 'context'), session: r.copy(ID_BYTES, 'session'), commandId: r.u32('commandId'), params: readParams(r, true) };
      break;
    case 'closeSession':
      out = { op, context: r.copy(ID_BYTES, 'context'), session: r.copy(ID_BYTES, 'session') };
      break;
  }
  r.end();
  return out;
}

/** A response as a plain object for parseTeeResponse, read for the op that was sent. */
export function readResponse(bytes: Uint8Array, op: string): Record<string, unknown> {
  const r = new Reader(bytes);
  if (r.u8('version') !== DRIVER_WIRE_VERSION) r.fail('version');
  const status = r.u8('status');
  let out: Record<string, unknown>;
  if (status === 1) {
    out = { ok: false, code: r.str(1, 'code'), origin: r.str(1, 'origin'), message: r.str(2, 'message') };
  } else if (status === 0) {
    out = { ok: true };
    if (op === 'initializeContext') out.context = r.copy(ID_BYTES, 'context');
    if (op === 'openSession') out.session = r.copy(ID_BYTES, 'session');
    if (op === 'openSession' || op === 'invokeCommand') out.params = readParams(r, false);
  } else return r.fail('status');
  r.end();
  return out;
}
