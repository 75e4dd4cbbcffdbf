/**
 * The messages inside DATA records: requests, responses and notifications, as msgpack objects.
 * They come from an authenticated peer, but a peer can still be buggy, so every shape is checked.
 */
import { abool, aint, aobject, astring } from '../common/checks.js';
import { TeeError, teeErrorFromWire, type TeeErrorCode, type TeeOrigin } from '../common/errors.js';

export const MAX_METHOD_LENGTH = 128;
export const MAX_REQUEST_ID = 0xffffffff;

export type RpcMessage =
  | { t: 'req'; id: number; m: string; p: unknown }
  | { t: 'res'; id: number; ok: true; r: unknown }
  | { t: 'res'; id: number; ok: false; e: { code: TeeErrorCode; message: string; origin: TeeOrigin } }
  | { t: 'note'; m: string; p: unknown };

export function checkMethod(value: unknown, title = 'method'): string {
  return astring(value, title, { min: 1, max: MAX_METHOD_LENGTH });
}

/** Validate a decoded message; throws TeeError('BAD_PARAMETERS') for anything else. */
export function parseRpcMessage(value: unknown): RpcMessage {
  const msg = aobject(value, 'message');
  switch (msg.t) {
    case 'req':
      return { t: 'req', id: aint(msg.id, 'request id', 0, MAX_REQUEST_ID), m: checkMethod(msg.m), p: msg.p };
    case 'note':
      return { t: 'note', m: checkMethod(msg.m), p: msg.p };
    case 'res': {
      const id = aint(msg.id, 'response id', 0, MAX_REQUEST_ID);
      if (abool(msg.ok, 'response ok')) return { t: 'res', id, ok: true, r: msg.r };
      // teeErrorFromWire turns a malformed error into COMMUNICATION rather than trusting it.
      const e = teeErrorFromWire(msg.e, 'CHANNEL');
      return { t: 'res', id, ok: false, e: e.toWire() };
    }
    default:
      throw new TeeError('BAD_PARAMETERS', 'message: unknown type', 'CHANNEL');
  }
}
