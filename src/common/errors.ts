/**
 * One error type for the whole simulator, with codes modelled on GlobalPlatform's TEE_Result values.
 * Messages name the step that failed and never carry secret material: callers pass only public
 * context (lengths, names, ids), so an error can cross into the REE as it is.
 */
export const TEE_ERROR_CODES = [
  'BAD_PARAMETERS',
  'ACCESS_DENIED',
  'ITEM_NOT_FOUND',
  'SECURITY',
  'CORRUPT_OBJECT',
  'BUSY',
  'OUT_OF_MEMORY',
  'NOT_SUPPORTED',
  'COMMUNICATION',
  'CANCEL',
  'PIN_BLOCKED',
  'BAD_STATE',
  'ACCESS_CONFLICT',
  'OVERFLOW',
  'EXPIRED',
  'GENERIC',
] as const;

export type TeeErrorCode = (typeof TEE_ERROR_CODES)[number];

/** GlobalPlatform TEE_Result numbers, so the Client API can report GP-style codes. */
export const GP_RESULT: Readonly<Record<TeeErrorCode, number>> = {
  GENERIC: 0xffff0000,
  ACCESS_DENIED: 0xffff0001,
  CANCEL: 0xffff0002,
  ACCESS_CONFLICT: 0xffff0003,
  BAD_PARAMETERS: 0xffff0006,
  BAD_STATE: 0xffff0007,
  ITEM_NOT_FOUND: 0xffff0008,
  NOT_SUPPORTED: 0xffff000a,
  OUT_OF_MEMORY: 0xffff000c,
  BUSY: 0xffff000d,
  COMMUNICATION: 0xffff000e,
  SECURITY: 0xffff000f,
  OVERFLOW: 0xffff300f,
  CORRUPT_OBJECT: 0xf0100001,
  // Not GP codes: simulator-specific, in the implementation-defined range.
  PIN_BLOCKED: 0xf0200001,
  EXPIRED: 0xf0200002,
};

/** Where an error came from, as GlobalPlatform's return origin does. */
export const TEE_ORIGINS = ['API', 'COMMS', 'TEE', 'TRUSTED_APP', 'TRUSTED_KEY', 'CHANNEL', 'BACKEND'] as const;
export type TeeOrigin = (typeof TEE_ORIGINS)[number];

export function isTeeOrigin(value: unknown): value is TeeOrigin {
  return typeof value === 'string' && (TEE_ORIGINS as readonly string[]).includes(value);
}

/** Longest message accepted from a peer's wire error; anything longer is cut (a peer controls it). */
const MAX_WIRE_MESSAGE_CHARS = 512;

export class TeeError extends Error {
  readonly code: TeeErrorCode;
  readonly origin: TeeOrigin;

  constructor(code: TeeErrorCode, message: string, origin: TeeOrigin = 'TEE') {
    super(message);
    this.name = 'TeeError';
    this.code = code;
    this.origin = origin;
  }

  get gpResult(): number {
    return GP_RESULT[this.code];
  }

  /** Plain object safe to send across a boundary (no stack: stacks can name internal paths). */
  toWire(): { code: TeeErrorCode; message: string; origin: TeeOrigin } {
    return { code: this.code, message: this.message, origin: this.origin };
  }
}

export function isTeeErrorCode(value: unknown): value is TeeErrorCode {
  return typeof value === 'string' && (TEE_ERROR_CODES as readonly string[]).includes(value);
}

/**
 * Rebuild a TeeError from its wire form; anything malformed becomes a COMMUNICATION error. The origin
 * must be one of TEE_ORIGINS (else the fallback) and the message is capped, since the peer chose both.
 */
export function teeErrorFromWire(value: unknown, fallbackOrigin: TeeOrigin = 'COMMS'): TeeError {
  if (typeof value === 'object' && value !== null) {
    const v = value as Record<string, unknown>;
    if (isTeeErrorCode(v.code) && typeof v.message === 'string') {
      const origin = isTeeOrigin(v.origin) ? v.origin : fallbackOrigin;
      return new TeeError(v.code, v.message.slice(0, MAX_WIRE_MESSAGE_CHARS), origin);
    }
  }
  return new TeeError('COMMUNICATION', 'malformed error from peer', fallbackOrigin);
}

/**
 * Turn anything thrown into a TeeError without leaking its text: only TeeErrors keep their message,
 * because a foreign exception (a library's RangeError, say) may quote the bytes it choked on.
 */
export function toTeeError(err: unknown, code: TeeErrorCode = 'GENERIC', origin: TeeOrigin = 'TEE'): TeeError {
  if (err instanceof TeeError) return err;
  return new TeeError(code, 'internal error', origin);
}
