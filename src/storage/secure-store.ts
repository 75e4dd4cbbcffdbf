/**
 * The public face of the secure storage engine: input checks, one operation queue per store, and
 * namespaces (one per TA UUID, or per owner inside the trusted key) with independent keys.
 *
 * Guarantees (see ./engine.ts for how): every object is confidential and authenticated under its
 * namespace's key, bound to its namespace, id and version; the LevelDB directory holds ciphertext
 * and keyed hashes only (no data, ids or namespace names); open rejects a tampered store
 * (CORRUPT_OBJECT) and a rolled-back one (SECURITY); each change is atomic and is rollback-protected
 * once its call resolves; one namespace cannot read, list or detect another's objects by id.
 * Operations on one store run one at a time, in call order; puts queued back to back are written as
 * one group (./queue.ts), each still resolving only once it is written and rollback-protected.
 *
 * Not guaranteed: hiding object sizes, how many objects a namespace holds, or when they change;
 * availability (the REE may delete everything, which open then reports); surviving a power cut
 * unless `sync` is set.
 */
import { isAbsolute, relative, resolve } from 'node:path';
import { abool, abytes, aobject, astring } from '../common/checks.js';
import { TeeError } from '../common/errors.js';
import type { CryptoProvider } from '../crypto/provider.js';
import { StorageEngine, type AtomicWrite, type NamespaceContext } from './engine.js';
import { ROOT_KEY_BYTES } from './keys.js';
import { checkNamespaceName, checkObjectData, checkObjectId, MAX_OBJECT_ID_CHARS } from './limits.js';
import { OperationQueue } from './queue.js';
import { encodePlaintext } from './record.js';

export interface SecureStoreOptions {
  /** LevelDB directory on the REE's disk (ciphertext only). */
  location: string;
  /** TEE-private rollback anchor store (simulates RPMB); a separate directory. */
  counterLocation: string;
  /** 32-byte hardware-unique key (HUK) of the owner (TEE or trusted key). */
  rootKey: Uint8Array;
  provider: CryptoProvider;
  /** fsync every write (default false: survives a process kill, not a power cut). */
  sync?: boolean;
}

export interface StorageNamespace {
  readonly name: string;
  /** Create or replace; with `exclusive`, ACCESS_CONFLICT if the object exists. */
  put(id: string, data: Uint8Array, options?: { exclusive?: boolean }): Promise<void>;
  /**
   * Several puts and deletes as one change: after a crash, all of them are stored or none. It
   * succeeds or fails as a whole: an exclusive put whose id exists (ACCESS_CONFLICT) or a delete
   * whose id is absent (ITEM_NOT_FOUND), judged in order, fails it and nothing is written. A later
   * operation on an id replaces an earlier one. At most MAX_ATOMIC_WRITES operations and
   * MAX_ATOMIC_BYTES bytes of data.
   */
  commit(ops: readonly AtomicOp[]): Promise<void>;
  /** ITEM_NOT_FOUND if absent; CORRUPT_OBJECT / SECURITY if tampered with. */
  get(id: string): Promise<Uint8Array>;
  has(id: string): Promise<boolean>;
  /** ITEM_NOT_FOUND if absent. */
  delete(id: string): Promise<void>;
  /** Atomic; ITEM_NOT_FOUND if `from` is absent, ACCESS_CONFLICT if `to` exists. */
  rename(from: string, to: string): Promise<void>;
  /** Sorted ids (UTF-16 code unit order) starting with `prefix`. */
  list(prefix?: string): Promise<string[]>;
  /** Atomic read-modify-write; `fn` gets undefined if the object is absent; returns what was stored.
   *  If `fn` throws, its error propagates and nothing is written. */
  update(id: string, fn: (old: Uint8Array | undefined) => Uint8Array): Promise<Uint8Array>;
}

/** One operation of `commit`: a put (optionally exclusive) or a delete. */
export type AtomicOp = { id: string; data: Uint8Array; exclusive?: boolean } | { id: string; delete: true };

/** Bounds on one commit: one LevelDB batch, as a group commit is bounded (./queue.ts). */
export const MAX_ATOMIC_WRITES = 256;
export const MAX_ATOMIC_BYTES = 4 * 1024 * 1024;

function checkOptions(value: unknown): Required<SecureStoreOptions> {
  const o = aobject(value, 'storage options');
  const location = astring(o.location, 'storage location', { min: 1 });
  const counterLocation = astring(o.counterLocation, 'counter location', { min: 1 });
  const rootKey = abytes(o.rootKey, 'root key', ROOT_KEY_BYTES);
  const provider = aobject(o.provider, 'crypto provider') as unknown as CryptoProvider;
  if (typeof provider.aeadSeal !== 'function' || typeof provider.hmacSha256 !== 'function') {
    throw new TeeError('BAD_PARAMETERS', 'crypto provider: expected a CryptoProvider', 'API');
  }
  const sync = o.sync === undefined ? false : abool(o.sync, 'sync');
  // The anchor must stay out of the REE-visible directory, and the two must not overlap.
  const a = resolve(location);
  const b = resolve(counterLocation);
  const inside = (outer: string, inner: string) => {
    const r = relative(outer, inner);
    return r === '' || (!r.startsWith('..') && !isAbsolute(r));
  };
  if (inside(a, b) || inside(b, a)) {
    throw new TeeError('BAD_PARAMETERS', 'counter location: expected a directory separate from the storage location', 'API');
  }
  return { location, counterLocation, rootKey, provider, sync };
}

export class SecureStore {
  private readonly queue: OperationQueue;
  private readonly handles = new Map<string, StorageNamespace>();
  private closing: Promise<void> | undefined;

