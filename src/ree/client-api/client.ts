/**
 * The REE's TEE Client API, after GlobalPlatform's TEEC_* (optee_client's libteec): contexts,
 * sessions and commands, encoded to bytes and handed to a `TeeDriver`. Every failure is one TeeError
 * with the GP-style `code`, `origin` and `gpResult`: origin API for what this library refused before
 * sending, COMMS for transport or encoding trouble, TEE or TRUSTED_APP for what the other side said.
 *
 * Parameters follow TEEC semantics: output values and memrefs are updated in place after the call
 * (an output memref's bytes are copied into the caller's buffer and `size` set to their length).
 */
import { TeeError } from '../../common/errors.js';
import { aint, aobject, aoneOf, astring } from '../../common/checks.js';
import { MAX_MESSAGE_BYTES } from '../../common/codec.js';
import { shortHex, type TraceSink } from '../../common/trace.js';
// Only the boundary's wire formats: the REE links none of the TEE OS itself.
import { encodeTeeRequest, parseTeeResponse, LOGIN_METHODS, type TeeDriver, type TeeOp, type TeeRequest, type TeeResponse } from '../../tee/driver.js';
import {
  MAX_PARAMS,
  MAX_MEMREF_BYTES,
  HANDLE_BYTES,
  PARAM_TYPES,
  isMemrefType,
  isValueType,
  type MemrefParam,
  type Param,
  type ValueParam,
  type WireOutParam,
  type WireParam,
} from '../../tee/params.js';
import { UUID_PATTERN } from '../../tee/ta-manifest.js';
import type { LoginMethod } from '../../tee/ta.js';
import type { CaptureHook } from './capture.js';

export interface ContextOptions {
  /** Shown in the TEE's trace; public. */
  name?: string;
  /** Sees every byte crossing the boundary, both ways. */
  capture?: CaptureHook;
  /** REE-lane trace events (public data only). */
  trace?: TraceSink;
}

export interface LoginOptions {
  login: LoginMethod;
  /** Required for 'user' and 'application'; asserted by the REE, like OP-TEE's login data. */
  identity?: string;
}

export class TeecContext {
  readonly name: string;
  /** @internal */ readonly driver: TeeDriver;
  /** @internal */ readonly id: Uint8Array;
  /** @internal */ readonly capture: CaptureHook | undefined;
  /** @internal */ readonly trace: TraceSink | undefined;
  /** @internal */ readonly sessions = new Set<TeecSession>();
  #finalized = false;

  /** @internal use `initializeContext` */
  constructor(driver: TeeDriver, id: Uint8Array, options: ContextOptions) {
    this.driver = driver;
    this.id = id;
    this.name = options.name ?? '';
    this.capture = options.capture;
    this.trace = options.trace;
  }

  get finalized(): boolean {
    return this.#finalized;
  }

  /** @internal */
  markFinalized(): void {
    this.#finalized = true;
    for (const s of this.sessions) s.markClosed();
    this.sessions.clear();
  }
}

export class TeecSession {
  readonly context: TeecContext;
  readonly uuid: string;
  /** @internal */ readonly id: Uint8Array;
  #closed = false;

  /** @internal use `openSession` */
  constructor(context: TeecContext, uuid: string, id: Uint8Array) {
    this.context = context;
    this.uuid = uuid;
    this.id = id;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** @internal */
  markClosed(): void {
    this.#closed = true;
  }
}

function apiError(message: string, code: 'BAD_PARAMETERS' | 'BAD_STATE' = 'BAD_PARAMETERS'): TeeError {
  return new TeeError(code, message, 'API');
}

function asApi<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof TeeError) throw new TeeError(err.code, err.message, 'API');
    throw err;
  }
}

