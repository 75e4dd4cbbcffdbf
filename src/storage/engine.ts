/**
 * The storage engine: object records (./record.ts) + a state record over their set
 * (./state.ts, ./commitment.ts) + a rollback anchor (./counter.ts), over one LevelDB directory that
 * the REE can read, copy, edit and restore.
 *
 * Open scans every record once: it recomputes the set commitment, checks the state MAC (any changed,
 * moved, added, removed or restored record -> CORRUPT_OBJECT), then compares the state generation
 * with the anchor (older -> SECURITY; one newer is the crash window between the batch and the
 * counter write, so the anchor catches up; further ahead -> SECURITY). It then keeps the index
 * (LevelDB key -> version, element) in memory, so writes never re-read state.
 *
 * Each change (or group of puts, see writeMany) is one atomic LevelDB batch (object records + new
 * state), then the anchor advances, and only then does the call resolve: a caller that has seen a
 * write succeed (a PIN retry counter going down) can never have it rolled back, even if the process
 * is killed right after. Work that does not depend on the batch (the anchor record, the next masks)
 * runs while LevelDB writes it. Reads are synchronous LevelDB reads (see readSlot), check the
 * record's version against the in-memory index and open it with the AEAD, so a record swapped on
 * disk while the store is open is caught too.
 *
 * Not guaranteed: hiding sizes, counts per namespace or access patterns from the REE; survival of a
 * power cut without `sync`; availability (the REE can always delete the files). Not thread-safe on
 * its own: the caller (./secure-store.ts) serialises every call.
 */
import { Level } from 'level';
import { TeeError } from '../common/errors.js';
import type { CryptoProvider } from '../crypto/provider.js';
import { addElement, addInto, emptyCommitment, keyedRecordElement, recordElement, subtractInto } from './commitment.js';
import { FileRollbackCounter, type PreparedAdvance, type RollbackCounter } from './counter.js';
import { deriveCounterKey, deriveNamespaceKeys, deriveStoreKeys, zeroizeKeys, type NamespaceKeys, type StoreKeys } from './keys.js';
import { isObjectKey, isStateKey, keyString, namespaceRange, STATE_KEY } from './layout.js';
import type { GenerationPrf } from './prf.js';
import { encodePlaintext, objectKey, openRecord, recordVersion, sealRecord, type SealedRecord } from './record.js';
import { encodeState, stateMasks, verifyState } from './state.js';

type Db = Level<Uint8Array, Uint8Array>;
type BatchOp = { type: 'put'; key: Uint8Array; value: Uint8Array } | { type: 'del'; key: Uint8Array };

/**
 * Write `ops` as one atomic LevelDB batch. A chained batch, not `db.batch(ops)`: classic-level reads
 * an array's operations property by property, and once the thread is being stopped
 * (Worker.terminate, the simulator's power cut) those reads fail silently, so part of a batch is
 * written (ops left out, empty values). A chained batch passes each key and value as an argument,
 * and nothing is written unless write() is reached. No slower, within the noise (measured).
 */
async function writeBatch(db: Db, ops: readonly BatchOp[], sync: boolean): Promise<void> {
  const batch = db.batch();
  try {
    for (const op of ops) {
      if (op.type === 'put') batch.put(op.key, op.value);
      else batch.del(op.key);
    }
  } catch (err) {
    await batch.close();
    throw err;
  }
  return batch.write({ sync });
}

interface IndexEntry {
  /** Generation at which the record was written; bound into its AAD. */
  version: number;
  /** Its multiset-hash element, kept so a replace or delete needs no re-read. */
  element: Uint8Array;
}

/** An object's LevelDB key and its string form (the index key), computed once per id. */
export interface Slot {
  readonly key: Uint8Array;
  readonly ks: string;
}

/** Per-namespace keys and an id -> slot cache (complete once `listed`). */
export interface NamespaceContext {
  readonly name: string;
  readonly keys: NamespaceKeys;
  readonly known: Map<string, Slot>;
  listed: boolean;
}

export interface EngineOptions {
  location: string;
  counterLocation: string;
  rootKey: Uint8Array;
  provider: CryptoProvider;
  sync: boolean;
}

/** One put of a group (see writeMany); `plaintext` comes from encodePlaintext(id, data). */
export interface WriteRequest {
  readonly ns: NamespaceContext;
  readonly id: string;
  readonly plaintext: Uint8Array;
  readonly exclusive: boolean;
}

