/**
 * Opaque handles: what the REE holds instead of a key or an object. Each table belongs to one session
 * of one TA, so a handle means nothing anywhere else. A handle is 16 random bytes; lookups go by the
 * hex of all 16 bytes in a table private to the session, so a guessed, forged, stale or foreign
 * handle finds nothing and gets the very same error as any other miss: the answer reveals nothing
 * about handles that exist in other sessions.
 */
import { TeeError } from '../common/errors.js';
import { toHex } from '../common/bytes.js';
import type { CryptoProvider } from '../crypto/provider.js';
import { HANDLE_BYTES } from './params.js';

/** Default cap on live handles per session, so one client cannot exhaust TEE memory. */
export const MAX_HANDLES_PER_SESSION = 1024;

const NOT_FOUND = 'handle: not found';

export class HandleTable<T> {
  readonly #entries = new Map<string, T>();
  readonly #provider: CryptoProvider;
  readonly #limit: number;
  #closed = false;

  constructor(provider: CryptoProvider, limit = MAX_HANDLES_PER_SESSION) {
    this.#provider = provider;
    this.#limit = limit;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Store a value and return a fresh handle for it (a copy: the caller may hand it to the REE). */
  add(value: T): Uint8Array {
    if (this.#closed) throw new TeeError('BAD_STATE', 'handle table: session is closed');
    if (this.#entries.size >= this.#limit) {
      throw new TeeError('OUT_OF_MEMORY', `handle table: limit of ${this.#limit} handles reached`);
    }
    for (;;) {
      const handle = this.#provider.randomBytes(HANDLE_BYTES);
      const key = toHex(handle);
      // A collision of 128 random bits will not happen, but never overwrite a live entry if it does.
      if (this.#entries.has(key)) continue;
      this.#entries.set(key, value);
      return handle;
    }
  }

  get(handle: Uint8Array): T {
    const key = this.#key(handle);
    const value = key === undefined ? undefined : this.#entries.get(key);
    if (value === undefined) throw new TeeError('ITEM_NOT_FOUND', NOT_FOUND);
    return value;
  }

  has(handle: Uint8Array): boolean {
    const key = this.#key(handle);
    return key !== undefined && this.#entries.has(key);
  }

  /** Remove and return the value; a miss is the same ITEM_NOT_FOUND as `get`. */
  remove(handle: Uint8Array): T {
    const key = this.#key(handle);
    const value = key === undefined ? undefined : this.#entries.get(key);
    if (key === undefined || value === undefined) throw new TeeError('ITEM_NOT_FOUND', NOT_FOUND);
    this.#entries.delete(key);
    return value;
  }

  /** Drop every entry; `onRemove` lets the owner zeroize secrets the values hold. */
  clear(onRemove?: (value: T) => void): void {
    const values = [...this.#entries.values()];
    this.#entries.clear();
    if (onRemove) for (const v of values) onRemove(v);
  }

  /** Clear and refuse further adds: called when the owning session closes. */
  close(onRemove?: (value: T) => void): void {
    this.#closed = true;
    this.clear(onRemove);
  }

  #key(handle: unknown): string | undefined {
    // Wrong shape gets the same answer as an unknown handle: the caller learns nothing either way.
    if (!(handle instanceof Uint8Array) || handle.length !== HANDLE_BYTES) return undefined;
    return toHex(handle);
  }
}