/** Turn caller params into their wire form, refusing anything the TEE would refuse anyway. */
function toWireParams(params: readonly Param[] | undefined): WireParam[] {
  if (params === undefined) return [];
  if (!Array.isArray(params) || params.length > MAX_PARAMS) throw apiError(`params: expected at most ${MAX_PARAMS} parameters`);
  return params.map((p, i): WireParam => {
    const title = `param ${i}`;
    const o = asApi(() => aobject(p, title));
    const type = asApi(() => aoneOf(o.type, `${title}.type`, PARAM_TYPES));
    if (type === 'none') return { type };
    if (isValueType(type)) {
      const v = p as ValueParam;
      if (type === 'value_output') return { type, a: 0, b: 0 };
      return asApi(() => ({ type, a: aint(v.a, `${title}.a`, 0, 0xffff_ffff), b: aint(v.b, `${title}.b`, 0, 0xffff_ffff) }));
    }
    if (isMemrefType(type)) {
      const m = p as MemrefParam;
      if (!(m.buffer instanceof Uint8Array)) throw apiError(`${title}.buffer: expected bytes`);
      const size = m.size ?? m.buffer.length;
      asApi(() => aint(size, `${title}.size`, 0, m.buffer.length));
      if (size > MAX_MEMREF_BYTES) throw apiError(`${title}: ${size} bytes exceeds the ${MAX_MEMREF_BYTES}-byte memref limit`);
      if (type === 'memref_output') return { type, size };
      return { type, buffer: m.buffer.subarray(0, size) };
    }
    const h = (p as { handle?: unknown }).handle;
    if (!(h instanceof Uint8Array) || h.length !== HANDLE_BYTES) throw apiError(`${title}.handle: expected ${HANDLE_BYTES} bytes`);
    return { type: 'handle_input', handle: h };
  });
}

/** Write the TEE's outputs back into the caller's params, as TEEC does with shared memory. */
function applyOutputs(params: readonly Param[] | undefined, outs: readonly WireOutParam[]): void {
  if (!params) return;
  params.forEach((p, i) => {
    const out = outs[i];
    if (!out || out.type === 'none' || out.type !== p.type) return;
    if ('a' in out) {
      (p as ValueParam).a = out.a;
      (p as ValueParam).b = out.b;
    } else if ('buffer' in out) {
      const m = p as MemrefParam;
      const capacity = m.size ?? m.buffer.length;
      if (out.buffer.length > capacity) throw new TeeError('COMMUNICATION', `param ${i}: TEE returned more than the buffer holds`, 'COMMS');
      m.buffer.set(out.buffer, 0);
      m.size = out.buffer.length;
    }
  });
}

async function exchange(driver: TeeDriver, capture: CaptureHook | undefined, request: TeeRequest): Promise<TeeResponse> {
  const bytes = encodeTeeRequest(request);
  if (bytes.length > MAX_MESSAGE_BYTES) throw apiError(`request: ${bytes.length} bytes exceeds the ${MAX_MESSAGE_BYTES}-byte limit`);
  capture?.('ree->tee', bytes);
  let reply: Uint8Array;
  try {
    reply = await driver.submit(bytes);
  } catch {
    throw new TeeError('COMMUNICATION', `${request.op}: driver failed`, 'COMMS');
  }
  if (!(reply instanceof Uint8Array)) throw new TeeError('COMMUNICATION', `${request.op}: driver returned no bytes`, 'COMMS');
  capture?.('tee->ree', reply);
  return parseTeeResponse(reply, request.op as TeeOp);
}

function liveContext(context: TeecContext): TeecContext {
  if (!(context instanceof TeecContext)) throw apiError('context: expected a TeecContext');
  if (context.finalized) throw apiError('context: finalized', 'BAD_STATE');
  return context;
}

function liveSession(session: TeecSession): TeecSession {
  if (!(session instanceof TeecSession)) throw apiError('session: expected a TeecSession');
  if (session.closed) throw apiError('session: closed', 'BAD_STATE');
  liveContext(session.context);
  return session;
}

export async function initializeContext(driver: TeeDriver, options: ContextOptions = {}): Promise<TeecContext> {
  if (!driver || typeof driver.submit !== 'function') throw apiError('driver: expected a TeeDriver');
  const name = options.name === undefined ? undefined : asApi(() => astring(options.name, 'context name', { max: 128 }));
  const res = await exchange(driver, options.capture, { op: 'initializeContext', ...(name !== undefined ? { name } : {}) });
  const ctx = new TeecContext(driver, (res as { context: Uint8Array }).context, options);
  ctx.trace?.({ lane: 'REE', actor: 'client-api', text: 'context initialised', detail: { name: ctx.name } });
  return ctx;
}

