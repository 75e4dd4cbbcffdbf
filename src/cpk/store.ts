/**
 * Where the KMC keeps its records. A `KmcStore` is a dumb key-value store: the KMC encrypts every
 * value itself before `put` (see ./kmc.ts), so a store only ever holds ciphertext and needs no
 * protection of its own for confidentiality or integrity. It does not protect against rollback
 * or deletion: whoever controls the store can restore an old record or remove one.
 */
import { Level } from 'level';
import { copyBytes } from '../common/bytes.js';
import { TeeError } from '../common/errors.js';

export interface KmcStore {
  get(id: string): Promise<Uint8Array | undefined>;
  put(id: string, value: Uint8Array): Promise<void>;
}

export interface MemoryKmcStore extends KmcStore {
  /** Every stored record (copies), for tests that inspect what the store holds. */
  readonly records: ReadonlyMap<string, Uint8Array>;
}

export interface LevelKmcStore extends KmcStore {
  close(): Promise<void>;
}

/** A store in a Map: for tests and for a KMC that lives only as long as the process. */
export function createMemoryKmcStore(): MemoryKmcStore {
  const records = new Map<string, Uint8Array>();
  return {
    records,
    async get(id) {
      const v = records.get(id);
      return v ? copyBytes(v) : undefined;
    },
    async put(id, value) {
      records.set(id, copyBytes(value));
    },
  };
}

/** A store in a LevelDB directory (locked to this process while open); writes are fsynced. */
export async function createLevelKmcStore(dir: string): Promise<LevelKmcStore> {
  const db = new Level<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' });
  try {
    await db.open();
  } catch {
    throw new TeeError('BUSY', 'kmc store: cannot open the database (locked or unreadable)', 'API');
  }
  return {
    async get(id) {
      const v = await db.get(id);
      return v === undefined ? undefined : copyBytes(v);
    },
    async put(id, value) {
      await db.put(id, value, { sync: true });
    },
    async close() {
      await db.close();
    },
  };
}
