/**
 * HTTP plumbing for the backend: capped body reading, JSON in and out, and the one mapping from
 * error codes to status codes. Nothing a client sends reaches a handler unparsed, and nothing a
 * handler throws reaches the client except a code and a message (never a stack).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { TeeError, type TeeErrorCode } from '../../common/errors.js';
import { fromBase64url, fromUtf8, toBase64url } from '../../common/bytes.js';
import { aobject, astring } from '../../common/checks.js';

export const DEFAULT_MAX_BODY_BYTES = 64 * 1024;
/** After the cap, drain at most this much more so the client can read the 413; then hang up. */
const MAX_DRAIN_BYTES = 4 * 1024 * 1024;

/** A status-carrying error for transport-level refusals (oversized body, no route, wrong method). */
export class HttpError extends TeeError {
  constructor(
    readonly status: number,
    code: TeeErrorCode,
    message: string,
  ) {
    super(code, message, 'BACKEND');
  }
}

const STATUS: Partial<Record<TeeErrorCode, number>> = {
  BAD_PARAMETERS: 400,
  NOT_SUPPORTED: 400,
  SECURITY: 403,
  ACCESS_DENIED: 403,
  ITEM_NOT_FOUND: 404,
  ACCESS_CONFLICT: 409,
  EXPIRED: 410,
  OVERFLOW: 422,
  BUSY: 503,
};

export function statusOf(err: TeeError): number {
  if (err instanceof HttpError) return err.status;
  return STATUS[err.code] ?? 500;
}

/** Read the whole body, refusing more than `maxBytes` with a 413. */
export function readBody(req: IncomingMessage, maxBytes: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const tooLarge = () => new HttpError(413, 'BAD_PARAMETERS', `request body exceeds ${maxBytes} bytes`);
    const declared = Number(req.headers['content-length']);
    let over = Number.isFinite(declared) && declared > maxBytes;
    const chunks: Buffer[] = [];
    let received = 0;
    req.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received > maxBytes) {
        over = true;
        chunks.length = 0;
      }
      if (over) {
        // Drain (discarding) so the client gets its 413; a client that keeps sending is cut off.
        if (received > maxBytes + MAX_DRAIN_BYTES) req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => (over ? reject(tooLarge()) : resolve(new Uint8Array(Buffer.concat(chunks)))));
    req.on('error', () => reject(new HttpError(400, 'BAD_PARAMETERS', 'request body: read failed')));
    // A body cut off (or destroyed by us above) never ends; settle the promise anyway.
    req.on('close', () => (over ? reject(tooLarge()) : reject(new HttpError(400, 'BAD_PARAMETERS', 'request body: incomplete'))));
  });
}

/** Parse a JSON object body; anything else is BAD_PARAMETERS. */
export function parseJsonObject(body: Uint8Array): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(fromUtf8(body));
  } catch {
    throw new TeeError('BAD_PARAMETERS', 'request body: expected JSON', 'BACKEND');
  }
  return aobject(value, 'request body');
}

/** A base64url field of a JSON body, decoded; BAD_PARAMETERS if absent or not base64url. */
export function bytesField(body: Record<string, unknown>, name: string, maxChars = 96 * 1024): Uint8Array {
  const text = astring(body[name], name, { min: 1, max: maxChars });
  try {
    return fromBase64url(text);
  } catch {
    throw new TeeError('BAD_PARAMETERS', `${name}: expected base64url`, 'BACKEND');
  }
}

export function sendJson(res: ServerResponse, status: number, value: unknown, close = false): void {
  if (res.headersSent) return;
  const body = JSON.stringify(value);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    ...(close ? { connection: 'close' } : {}),
  });
  res.end(body);
}

/** Answer with `{ error: { code, message } }`; foreign exceptions become a bare 500. */
export function sendError(res: ServerResponse, err: unknown): void {
  const e = err instanceof TeeError ? err : new TeeError('GENERIC', 'internal error', 'BACKEND');
  const status = statusOf(e);
  sendJson(res, status, { error: { code: e.code, message: status === 500 ? 'internal error' : e.message } }, status === 413);
}

export const b64 = toBase64url;