/** Close the context; sessions still open are closed by the TEE. Later calls on it -> BAD_STATE. */
export async function finalizeContext(context: TeecContext): Promise<void> {
  const ctx = liveContext(context);
  ctx.markFinalized();
  await exchange(ctx.driver, ctx.capture, { op: 'finalizeContext', context: ctx.id });
}

export async function openSession(context: TeecContext, uuid: string, login: LoginOptions = { login: 'public' }, params?: Param[]): Promise<TeecSession> {
  const ctx = liveContext(context);
  asApi(() => astring(uuid, 'uuid', { pattern: UUID_PATTERN }));
  const l = asApi(() => aobject(login, 'login'));
  const method = asApi(() => aoneOf(l.login, 'login.login', LOGIN_METHODS));
  const identity = method === 'public' ? '' : asApi(() => astring(l.identity, 'login.identity', { min: 1, max: 256 }));
  const wire = toWireParams(params);
  const res = await exchange(ctx.driver, ctx.capture, {
    op: 'openSession',
    context: ctx.id,
    uuid,
    login: { login: method, identity },
    params: wire,
  });
  const opened = res as { session: Uint8Array; params: WireOutParam[] };
  const session = new TeecSession(ctx, uuid, opened.session);
  // Registered before outputs are applied, so a bad output cannot orphan an open session.
  ctx.sessions.add(session);
  if (ctx.finalized) session.markClosed();
  applyOutputs(params, opened.params);
  ctx.trace?.({ lane: 'REE', actor: 'client-api', text: 'session opened', detail: { uuid } });
  return session;
}

/** What the REE hands the TEE in each parameter, as its trace shows it: its own bytes and opaque handles. */
function describeWireParams(wire: readonly WireParam[]): Record<string, string> {
  const out: Record<string, string> = {};
  wire.forEach((p, i) => {
    const name = `param${i}`;
    if (p.type === 'none') return;
    if ('handle' in p) out[name] = `${p.type} ${shortHex(p.handle)} (opaque: only the TA can resolve it)`;
    else if ('buffer' in p) out[name] = `${p.type} ${shortHex(p.buffer)}${p.buffer.length <= 12 ? ` (${p.buffer.length} B)` : ''}`;
    else if ('size' in p) out[name] = `${p.type}, room for ${p.size} B`;
    else out[name] = `${p.type} a=${p.a} b=${p.b}`;
  });
  return out;
}

/** Invoke a command; returns the same params array, outputs filled in. */
export async function invokeCommand(session: TeecSession, commandId: number, params?: Param[]): Promise<Param[]> {
  const s = liveSession(session);
  asApi(() => aint(commandId, 'commandId', 0, 0xffff_ffff));
  const wire = toWireParams(params);
  if (s.context.trace) {
    s.context.trace({ lane: 'REE', actor: 'client-api', text: `invokes command ${commandId}`, detail: { session: shortHex(s.id), ...describeWireParams(wire) } });
  }
  const res = await exchange(s.context.driver, s.context.capture, {
    op: 'invokeCommand',
    context: s.context.id,
    session: s.id,
    commandId,
    params: wire,
  });
  applyOutputs(params, (res as { params: WireOutParam[] }).params);
  return params ?? [];
}

export async function closeSession(session: TeecSession): Promise<void> {
  const s = liveSession(session);
  s.markClosed();
  s.context.sessions.delete(s);
  await exchange(s.context.driver, s.context.capture, { op: 'closeSession', context: s.context.id, session: s.id });
}

/** The bytes an output memref holds after a call. */
export function memrefOutput(param: Param): Uint8Array {
  if (!isMemrefType(param.type)) throw apiError('memrefOutput: not a memref parameter');
  const m = param as MemrefParam;
  return m.buffer.subarray(0, m.size ?? m.buffer.length);
}
