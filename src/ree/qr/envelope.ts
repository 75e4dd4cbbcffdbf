/**
 * The QR envelope: a small, payload-agnostic wrapper that carries already-encoded payment bytes
 * between two phones as the text of a QR code.
 *
 * Text form: `TS<version>:` followed by base45 (RFC 9285) of the msgpack array
 * `[typeCode, issuedAt, expiresAt, body]`. The scheme tag is QR-alphanumeric like base45 itself, so
 * the whole code stays in alphanumeric mode; it names the version so a scanner can refuse a newer
 * format before decoding anything.
 *
 * Design note: the envelope has no CRC, MAC or signature. The QR symbol's own Reed-Solomon code
 * catches scanning errors, and integrity and authenticity come from the signatures inside the body,
 * which the payment layer verifies. Everything here is untrusted input to be checked, not trusted.
 * The times only let a wallet drop a stale code early; they are not a security boundary.
 */
import { TeeError, type TeeErrorCode } from '../../common/errors.js';
import { encode, decode } from '../../common/codec.js';
import { aarray, abigint, abytes, aint, aobject, aoneOf } from '../../common/checks.js';
import { base45Length, decodeBase45, encodeBase45 } from './base45.js';

export const QR_ENVELOPE_VERSION = 1;
export const QR_PAYLOAD_TYPES = ['online-request', 'offline-offer', 'offline-payment', 'receipt'] as const;
export type QrPayloadType = (typeof QR_PAYLOAD_TYPES)[number];

export interface QrEnvelope {
  version: 1;
  type: QrPayloadType;
  /** ms since the Unix epoch */
  issuedAt: number;
  /** ms since the Unix epoch; the code is refused once `now > expiresAt` */
  expiresAt: number;
  body: Uint8Array;
}

export interface DecodeQrOptions {
  /** Clock for the expiry check, ms since the epoch (default `Date.now()`). */
  now?: number;
  /** Largest decoded envelope accepted, in bytes (default and upper bound `QR_MAX_ENVELOPE_BYTES`). */
  maxBytes?: number;
}

const SCHEME = 'TS';
const HEADER = `${SCHEME}${QR_ENVELOPE_VERSION}:`;
const HEADER_PATTERN = /^TS([0-9]{1,6}):/;

/** Alphanumeric capacity of the largest QR code (version 40) at error correction level M, which the renderer uses. */
export const QR_MAX_TEXT_CHARS = 3391;
/** Largest msgpack envelope whose text still fits in `QR_MAX_TEXT_CHARS`. */
export const QR_MAX_ENVELOPE_BYTES = Math.floor((QR_MAX_TEXT_CHARS - HEADER.length) / 3) * 2;
/** Clock skew tolerated between the two phones before `issuedAt` counts as in the future. */
export const QR_MAX_CLOCK_SKEW_MS = 5 * 60_000;

/** Compact wire codes for the payload types; the index in this list is never reused. */
const TYPE_CODES: Readonly<Record<QrPayloadType, number>> = {
  'online-request': 1,
  'offline-offer': 2,
  'offline-payment': 3,
  receipt: 4,
};
const TYPE_BY_CODE: ReadonlyMap<number, QrPayloadType> = new Map(
  QR_PAYLOAD_TYPES.map((t) => [TYPE_CODES[t], t] as [number, QrPayloadType]),
);

function qrError(code: TeeErrorCode, message: string): TeeError {
  return new TeeError(code, `qr: ${message}`, 'API');
}

/** ms epoch timestamp as a safe integer; msgpack may deliver a 64-bit integer as bigint. */
function timestamp(value: unknown, title: string): number {
  return Number(abigint(value, `qr: ${title}`, 0n, BigInt(Number.MAX_SAFE_INTEGER)));
}

