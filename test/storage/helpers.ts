/** Shared helpers for the storage tests: temp directories, raw LevelDB access, error matching. */
import { mkdtempSync, rmSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Level } from 'level';
import { expect } from 'vitest';
import { TeeError, type TeeErrorCode } from '../../src/common/errors.js';
import type { CryptoProvider } from '../../src/crypto/provider.js';
import { SecureStore } from '../../src/storage/index.js';

export const ROOT_KEY = new Uint8Array(32).map((_, i) => (i * 7 + 3) & 0xff);

export interface StoreDirs {
  root: string;
  location: string;
  counterLocation: string;
}

const created: string[] = [];

export function makeDirs(): StoreDirs {
  const root = mkdtempSync(join(tmpdir(), 'tee-sim-storage-'));
  created.push(root);
  return { root, location: join(root, 'ree-db'), counterLocation: join(root, 'tee-private') };
}

export function removeDirs(): void {
  while (created.length) rmSync(created.pop()!, { recursive: true, force: true });
}

export function openStore(dirs: StoreDirs, provider: CryptoProvider, rootKey: Uint8Array = ROOT_KEY): Promise<SecureStore> {
  return SecureStore.open({ location: dirs.location, counterLocation: dirs.counterLocation, rootKey, provider });
}

export type Entry = [Uint8Array, Uint8Array];

/** Run `fn` on the raw LevelDB, as the REE would, with the store closed. */
export async function withRawDb<T>(location: string, fn: (db: Level<Uint8Array, Uint8Array>) => Promise<T>): Promise<T> {
  const db = new Level<Uint8Array, Uint8Array>(location, { keyEncoding: 'view', valueEncoding: 'view' });
  await db.open();
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}

export async function rawEntries(location: string): Promise<Entry[]> {
  return withRawDb(location, async (db) => {
    const out: Entry[] = [];
    for await (const [k, v] of db.iterator()) out.push([new Uint8Array(k), new Uint8Array(v)]);
    return out;
  });
}

export function flipBit(bytes: Uint8Array, bit: number): Uint8Array {
  const out = new Uint8Array(bytes);
  out[(bit >> 3) % out.length]! ^= 1 << (bit & 7);
  return out;
}

/** Expect a promise to reject with a TeeError whose code is one of `codes`. */
export async function expectTeeError(promise: Promise<unknown>, codes: TeeErrorCode | TeeErrorCode[]): Promise<TeeError> {
  const allowed = Array.isArray(codes) ? codes : [codes];
  let caught: unknown;
  try {
    await promise;
  } catch (err) {
    caught = err;
  }
  expect(caught, 'expected a rejection').toBeInstanceOf(TeeError);
  expect(allowed).toContain((caught as TeeError).code);
  return caught as TeeError;
}

/**
 * Open the store and read every listed object of the given namespaces; resolves only if the store
 * opens and every object reads back. Used to assert that tampering is caught on open or on get.
 */
export async function openAndReadAll(dirs: StoreDirs, provider: CryptoProvider, namespaces: string[]): Promise<void> {
  const store = await openStore(dirs, provider);
  try {
    for (const name of namespaces) {
      const ns = store.namespace(name);
      for (const id of await ns.list()) await ns.get(id);
    }
  } finally {
    await store.close();
  }
}

/** Every file under `dir`, recursively, as bytes. */
export function filesUnder(dir: string): { path: string; bytes: Uint8Array }[] {
  const out: { path: string; bytes: Uint8Array }[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...filesUnder(path));
    else out.push({ path, bytes: new Uint8Array(readFileSync(path)) });
  }
  return out;
}