/** One operation of writeAtomic: a put (`plaintext` from encodePlaintext) or, without it, a delete. */
export interface AtomicWrite {
  readonly ns: NamespaceContext;
  readonly id: string;
  readonly plaintext?: Uint8Array;
  readonly exclusive?: boolean;
}

interface Change {
  slot: Slot;
  /** New record; undefined deletes the record. */
  sealed?: SealedRecord;
  /** The new record's element, set by commit. */
  element?: Uint8Array;
}

const NONCE_BYTES = 12;
const NONCE_POOL = 256;

function errorCode(err: unknown): unknown {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as { code?: unknown; cause?: { code?: unknown } };
  return e.cause?.code ?? e.code;
}

/** Map a level failure to a TeeError without quoting its text (it may contain paths). */
function levelError(err: unknown, step: string): TeeError {
  if (err instanceof TeeError) return err;
  const code = errorCode(err);
  if (code === 'LEVEL_LOCKED') return new TeeError('ACCESS_CONFLICT', `${step}: database is in use by another store or process`);
  if (code === 'LEVEL_CORRUPTION') return new TeeError('CORRUPT_OBJECT', `${step}: database files are corrupt`);
  return new TeeError('GENERIC', `${step}: database I/O failed`);
}

export class StorageEngine {
  private readonly index = new Map<string, IndexEntry>();
  private readonly namespaces = new Map<string, NamespaceContext>();
  private nonces: Uint8Array = new Uint8Array(0);
  private nonceOffset = 0;
  /** Where a change computes its commitment; swapped with `commitment` once its batch is written. */
  private nextCommitment = emptyCommitment();
  private broken = false;
  private closed = false;

  private constructor(
    private readonly db: Db,
    private readonly counter: RollbackCounter,
    private readonly provider: CryptoProvider,
    private readonly rootKey: Uint8Array,
    private readonly keys: StoreKeys,
    private readonly masks: GenerationPrf,
    private readonly sync: boolean,
    private generation: number,
    private commitment: Uint8Array,
  ) {}

  static async open(options: EngineOptions): Promise<StorageEngine> {
    const { provider, sync } = options;
    const rootKey = new Uint8Array(options.rootKey);
    const db: Db = new Level<Uint8Array, Uint8Array>(options.location, { keyEncoding: 'view', valueEncoding: 'view' });
    let counter: RollbackCounter | undefined;
    let keys: StoreKeys | undefined;
    let masks: GenerationPrf | undefined;
    // Owned by the counter once it exists; zeroed here if open fails before that.
    const counterKey = deriveCounterKey(provider, rootKey);
    try {
      counter = FileRollbackCounter.open(options.counterLocation, provider, counterKey, sync);
      try {
        await db.open();
      } catch (err) {
        throw levelError(err, 'open');
      }
      if (!counter) {
        if (!(await isEmpty(db))) throw new TeeError('SECURITY', 'open: rollback anchor is missing for an existing store');
        counter = FileRollbackCounter.create(options.counterLocation, provider, counterKey, sync);
      }
      keys = deriveStoreKeys(provider, rootKey, counter.storeId);
      masks = stateMasks(provider, keys.stateKey);
      const index = new Map<string, IndexEntry>();
      let commitment = emptyCommitment();
      let stateValue: Uint8Array | undefined;
      try {
        for await (const [key, value] of db.iterator()) {
          if (isStateKey(key)) stateValue = value;
          else if (isObjectKey(key)) {
            const element = recordElement(provider, keys.elementKey, key, value);
            commitment = addElement(commitment, element);
            index.set(keyString(key), { version: recordVersion(value), element });
          } else throw new TeeError('CORRUPT_OBJECT', 'open: unknown record in the database');
        }
      } catch (err) {
        throw levelError(err, 'open: scan');
      }
      let generation = 0;
      if (stateValue) generation = verifyState(provider, keys.stateKey, masks, stateValue, commitment);
      else if (index.size > 0) throw new TeeError('CORRUPT_OBJECT', 'open: state record is missing');
      for (const entry of index.values()) {
        if (entry.version < 1 || entry.version > generation) throw new TeeError('CORRUPT_OBJECT', 'open: record version out of range');
      }
      if (generation < counter.value) throw new TeeError('SECURITY', 'open: store is older than its rollback anchor (rolled back)');
      if (generation > counter.value + 1) throw new TeeError('SECURITY', 'open: store is ahead of its rollback anchor');
      // generation == anchor + 1: the last write committed but the process died before the anchor
      // advanced. The write was never acknowledged as protected; accept it and catch up.
      if (generation === counter.value + 1) await counter.advance(counter.prepare(generation));
      const engine = new StorageEngine(db, counter, provider, rootKey, keys, masks, sync, generation, commitment);
      for (const [k, v] of index) engine.index.set(k, v);
      return engine;
    } catch (err) {
      if (counter) counter.close();
      else counterKey.fill(0);
      masks?.clear();
      if (keys) zeroizeKeys(keys);
      rootKey.fill(0);
      await db.close().catch(() => undefined);
      throw err;
    }
  }