export function encodeQrText(envelope: QrEnvelope): string {
  aobject(envelope, 'qr: envelope');
  if (envelope.version !== QR_ENVELOPE_VERSION) throw qrError('NOT_SUPPORTED', `unsupported version ${String(envelope.version)}`);
  const type = aoneOf(envelope.type, 'qr: type', QR_PAYLOAD_TYPES);
  const issuedAt = aint(envelope.issuedAt, 'qr: issuedAt');
  const expiresAt = aint(envelope.expiresAt, 'qr: expiresAt');
  const body = abytes(envelope.body, 'qr: body');
  if (expiresAt < issuedAt) throw qrError('BAD_PARAMETERS', 'expiresAt is before issuedAt');
  const bytes = encode([TYPE_CODES[type], issuedAt, expiresAt, body]);
  if (bytes.length > QR_MAX_ENVELOPE_BYTES) {
    throw qrError('BAD_PARAMETERS', `envelope of ${bytes.length} bytes exceeds QR capacity of ${QR_MAX_ENVELOPE_BYTES} bytes`);
  }
  return HEADER + encodeBase45(bytes);
}

export function decodeQrText(text: string, options: DecodeQrOptions = {}): QrEnvelope {
  const now = options.now === undefined ? Date.now() : aint(options.now, 'qr: now');
  const maxBytes = options.maxBytes === undefined ? QR_MAX_ENVELOPE_BYTES : aint(options.maxBytes, 'qr: maxBytes', 1, QR_MAX_ENVELOPE_BYTES);
  if (typeof text !== 'string') throw qrError('BAD_PARAMETERS', 'expected text');

  // 1. Scheme and version, before touching the payload.
  const header = HEADER_PATTERN.exec(text);
  if (!header) throw qrError('NOT_SUPPORTED', `not a ${SCHEME} payment code`);
  const version = Number(header[1]);
  if (version !== QR_ENVELOPE_VERSION) throw qrError('NOT_SUPPORTED', `unsupported version ${version}`);
  const payload = text.slice(header[0].length);

  // 2. Size cap on the text, so an oversized input is refused before any decoding work.
  if (payload.length > base45Length(maxBytes)) {
    throw qrError('BAD_PARAMETERS', `payload of ${payload.length} characters exceeds limit of ${base45Length(maxBytes)}`);
  }

  // 3. base45 -> bytes -> msgpack value.
  let bytes: Uint8Array;
  let value: unknown;
  try {
    bytes = decodeBase45(payload);
  } catch (err) {
    throw qrError('BAD_PARAMETERS', `malformed payload (${err instanceof TeeError ? err.message : 'base45'})`);
  }
  try {
    value = decode(bytes, maxBytes, 'API');
  } catch (err) {
    throw qrError('BAD_PARAMETERS', `malformed envelope (${err instanceof TeeError ? err.message : 'msgpack'})`);
  }

  // 4. Shape: exactly [typeCode, issuedAt, expiresAt, body].
  const fields = aarray(value, 'qr: envelope', 4);
  if (fields.length !== 4) throw qrError('BAD_PARAMETERS', `envelope: expected 4 fields, got ${fields.length}`);
  const typeCode = aint(fields[0], 'qr: type code', 0, 255);
  const type = TYPE_BY_CODE.get(typeCode);
  if (type === undefined) throw qrError('NOT_SUPPORTED', `unsupported payload type ${typeCode}`);
  const issuedAt = timestamp(fields[1], 'issuedAt');
  const expiresAt = timestamp(fields[2], 'expiresAt');
  const body = abytes(fields[3], 'qr: body');

  // 5. Times: consistent first, then fresh.
  if (expiresAt < issuedAt) throw qrError('BAD_PARAMETERS', 'expiresAt is before issuedAt');
  if (issuedAt > now + QR_MAX_CLOCK_SKEW_MS) throw qrError('BAD_PARAMETERS', 'issuedAt is in the future');
  if (now > expiresAt) throw qrError('EXPIRED', `code expired ${now - expiresAt} ms ago`);

  return { version: QR_ENVELOPE_VERSION, type, issuedAt, expiresAt, body };
}
