/**
 * The REE/TEE boundary, like OP-TEE's driver ioctl interface: the REE hands the TEE a byte string
 * and gets a byte string back, in the fixed binary layout of ./driver-wire.ts (as OP-TEE passes a
 * `struct optee_msg_arg`). This module defines the request and response shapes, and
 * `createDriverEndpoint` is the TEE's side: it reads untrusted bytes within a size cap, checks every
 * field, dispatches, and turns every failure into a typed error response. It never throws and never
 * answers with anything but public data, ciphertext and handles.
 */
import { TeeError, isTeeErrorCode, isTeeOrigin, toTeeError, type TeeErrorCode, type TeeOrigin } from '../common/errors.js';
import { aarray, abytes, aint, aobject, aoneOf, astring } from '../common/checks.js';
import { MAX_MESSAGE_BYTES } from '../common/codec.js';
import { readRequest, readResponse, writeRequest, writeResponse } from './driver-wire.js';
import {
  MAX_MEMREF_BYTES,
  MAX_PARAMS,
  PARAM_TYPES,
  isMemrefType,
  isValueType,
  parseParams,
  type Params,
  type WireOutParam,
  type WireParam,
} from './params.js';
import { UUID_PATTERN } from './ta-manifest.js';
import type { ClientIdentity, LoginMethod } from './ta.js';

export interface TeeDriver {
  submit(request: Uint8Array): Promise<Uint8Array>;
}

export const CONTEXT_ID_BYTES = 16;
export const SESSION_ID_BYTES = 16;
export const MAX_IDENTITY_CHARS = 256;
export const MAX_CONTEXT_NAME_CHARS = 128;
export const LOGIN_METHODS: readonly LoginMethod[] = ['public', 'user', 'application'];

export type TeeRequest =
  | { op: 'initializeContext'; name?: string }
  | { op: 'finalizeContext'; context: Uint8Array }
  | { op: 'openSession'; context: Uint8Array; uuid: string; login: ClientIdentity; params: WireParam[] }
  | { op: 'invokeCommand'; context: Uint8Array; session: Uint8Array; commandId: number; params: WireParam[] }
  | { op: 'closeSession'; context: Uint8Array; session: Uint8Array };

export type TeeOp = TeeRequest['op'];
export const TEE_OPS: readonly TeeOp[] = ['initializeContext', 'finalizeContext', 'openSession', 'invokeCommand', 'closeSession'];

export interface TeeErrorResponse {
  ok: false;
  code: TeeErrorCode;
  origin: TeeOrigin;
  message: string;
}

export type TeeResponse =
  | { ok: true; context: Uint8Array }
  | { ok: true; session: Uint8Array; params: WireOutParam[] }
  | { ok: true; params: WireOutParam[] }
  | { ok: true }
  | TeeErrorResponse;

/** Requests as the TEE sees them after checking: params already parsed and padded to four. */
export type ParsedTeeRequest =
  | { op: 'initializeContext'; name: string }
  | { op: 'finalizeContext'; context: Uint8Array }
  | { op: 'openSession'; context: Uint8Array; uuid: string; login: ClientIdentity; params: Params }
  | { op: 'invokeCommand'; context: Uint8Array; session: Uint8Array; commandId: number; params: Params }
  | { op: 'closeSession'; context: Uint8Array; session: Uint8Array };

/** What the TEE OS implements behind the driver (see ./sessions.ts). */
export interface TeeRequestHandler {
  initializeContext(name: string): Promise<Uint8Array>;
  finalizeContext(context: Uint8Array): Promise<void>;
  openSession(context: Uint8Array, uuid: string, login: ClientIdentity, params: Params): Promise<{ session: Uint8Array; params: WireOutParam[] }>;
  invokeCommand(context: Uint8Array, session: Uint8Array, commandId: number, params: Params): Promise<WireOutParam[]>;
  closeSession(context: Uint8Array, session: Uint8Array): Promise<void>;
}

export function parseLogin(raw: unknown): ClientIdentity {
  const l = aobject(raw, 'login');
  const login = aoneOf(l.login, 'login.login', LOGIN_METHODS);
  if (login === 'public') {
    if (l.identity !== undefined && l.identity !== '') throw new TeeError('BAD_PARAMETERS', 'login.identity: expected none for public login', 'API');
    return { login, identity: '' };
  }
  return { login, identity: astring(l.identity, 'login.identity', { min: 1, max: MAX_IDENTITY_CHARS }) };
}

/** Check an untrusted, decoded request. Throws BAD_PARAMETERS (origin TEE) on any bad field. */
export function parseTeeRequest(raw: unknown): ParsedTeeRequest {
  try {
    const r = aobject(raw, 'request');
    const op = aoneOf(r.op, 'request.op', TEE_OPS);
    switch (op) {
      case 'initializeContext':
        return { op, name: r.name === undefined ? '' : astring(r.name, 'request.name', { max: MAX_CONTEXT_NAME_CHARS }) };
      case 'finalizeContext':
        return { op, context: abytes(r.context, 'request.context', CONTEXT_ID_BYTES) };
      case 'openSession':
        return {
          op,
          context: abytes(r.context, 'request.context', CONTEXT_ID_BYTES),
          uuid: astring(r.uuid, 'request.uuid', { max: 36, pattern: UUID_PATTERN }),
          login: parseLogin(r.login),
          params: parseParams(r.params ?? [], 'TEE'),
        };
      case 'invokeCommand':
        return {
          op,
          context: abytes(r.context, 'request.context', CONTEXT_ID_BYTES),
          session: abytes(r.session, 'request.session', SESSION_ID_BYTES),
          commandId: aint(r.commandId, 'request.commandId', 0, 0xffff_ffff),
          params: parseParams(r.params ?? [], 'TEE'),
        };
      case 'closeSession':
        return {
          op,
          context: abytes(r.context, 'request.context', CONTEXT_ID_BYTES),
          session: abytes(r.session, 'request.session', SESSION_ID_BYTES),
        };
    }
  } catch (err) {
    if (err instanceof TeeError) throw new TeeError(err.code, err.message, 'TEE');
    throw err;
  }
}