  namespace(name: string): NamespaceContext {
    this.assertUsable();
    let ctx = this.namespaces.get(name);
    if (!ctx) {
      ctx = { name, keys: deriveNamespaceKeys(this.provider, this.rootKey, this.counter.storeId, name), known: new Map(), listed: false };
      this.namespaces.set(name, ctx);
    }
    return ctx;
  }

  /** The slot of an id, from the cache when the object is known. */
  private slotOf(ns: NamespaceContext, id: string): Slot {
    const known = ns.known.get(id);
    if (known) return known;
    const key = objectKey(this.provider, ns.keys, id);
    return { key, ks: keyString(key) };
  }

  /** The slot of an existing object (remembered from now on), or undefined. */
  private existingSlot(ns: NamespaceContext, id: string): Slot | undefined {
    const slot = this.slotOf(ns, id);
    if (!this.index.has(slot.ks)) return undefined;
    ns.known.set(id, slot);
    return slot;
  }

  has(ns: NamespaceContext, id: string): boolean {
    this.assertUsable();
    return this.existingSlot(ns, id) !== undefined;
  }

  async read(ns: NamespaceContext, id: string): Promise<Uint8Array> {
    this.assertUsable();
    const slot = this.existingSlot(ns, id);
    if (!slot) throw new TeeError('ITEM_NOT_FOUND', 'get: no such object');
    return this.readSlot(ns, slot, id);
  }

  /**
   * Read and check one record against the index. The read is synchronous (getSync): LevelDB serves
   * it from its memtable or caches in a microsecond or two, where an async get costs a thread-pool
   * round trip of ~20 µs. It blocks the event loop for that read, as a TEE storage read blocks its
   * caller; a cold read of a large object from disk blocks for longer.
   */
  private readSlot(ns: NamespaceContext, slot: Slot, id?: string): Uint8Array {
    const { key } = slot;
    const entry = this.index.get(slot.ks);
    if (!entry) throw new TeeError('ITEM_NOT_FOUND', 'get: no such object');
    let value: Uint8Array | undefined;
    try {
      value = this.db.getSync(key);
    } catch (err) {
      throw levelError(err, 'get');
    }
    if (value === undefined) throw new TeeError('CORRUPT_OBJECT', 'get: object record is missing from the database');
    if (recordVersion(value) !== entry.version) throw new TeeError('SECURITY', 'get: object record is not the latest version (rolled back)');
    return openRecord(this.provider, ns.keys, key, value, id).data;
  }

  /** Store a record; `plaintext` comes from encodePlaintext(id, data). */
  async write(ns: NamespaceContext, id: string, plaintext: Uint8Array, exclusive: boolean): Promise<void> {
    const [outcome] = await this.writeMany([{ ns, id, plaintext, exclusive }]);
    if (outcome) throw outcome;
  }

  /**
   * Store several records as one generation: one batch, one state record, one anchor update (group
   * commit). The result equals running the writes one after another in order: a later write to the
   * same id replaces an earlier one, and an exclusive write sees the earlier writes. Returns, per
   * request, undefined (written) or the error of that request alone (ACCESS_CONFLICT); throws if
   * the batch or the anchor failed, which fails every request.
   */
  async writeMany(requests: readonly WriteRequest[]): Promise<(TeeError | undefined)[]> {
    this.assertUsable();
    if (requests.length === 1) {
      // One put (one call at a time): the same steps as below without a group's bookkeeping,
      // which is a measurable part of what a small put allocates.
      const { ns, id, plaintext, exclusive } = requests[0]!;
      const slot = this.slotOf(ns, id);
      if (exclusive && this.index.has(slot.ks)) return [new TeeError('ACCESS_CONFLICT', 'put: object already exists')];
      await this.commit([{ slot, sealed: sealRecord(this.provider, ns.keys, slot.key, this.generation + 1, plaintext, this.nextNonce()) }]);
      ns.known.set(id, slot);
      return [undefined];
    }
    const outcomes: (TeeError | undefined)[] = [];
    const last = new Map<string, { request: WriteRequest; slot: Slot }>();
    for (const request of requests) {
      const slot = this.slotOf(request.ns, request.id);
      if (request.exclusive && (last.has(slot.ks) || this.index.has(slot.ks))) {
        outcomes.push(new TeeError('ACCESS_CONFLICT', 'put: object already exists'));
        continue;
      }
      last.set(slot.ks, { request, slot });
      outcomes.push(undefined);
    }
    if (last.size === 0) return outcomes;
    const version = this.generation + 1;
    const changes: Change[] = [];
    // Only the last write to each slot is sealed: the earlier ones are replaced within the batch.
    for (const { request, slot } of last.values()) {
      changes.push({ slot, sealed: sealRecord(this.provider, request.ns.keys, slot.key, version, request.plaintext, this.nextNonce()) });
    }
    await this.commit(changes);
    for (const { request, slot } of last.values()) request.ns.known.set(request.id, slot);
    return outcomes;
  }

