/**
 * Everything that crosses the REE/TEE boundary, as the REE sees it. The leak tests feed this every
 * byte of a run and then ask whether a secret (a key, a PIN) ever appeared, raw or in a text encoding.
 */
import { containsBytes, utf8 } from '../../common/bytes.js';

export type CaptureDirection = 'ree->tee' | 'tee->ree';
export type CaptureHook = (direction: CaptureDirection, bytes: Uint8Array) => void;

export interface CapturedBuffer {
  direction: CaptureDirection;
  bytes: Uint8Array;
}

/** Shortest secret also searched for in hex and base64: shorter needles match by chance. */
const MIN_ENCODED_NEEDLE = 8;

export class ReeCapture {
  readonly #records: CapturedBuffer[] = [];
  #total = 0;

  /** Pass this as `capture` to `initializeContext` (or call it from any other boundary). */
  readonly hook: CaptureHook = (direction, bytes) => {
    this.#records.push({ direction, bytes: new Uint8Array(bytes) });
    this.#total += bytes.length;
  };

  get records(): readonly CapturedBuffer[] {
    return this.#records;
  }

  get totalBytes(): number {
    return this.#total;
  }

  count(direction?: CaptureDirection): number {
    return direction ? this.#records.filter((r) => r.direction === direction).length : this.#records.length;
  }

  /**
   * True if `secret` occurs in any captured buffer: as raw bytes, or (for secrets of 8 bytes or more)
   * as lower- or upper-case hex, base64 or base64url text.
   */
  contains(secret: Uint8Array): boolean {
    const needles = [secret];
    if (secret.length >= MIN_ENCODED_NEEDLE) {
      const buf = Buffer.from(secret.buffer, secret.byteOffset, secret.byteLength);
      const hex = buf.toString('hex');
      // Drop base64 padding and the last character, which depends on bits outside the secret's alignment.
      const b64 = buf.toString('base64').replace(/=+$/, '').slice(0, -1);
      const b64url = buf.toString('base64url').slice(0, -1);
      needles.push(utf8(hex), utf8(hex.toUpperCase()), utf8(b64), utf8(b64url));
    }
    return this.#records.some((r) => needles.some((n) => containsBytes(r.bytes, n)));
  }

  clear(): void {
    this.#records.length = 0;
    this.#total = 0;
  }
}
