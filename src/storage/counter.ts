/**
 * The rollback anchor: a monotonic generation counter in TEE-private storage (it simulates RPMB).
 *
 * One small file, `<counterLocation>/rollback-counter.bin`, holding one MACed record:
 *
 *   'TSRC' || format (1) || store id (32) || generation (u64 BE) || tag (32)
 *   tag = v2: PRF(counterKey, salt = store id, generation), 64 generations per call (./prf.ts)
 *         v1 (read only): HMAC(counterKey, all before)
 *
 * Both are MACs of the whole record: magic and format are fixed by the format, the store id salts
 * the PRF and the generation is its input. v2 exists because one HMAC per write was a measurable
 * part of a small put; a v1 record still opens and the next write replaces it.
 *
 * It is rewritten in place with a single 77-byte pwrite at offset 0: one syscall, so a killed
 * process leaves the old or the new record, and small enough to sit in one disk sector, which real
 * disks write atomically on power loss. A synchronous write on the event loop costs a few
 * microseconds, far less than a round trip through a database; with `sync` the fdatasync runs off
 * the event loop. The store id is created at random with the anchor and salts every store key.
 *
 * Guarantees: a record that verifies was written by the holder of the root key, and the value only
 * grows. Does not guard against the TEE-private directory itself being restored (a real RPMB
 * cannot be), and assumes one store per counter location (the database lock covers one location).
 */