  /**
   * Apply puts and deletes as one generation, all or nothing: if an exclusive put finds its id
   * present (ACCESS_CONFLICT) or a delete finds its id absent (ITEM_NOT_FOUND), judged in order
   * with the earlier operations applied, it throws and writes nothing. Later operations on an id
   * replace earlier ones. `plaintext` comes from encodePlaintext(id, data).
   */
  async writeAtomic(ops: readonly AtomicWrite[]): Promise<void> {
    this.assertUsable();
    // The last operation on each slot, which decides what the change writes there.
    const final = new Map<string, { op: AtomicWrite; slot: Slot; put: boolean }>();
    const exists = (slot: Slot) => {
      const f = final.get(slot.ks);
      return f ? f.put : this.index.has(slot.ks);
    };
    for (const op of ops) {
      const slot = this.slotOf(op.ns, op.id);
      const put = op.plaintext !== undefined;
      if (put && op.exclusive && exists(slot)) throw new TeeError('ACCESS_CONFLICT', 'put: object already exists');
      if (!put && !exists(slot)) throw new TeeError('ITEM_NOT_FOUND', 'delete: no such object');
      final.set(slot.ks, { op, slot, put });
    }
    const version = this.generation + 1;
    const changes: Change[] = [];
    for (const { op, slot, put } of final.values()) {
      if (put) changes.push({ slot, sealed: sealRecord(this.provider, op.ns.keys, slot.key, version, op.plaintext!, this.nextNonce()) });
      else if (this.index.has(slot.ks)) changes.push({ slot }); // put and deleted within the change: nothing to do
    }
    if (changes.length > 0) await this.commit(changes);
    for (const { op, slot, put } of final.values()) {
      if (put) op.ns.known.set(op.id, slot);
      else op.ns.known.delete(op.id);
    }
  }

  async remove(ns: NamespaceContext, id: string): Promise<void> {
    this.assertUsable();
    const slot = this.existingSlot(ns, id);
    if (!slot) throw new TeeError('ITEM_NOT_FOUND', 'delete: no such object');
    await this.commit([{ slot }]);
    ns.known.delete(id);
  }

  /** Move an object to a new id in one batch; it is re-sealed, since its id is bound to it. */
  async rename(ns: NamespaceContext, from: string, to: string): Promise<void> {
    this.assertUsable();
    const fromSlot = this.existingSlot(ns, from);
    if (!fromSlot) throw new TeeError('ITEM_NOT_FOUND', 'rename: no such object');
    if (this.existingSlot(ns, to)) throw new TeeError('ACCESS_CONFLICT', 'rename: target id already exists');
    const toSlot = this.slotOf(ns, to);
    const data = this.readSlot(ns, fromSlot, from);
    const plaintext = encodePlaintext(to, data);
    data.fill(0);
    const sealed = sealRecord(this.provider, ns.keys, toSlot.key, this.generation + 1, plaintext, this.nextNonce());
    plaintext.fill(0);
    await this.commit([{ slot: fromSlot }, { slot: toSlot, sealed }]);
    ns.known.delete(from);
    ns.known.set(to, toSlot);
  }

  async list(ns: NamespaceContext, prefix: string): Promise<string[]> {
    this.assertUsable();
    if (!ns.listed) await this.loadIds(ns);
    const ids: string[] = [];
    for (const id of ns.known.keys()) if (id.startsWith(prefix)) ids.push(id);
    return ids.sort();
  }