  private constructor(private readonly engine: StorageEngine) {
    this.queue = new OperationQueue(engine);
  }

  /** Open (or create) a store, verifying integrity and freshness: SECURITY on rollback, CORRUPT_OBJECT on tamper. */
  static async open(options: SecureStoreOptions): Promise<SecureStore> {
    return new SecureStore(await StorageEngine.open(checkOptions(options)));
  }

  /** The namespace `name` (1..128 characters), with keys derived from the root key and its name. */
  namespace(name: string): StorageNamespace {
    const checked = checkNamespaceName(name);
    if (this.closing) throw new TeeError('BAD_STATE', 'store is closed');
    let handle = this.handles.get(checked);
    if (!handle) {
      handle = new NamespaceHandle(this.engine.namespace(checked), this.queue, this.engine);
      this.handles.set(checked, handle);
    }
    return handle;
  }

  /** Waits for queued operations, then closes the database and zeroes the keys. */
  close(): Promise<void> {
    this.closing ??= this.queue.run(() => this.engine.close());
    return this.closing;
  }
}

class NamespaceHandle implements StorageNamespace {
  readonly name: string;

  constructor(
    private readonly ns: NamespaceContext,
    private readonly queue: OperationQueue,
    private readonly engine: StorageEngine,
  ) {
    this.name = ns.name;
  }

  put(id: string, data: Uint8Array, options?: { exclusive?: boolean }): Promise<void> {
    return this.call(() => {
      checkObjectId(id);
      checkObjectData(data);
      const exclusive = options === undefined ? false : abool(aobject(options, 'put options').exclusive ?? false, 'exclusive');
      // Snapshot the data now: the caller may reuse its buffer while the write waits its turn.
      return this.queue.put({ ns: this.ns, id, plaintext: encodePlaintext(id, data), exclusive });
    });
  }

  commit(ops: readonly AtomicOp[]): Promise<void> {
    return this.call(() => {
      if (!Array.isArray(ops) || ops.length === 0 || ops.length > MAX_ATOMIC_WRITES) {
        throw new TeeError('BAD_PARAMETERS', `commit: expected 1..${MAX_ATOMIC_WRITES} operations`, 'API');
      }
      let bytes = 0;
      const checked = ops.map((value): { id: string; data?: Uint8Array; exclusive?: boolean } => {
        const op = aobject(value, 'commit operation');
        const id = checkObjectId(op.id);
        if (op.delete !== undefined) {
          if (op.delete !== true || op.data !== undefined) throw new TeeError('BAD_PARAMETERS', 'commit operation: a delete has delete: true and no data', 'API');
          return { id };
        }
        const data = checkObjectData(op.data);
        bytes += data.length;
        return { id, data, exclusive: op.exclusive === undefined ? false : abool(op.exclusive, 'exclusive') };
      });
      if (bytes > MAX_ATOMIC_BYTES) throw new TeeError('BAD_PARAMETERS', `commit: more than ${MAX_ATOMIC_BYTES} bytes`, 'API');
      // Snapshot the data now, as put does; every operation was checked first, so a bad one writes nothing.
      const writes: AtomicWrite[] = checked.map((op) => (op.data ? { ns: this.ns, id: op.id, plaintext: encodePlaintext(op.id, op.data), exclusive: op.exclusive === true } : { ns: this.ns, id: op.id }));
      return this.queue.run(async () => {
        try {
          await this.engine.writeAtomic(writes);
        } finally {
          for (const w of writes) w.plaintext?.fill(0);
        }
      });
    });
  }

  get(id: string): Promise<Uint8Array> {
    return this.call(() => {
      checkObjectId(id);
      return this.queue.run(() => this.engine.read(this.ns, id));
    });
  }

  has(id: string): Promise<boolean> {
    return this.call(() => {
      checkObjectId(id);
      return this.queue.run(async () => this.engine.has(this.ns, id));
    });
  }

  delete(id: string): Promise<void> {
    return this.call(() => {
      checkObjectId(id);
      return this.queue.run(() => this.engine.remove(this.ns, id));
    });
  }

  rename(from: string, to: string): Promise<void> {
    return this.call(() => {
      checkObjectId(from, 'rename source id');
      checkObjectId(to, 'rename target id');
      return this.queue.run(() => this.engine.rename(this.ns, from, to));
    });
  }

  list(prefix = ''): Promise<string[]> {
    return this.call(() => {
      astring(prefix, 'list prefix', { max: MAX_OBJECT_ID_CHARS });
      return this.queue.run(() => this.engine.list(this.ns, prefix));
    });
  }

  update(id: string, fn: (old: Uint8Array | undefined) => Uint8Array): Promise<Uint8Array> {
    return this.call(() => {
      checkObjectId(id);
      if (typeof fn !== 'function') throw new TeeError('BAD_PARAMETERS', 'update function: expected a function', 'API');
      return this.queue.run(async () => {
        const old = this.engine.has(this.ns, id) ? await this.engine.read(this.ns, id) : undefined;
        const next = checkObjectData(fn(old), 'update result');
        const plaintext = encodePlaintext(id, next);
        try {
          await this.engine.write(this.ns, id, plaintext, false);
        } finally {
          plaintext.fill(0);
          old?.fill(0);
        }
        return next;
      });
    });
  }

  /** Turn synchronous input-check throws into rejections, so every method fails the same way. */
  private call<T>(body: () => Promise<T>): Promise<T> {
    try {
      return body();
    } catch (err) {
      return Promise.reject(err);
    }
  }
}