import { closeSync, fdatasync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { constantTimeEqual, utf8, writeU64be } from '../common/bytes.js';
import { TeeError } from '../common/errors.js';
import type { CryptoProvider } from '../crypto/provider.js';
import { STORE_ID_BYTES } from './keys.js';
import { GenerationPrf } from './prf.js';

export const COUNTER_FILE = 'rollback-counter.bin';
const MAGIC = utf8('TSRC');
const FORMAT_V1 = 0x01;
const FORMAT_V2 = 0x02;
const TAG_DOMAIN_V2 = utf8('tee-sim/storage-internal/v2/anchor-tag');
const BODY_BYTES = MAGIC.length + 1 + STORE_ID_BYTES + 8;
const RECORD_BYTES = BODY_BYTES + 32;

/** A counter value, checked and with its MAC ready, not yet written. */
export interface PreparedAdvance {
  readonly to: number;
}

/** The interface the store needs from any monotonic counter. */
export interface RollbackCounter {
  readonly storeId: Uint8Array;
  readonly value: number;
  /** Check a larger value and compute its MAC without writing it, so this can overlap other I/O. */
  prepare(to: number): PreparedAdvance;
  /** Optional: precompute what prepare(to) will need, while other I/O is in flight. */
  warm?(to: number): void;
  /**
   * Persist a prepared value. Returns once it is written, or a promise that resolves once it is
   * (and synced, if the store syncs): no promise when there is nothing to wait for.
   */
  advance(prepared: PreparedAdvance): void | Promise<void>;
  close(): void;
}

function body(format: number, storeId: Uint8Array, value: number): Uint8Array {
  const record = new Uint8Array(RECORD_BYTES);
  record.set(MAGIC, 0);
  record[MAGIC.length] = format;
  record.set(storeId, MAGIC.length + 1);
  writeU64be(record, MAGIC.length + 1 + STORE_ID_BYTES, value);
  return record;
}

function tagsFor(provider: CryptoProvider, key: Uint8Array, storeId: Uint8Array): GenerationPrf {
  return new GenerationPrf(provider, key, storeId, TAG_DOMAIN_V2);
}

function encode(tags: GenerationPrf, storeId: Uint8Array, value: number): Uint8Array {
  const record = body(FORMAT_V2, storeId, value);
  tags.copyInto(value, record, BODY_BYTES);
  return record;
}

function isMissing(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 'ENOENT';
}

function ioError(step: string): TeeError {
  return new TeeError('GENERIC', `rollback counter: ${step} failed`);
}

/** The counter file of one store, kept open for cheap in-place updates. */
export class FileRollbackCounter implements RollbackCounter {
  private fd: number | undefined;
  private current: number;
  /** The record as last written, rewritten in place by each advance: only value and tag change. */
  private readonly record: Uint8Array;

  private constructor(
    private readonly tags: GenerationPrf,
    private readonly key: Uint8Array,
    readonly storeId: Uint8Array,
    value: number,
    fd: number,
    private readonly sync: boolean,
  ) {
    this.current = value;
    this.fd = fd;
    this.record = body(FORMAT_V2, storeId, value);
  }

  get value(): number {
    return this.current;
  }

  /**
   * Read and verify the anchor in `directory`. Returns undefined if there is none yet; throws
   * SECURITY if it exists but does not verify.
   */
  static open(directory: string, provider: CryptoProvider, key: Uint8Array, sync: boolean): FileRollbackCounter | undefined {
    const path = join(directory, COUNTER_FILE);
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(readFileSync(path));
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw ioError('read');
    }
    if (bytes.length !== RECORD_BYTES) throw new TeeError('SECURITY', 'rollback counter: record is malformed');
    const head = bytes.subarray(0, BODY_BYTES);
    const format = head[4];
    if (!constantTimeEqual(head.subarray(0, 4), MAGIC) || (format !== FORMAT_V1 && format !== FORMAT_V2)) {
      throw new TeeError('SECURITY', 'rollback counter: record does not verify');
    }
    const storeId = head.slice(5, 5 + STORE_ID_BYTES);
    const value = new DataView(head.buffer, head.byteOffset + 5 + STORE_ID_BYTES, 8).getBigUint64(0);
    // Range first: the v2 tag is computed from the value as a number.
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new TeeError('SECURITY', 'rollback counter: value out of range');
    const tags = tagsFor(provider, key, storeId);
    const expected = format === FORMAT_V1 ? provider.hmacSha256(key, head) : tags.value(Number(value));
    const verified = constantTimeEqual(expected, bytes.subarray(BODY_BYTES));
    expected.fill(0);
    if (!verified) {
      tags.clear();
      throw new TeeError('SECURITY', 'rollback counter: record does not verify');
    }
    let fd: number;
    try {
      fd = openSync(path, 'r+');
    } catch {
      tags.clear();
      throw ioError('open');
    }
    return new FileRollbackCounter(tags, key, storeId, Number(value), fd, sync);
  }

  /** Create a fresh anchor (value 0, new random store id); written to a temporary file, then renamed. */
  static create(directory: string, provider: CryptoProvider, key: Uint8Array, sync: boolean): FileRollbackCounter {
    const storeId = provider.randomBytes(STORE_ID_BYTES);
    const path = join(directory, COUNTER_FILE);
    const temporary = `${path}.tmp`;
    try {
      mkdirSync(directory, { recursive: true });
      const fd = openSync(temporary, 'w');
      try {
        const tags = tagsFor(provider, key, storeId);
        writeSync(fd, encode(tags, storeId, 0));
        tags.clear();
        if (sync) fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(temporary, path);
      if (sync) {
        const dirFd = openSync(directory, 'r');
        try {
          fsyncSync(dirFd);
        } finally {
          closeSync(dirFd);
        }
      }
    } catch {
      throw ioError('create');
    }
    const counter = FileRollbackCounter.open(directory, provider, key, sync);
    if (!counter) throw ioError('create');
    return counter;
  }

  prepare(to: number): PreparedAdvance {
    if (!Number.isSafeInteger(to) || to <= this.current) throw new TeeError('BAD_STATE', 'rollback counter: must only grow');
    this.tags.warm(to);
    return { to };
  }

  /** Compute the tags of `to` ahead of need (cheap unless it starts a new block of 64). */
  warm(to: number): void {
    if (Number.isSafeInteger(to) && to > this.current) this.tags.warm(to);
  }

  advance(prepared: PreparedAdvance): void | Promise<void> {
    if (this.fd === undefined) throw new TeeError('BAD_STATE', 'rollback counter: closed');
    const { to } = prepared;
    if (!Number.isSafeInteger(to) || to <= this.current) throw new TeeError('BAD_STATE', 'rollback counter: must only grow');
    const fd = this.fd;
    // The same bytes encode() would give, written over the previous value and tag.
    const record = this.record;
    writeU64be(record, BODY_BYTES - 8, to);
    this.tags.copyInto(to, record, BODY_BYTES);
    try {
      if (writeSync(fd, record, 0, record.length, 0) !== record.length) throw new Error('short write');
    } catch {
      throw ioError('write');
    }
    if (!this.sync) {
      this.current = to;
      return;
    }
    return new Promise<void>((resolve, reject) =>
      fdatasync(fd, (err) => {
        if (err) reject(ioError('sync'));
        else {
          this.current = to;
          resolve();
        }
      }),
    );
  }

  close(): void {
    if (this.fd === undefined) return;
    try {
      closeSync(this.fd);
    } finally {
      this.fd = undefined;
      this.tags.clear();
      this.key.fill(0);
      this.record.fill(0);
    }
  }
}