  /** Learn every id of a namespace: ids live only inside the ciphertext, so decrypt each record once. */
  private async loadIds(ns: NamespaceContext): Promise<void> {
    const found = new Map<string, Slot>();
    try {
      for await (const [key, value] of this.db.iterator(namespaceRange(ns.keys.tag))) {
        const ks = keyString(key);
        const entry = this.index.get(ks);
        if (!entry) throw new TeeError('CORRUPT_OBJECT', 'list: record is not in the authenticated index');
        if (recordVersion(value) !== entry.version) throw new TeeError('SECURITY', 'list: object record is not the latest version (rolled back)');
        const opened = openRecord(this.provider, ns.keys, key, value);
        opened.data.fill(0);
        found.set(opened.id, { key: new Uint8Array(key), ks });
      }
    } catch (err) {
      throw levelError(err, 'list');
    }
    ns.known.clear();
    for (const [id, slot] of found) ns.known.set(id, slot);
    ns.listed = true;
  }

  /**
   * Apply changes (distinct keys) and a new state in one atomic batch, then advance the anchor.
   * Memory follows the batch once it has committed, whatever happens to the anchor after.
   */
  private async commit(changes: Change[]): Promise<void> {
    const generation = this.generation + 1;
    const commitment = this.nextCommitment;
    commitment.set(this.commitment);
    const ops: BatchOp[] = [];
    for (const change of changes) {
      const { slot, sealed } = change;
      const old = this.index.get(slot.ks);
      if (old) subtractInto(commitment, 0, old.element);
      if (sealed) {
        const element = keyedRecordElement(this.provider, this.keys.elementKey, sealed.keyed);
        addInto(commitment, 0, element);
        change.element = element;
        ops.push({ type: 'put', key: slot.key, value: sealed.value });
      } else ops.push({ type: 'del', key: slot.key });
    }
    ops.push({ type: 'put', key: STATE_KEY, value: encodeState(this.masks, generation, commitment) });
    const written = writeBatch(this.db, ops, this.sync);
    // While LevelDB writes, prepare what does not depend on the outcome: the anchor record, and
    // the next generation's mask and anchor tag (a new block of them every 64 generations).
    let prepared: PreparedAdvance | undefined;
    try {
      prepared = this.counter.prepare(generation);
      this.masks.warm(generation + 1);
      this.counter.warm?.(generation + 1);
    } catch {
      prepared = undefined; // recomputed below, after the batch has settled
    }
    try {
      await written;
    } catch (err) {
      // What reached the disk is unknown: stop, so no generation is ever tagged twice; reopening
      // reads the truth back from the disk.
      this.broken = true;
      throw levelError(err, 'write');
    }
    for (const { slot, sealed, element } of changes) {
      if (!sealed) {
        this.index.delete(slot.ks);
        continue;
      }
      // An object's entry is updated in place: one long-lived object per object, not one per write.
      const entry = this.index.get(slot.ks);
      if (entry) {
        entry.version = generation;
        entry.element = element!;
      } else this.index.set(slot.ks, { version: generation, element: element! });
    }
    this.generation = generation;
    this.nextCommitment = this.commitment;
    this.commitment = commitment;
    try {
      const advanced = this.counter.advance(prepared ?? this.counter.prepare(generation));
      if (advanced) await advanced;
    } catch {
      // The batch is durable but not yet protected; one more write would put the store two
      // generations ahead of its anchor. Refuse further work: reopening accepts this state.
      this.broken = true;
      throw new TeeError('BAD_STATE', 'write: rollback counter did not advance; reopen the store');
    }
  }

  private nextNonce(): Uint8Array {
    if (this.nonceOffset + NONCE_BYTES > this.nonces.length) {
      this.nonces = this.provider.randomBytes(NONCE_BYTES * NONCE_POOL);
      this.nonceOffset = 0;
    }
    const nonce = this.nonces.subarray(this.nonceOffset, this.nonceOffset + NONCE_BYTES);
    this.nonceOffset += NONCE_BYTES;
    return nonce;
  }

  private assertUsable(): void {
    if (this.closed) throw new TeeError('BAD_STATE', 'store is closed');
    if (this.broken) throw new TeeError('BAD_STATE', 'store needs to be reopened after a failed write');
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.counter.close();
    this.masks.clear();
    zeroizeKeys(this.keys);
    for (const ns of this.namespaces.values()) zeroizeKeys(ns.keys);
    this.rootKey.fill(0);
    try {
      await this.db.close();
    } catch (err) {
      throw levelError(err, 'close');
    }
  }
}

async function isEmpty(db: Db): Promise<boolean> {
  try {
    for await (const _key of db.keys({ limit: 1 })) return false;
    return true;
  } catch (err) {
    throw levelError(err, 'open');
  }
}
