/**
 * Talking to the TEE driver directly, as a hostile REE would: well-formed requests through the real
 * writer, hand-built bytes for anything else, and replies read back into plain objects.
 */
import { DRIVER_WIRE_VERSION, encodeTeeRequest, readResponse, type TeeDriver, type TeeRequest } from '../../src/tee/index.js';

export type Reply = { ok: boolean; code?: string; origin?: string; message?: string } & Record<string, unknown>;

/** A reply read for `op` (an error reply reads the same whatever the op). */
export function readReply(bytes: Uint8Array, op = 'closeSession'): Reply {
  return readResponse(bytes, op) as Reply;
}

/** Send a well-formed request and read the reply. */
export async function sendRequest(driver: TeeDriver, request: TeeRequest): Promise<Reply> {
  return readReply(await driver.submit(encodeTeeRequest(request)), request.op);
}

/** Send raw bytes; the reply is read as an error or a bare ok. */
export async function sendBytes(driver: TeeDriver, bytes: Uint8Array, op?: string): Promise<Reply> {
  return readReply(await driver.submit(bytes), op);
}

/**
 * Build request bytes field by field with no checks at all (./driver-wire.ts layout), for requests
 * the real writer refuses to produce: wrong versions, unknown ops and types, lengths that lie.
 */
export class RawRequest {
  private readonly bytes: number[] = [];

  static start(op: number, version = DRIVER_WIRE_VERSION): RawRequest {
    return new RawRequest().u8(version).u8(op);
  }
  u8(v: number): this {
    this.bytes.push(v & 0xff);
    return this;
  }
  u16(v: number): this {
    return this.u8(v >>> 8).u8(v);
  }
  u32(v: number): this {
    return this.u8(v >>> 24).u8(v >>> 16).u8(v >>> 8).u8(v);
  }
  raw(b: Uint8Array | readonly number[]): this {
    for (const x of b) this.bytes.push(x & 0xff);
    return this;
  }
  str8(s: string): this {
    const b = new TextEncoder().encode(s);
    return this.u8(b.length).raw(b);
  }
  str16(s: string): this {
    const b = new TextEncoder().encode(s);
    return this.u16(b.length).raw(b);
  }
  bytes32(b: Uint8Array): this {
    return this.u32(b.length).raw(b);
  }
  done(): Uint8Array {
    return Uint8Array.from(this.bytes);
  }
}

/** Op codes of the layout. */
export const OP = { initializeContext: 1, finalizeContext: 2, openSession: 3, invokeCommand: 4, closeSession: 5 } as const;