export function errorResponse(err: unknown): TeeErrorResponse {
  const e = toTeeError(err, 'GENERIC', 'TEE');
  return { ok: false, code: e.code, origin: e.origin, message: e.message };
}

/** Read a request from untrusted bytes (size-capped; memrefs are checked by parseParams). */
function readUntrustedRequest(request: unknown): ParsedTeeRequest {
  if (!(request instanceof Uint8Array)) throw new TeeError('BAD_PARAMETERS', 'request: expected bytes', 'COMMS');
  if (request.length > MAX_MESSAGE_BYTES) throw new TeeError('BAD_PARAMETERS', `request: ${request.length} bytes exceeds limit ${MAX_MESSAGE_BYTES}`, 'COMMS');
  return parseTeeRequest(readRequest(request));
}

/** The TEE's side of the boundary. `handler` is the session manager; `isOpen` false -> BAD_STATE. */
export function createDriverEndpoint(handler: TeeRequestHandler, isOpen: () => boolean = () => true): TeeDriver {
  async function dispatch(req: ParsedTeeRequest): Promise<TeeResponse> {
    switch (req.op) {
      case 'initializeContext':
        return { ok: true, context: await handler.initializeContext(req.name) };
      case 'finalizeContext':
        await handler.finalizeContext(req.context);
        return { ok: true };
      case 'openSession': {
        const out = await handler.openSession(req.context, req.uuid, req.login, req.params);
        return { ok: true, session: out.session, params: out.params };
      }
      case 'invokeCommand':
        return { ok: true, params: await handler.invokeCommand(req.context, req.session, req.commandId, req.params) };
      case 'closeSession':
        await handler.closeSession(req.context, req.session);
        return { ok: true };
    }
  }
  return {
    async submit(request: Uint8Array): Promise<Uint8Array> {
      let op: TeeOp | undefined;
      let response: TeeResponse;
      try {
        if (!isOpen()) throw new TeeError('BAD_STATE', 'TEE OS: closed', 'TEE');
        const req = readUntrustedRequest(request);
        op = req.op;
        response = await dispatch(req);
      } catch (err) {
        response = errorResponse(err);
      }
      try {
        return writeResponse(response, op ?? 'closeSession');
      } catch (err) {
        // e.g. a handler answered with a malformed id: the REE gets a typed error, never a throw.
        return writeResponse(errorResponse(err), 'closeSession');
      }
    },
  };
}

// ---- REE side: build requests, check responses (the TEE is trusted, the bytes in between are not) ----

export function encodeTeeRequest(request: TeeRequest): Uint8Array {
  return writeRequest(request);
}


function parseOutParams(raw: unknown): WireOutParam[] {
  const list = aarray(raw, 'response.params', MAX_PARAMS);
  return list.map((p, i): WireOutParam => {
    const o = aobject(p, `response.params[${i}]`);
    const type = aoneOf(o.type, `response.params[${i}].type`, PARAM_TYPES);
    if (isValueType(type)) return { type, a: aint(o.a, 'response value a', 0, 0xffff_ffff), b: aint(o.b, 'response value b', 0, 0xffff_ffff) };
    if (isMemrefType(type)) return { type, buffer: abytes(o.buffer, 'response memref', { max: MAX_MEMREF_BYTES }) };
    if (type !== 'none') throw new TeeError('BAD_PARAMETERS', `response.params[${i}]: unexpected ${type}`, 'COMMS');
    return { type };
  });
}

/**
 * Check a response for the op that was sent. A failure answer becomes a thrown TeeError carrying
 * the TEE's code and origin; a malformed answer becomes COMMUNICATION.
 */
export function parseTeeResponse(bytes: Uint8Array, op: TeeOp): TeeResponse {
  let r: Record<string, unknown>;
  try {
    if (!(bytes instanceof Uint8Array) || bytes.length > MAX_MESSAGE_BYTES) throw new TeeError('COMMUNICATION', 'response: malformed', 'COMMS');
    r = readResponse(bytes, op);
  } catch {
    throw new TeeError('COMMUNICATION', 'response: malformed', 'COMMS');
  }
  if (r.ok === false) {
    if (!isTeeErrorCode(r.code) || typeof r.message !== 'string' || r.message.length > 1024) {
      throw new TeeError('COMMUNICATION', 'response: malformed error', 'COMMS');
    }
    const origin = isTeeOrigin(r.origin) ? r.origin : 'TEE';
    throw new TeeError(r.code, r.message, origin);
  }
  if (r.ok !== true) throw new TeeError('COMMUNICATION', 'response: malformed', 'COMMS');
  try {
    switch (op) {
      case 'initializeContext':
        return { ok: true, context: abytes(r.context, 'response.context', CONTEXT_ID_BYTES) };
      case 'openSession':
        return { ok: true, session: abytes(r.session, 'response.session', SESSION_ID_BYTES), params: parseOutParams(r.params) };
      case 'invokeCommand':
        return { ok: true, params: parseOutParams(r.params) };
      default:
        return { ok: true };
    }
  } catch (err) {
    throw new TeeError('COMMUNICATION', `response: ${err instanceof TeeError ? err.message : 'malformed'}`, 'COMMS');
  }
}
