/**
 * Secure-store put/get per second for 32 B and 4 KiB objects, each beside raw `level` put/get with
 * the same options (no sync), measured in the same run, for each provider, in alternating windows
 * (see ./harness.ts), so machine drift hits both alike.
 *
 * Puts are also measured 16 in flight (waves of 16 concurrent calls), beside raw level puts 16 in
 * flight: the store commits concurrent puts as one group (one batch and one anchor update), and
 * LevelDB merges concurrent writers too, so each side gets the same chance. The goal applies to the
 * 1-in-flight rows.
 *
 * Two more rows, once (first provider, 32 B), each beside the raw put: a raw put after 10 µs of busy
 * CPU work, what this machine charges for the gap between two writes, which no secure store can
 * avoid (it must seal before it writes), whatever its code; and the floor of a secure put, the
 * pieces its guarantees need run bare, with no store code (an AEAD seal, a keyed hash of the sealed
 * record, a two-record batch of record and state, the anchor's 77-byte pwrite).
 *
 * The secure store reads with LevelDB's getSync (see src/storage/engine.ts), so secure get is shown
 * beside both raw baselines: async `get` (what a caller of level would use) and `getSync` (the same
 * read path, which isolates the cost of the security layers).
 */
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Level } from 'level';
import { utf8 } from '../../src/common/bytes.js';
import { PROVIDERS } from '../../src/crypto/index.js';
import type { CryptoProvider } from '../../src/crypto/provider.js';
import { SecureStore } from '../../src/storage/index.js';
import { comparePaired, GOALS, loopProbe, type BenchSuite, type Comparison } from './harness.js';

const SIZES = [32, 4096];
const KEYS = 1000; // objects cycled through, so puts replace and gets hit existing records
const IN_FLIGHT = 16;
/** CPU time a secure put spends before its batch leaves (seal, keyed hash, state), roughly. */
const PRE_WRITE_WORK_US = 10;

/** Sizes of the engine's records (src/storage/layout.ts, record.ts, state.ts, counter.ts). */
const OBJECT_KEY_BYTES = 49;
const STATE_RECORD_BYTES = 41;
const ANCHOR_RECORD_BYTES = 77;
const RECORD_HEADER_BYTES = 1 + 8 + 12;
const AAD_BYTES = 25 + 9 + OBJECT_KEY_BYTES;

/**
 * One secure put with no store code: what its guarantees need, each done once and bare. Seal the
 * id and data (confidentiality, bound to the slot by the AAD), a keyed hash of key || record (the
 * element the set commitment adds), one LevelDB batch of the record and the state record
 * (atomicity), then the anchor rewritten in place (rollback protection).
 */
function securePutFloor(provider: CryptoProvider, db: Level<Uint8Array, Uint8Array>, anchorFd: number, id: string, data: Uint8Array) {
  const encKey = provider.randomBytes(32);
  const elementKey = provider.randomBytes(32);
  const aad = new Uint8Array(AAD_BYTES);
  const state = new Uint8Array(STATE_RECORD_BYTES);
  const stateKey = new Uint8Array([0]);
  const anchor = new Uint8Array(ANCHOR_RECORD_BYTES);
  const keys = Array.from({ length: KEYS }, () => provider.randomBytes(OBJECT_KEY_BYTES));
  const plaintext = new Uint8Array(2 + id.length + data.length);
  plaintext.set(data, 2 + id.length);
  let nonces: Uint8Array = new Uint8Array(0);
  let at = 0;
  let n = 0;
  return async () => {
    if (at + 12 > nonces.length) ((nonces = provider.randomBytes(12 * 256)), (at = 0));
    const key = keys[n++ % KEYS]!;
    const sealed = provider.aeadSeal('chacha20-poly1305', encKey, nonces.subarray(at, (at += 12)), plaintext, aad);
    const keyed = new Uint8Array(OBJECT_KEY_BYTES + RECORD_HEADER_BYTES + sealed.length);
    keyed.set(key, 0);
    keyed.set(sealed, OBJECT_KEY_BYTES + RECORD_HEADER_BYTES);
    state.set(provider.hmacSha256(elementKey, keyed), 9);
    await db.batch([
      { type: 'put', key, value: keyed.subarray(OBJECT_KEY_BYTES) },
      { type: 'put', key: stateKey, value: state },
    ]);
    writeSync(anchorFd, anchor, 0, anchor.length, 0);
  };
}

function spin(us: number): void {
  const end = performance.now() + us / 1000;
  while (performance.now() < end);
}

export const suite: BenchSuite = {
  name: 'storage',
  description: 'secure store put/get vs raw level put/get (no sync), 32 B and 4 KiB, puts 1 and 16 in flight',
  async run({ providers, progress }) {
    const root = mkdtempSync(join(tmpdir(), 'tee-sim-bench-storage-'));
    const rows: Comparison[] = [];
    const ids = Array.from({ length: KEYS }, (_, i) => `object-${i}`);
    const rawKeys = ids.map(utf8);
    try {
      const raw = new Level<Uint8Array, Uint8Array>(join(root, 'raw'), { keyEncoding: 'view', valueEncoding: 'view' });
      await raw.open();
      for (const name of providers) {
        const provider = PROVIDERS[name];
        const store = await SecureStore.open({
          location: join(root, `secure-${name}`),
          counterLocation: join(root, `anchor-${name}`),
          rootKey: provider.randomBytes(32),
          provider,
        });
        const ns = store.namespace('bench');
        for (const size of SIZES) {
          const data = provider.randomBytes(size);
          for (let i = 0; i < KEYS; i++) {
            await raw.put(rawKeys[i]!, data);
            await ns.put(ids[i]!, data);
          }
          let n = 0;
          const bytes = { bytesPerOp: size };
          const goal = name === 'native' ? { goal: GOALS.storage } : {};
          const opts = { onProgress: progress };
          const rawPut = loopProbe(`level put ${size} B`, () => raw.put(rawKeys[n++ % KEYS]!, data), bytes);
          const securePut = loopProbe(`secure put ${size} B`, () => ns.put(ids[n++ % KEYS]!, data), bytes);
          rows.push(await comparePaired('storage', name, securePut, rawPut, { ...opts, ...goal }));
          if (size === SIZES[0] && name === providers[0]) {
            // What the machine charges any store that computes before it writes: the same raw put
            // after a fixed spin of CPU work, about what a secure put does before its batch. A put
            // issued at once finds LevelDB's thread-pool thread still awake; one issued after the
            // work finds it asleep and pays for waking it (see docs/BENCHMARKS.md).
            const workedPut = loopProbe(`level put ${size} B after ${PRE_WRITE_WORK_US} µs of work`, () => {
              spin(PRE_WRITE_WORK_US);
              return raw.put(rawKeys[n++ % KEYS]!, data);
            }, bytes);
            rows.push(await comparePaired('storage', name, workedPut, rawPut, opts));
            const floorDb = new Level<Uint8Array, Uint8Array>(join(root, 'floor'), { keyEncoding: 'view', valueEncoding: 'view' });
            await floorDb.open();
            const anchorFd = openSync(join(root, 'floor-anchor.bin'), 'w+');
            try {
              const floor = loopProbe(`secure put floor ${size} B (bare pieces, no store code)`, securePutFloor(provider, floorDb, anchorFd, ids[0]!, data), bytes);
              rows.push(await comparePaired('storage', name, floor, rawPut, opts));
            } finally {
              closeSync(anchorFd);
              await floorDb.close();
            }
          }
          const wave = (put: (i: number) => Promise<void>) => () => {
            const calls: Promise<void>[] = [];
            for (let k = 0; k < IN_FLIGHT; k++) calls.push(put(n++ % KEYS));
            return Promise.all(calls);
          };
          const waveOpts = { ...bytes, opsPerCall: IN_FLIGHT };
          const rawWave = loopProbe(`level put ${size} B (${IN_FLIGHT} in flight)`, wave((i) => raw.put(rawKeys[i]!, data)), waveOpts);
          const secureWave = loopProbe(`secure put ${size} B (${IN_FLIGHT} in flight)`, wave((i) => ns.put(ids[i]!, data)), waveOpts);
          rows.push(await comparePaired('storage', name, secureWave, rawWave, opts));
          const rawGet = loopProbe(`level get ${size} B`, () => raw.get(rawKeys[n++ % KEYS]!), bytes);
          const secureGet = loopProbe(`secure get ${size} B`, () => ns.get(ids[n++ % KEYS]!), bytes);
          const rawGetSync = loopProbe(`level getSync ${size} B`, () => raw.getSync(rawKeys[n++ % KEYS]!), bytes);
          rows.push(await comparePaired('storage', name, secureGet, rawGet, { ...opts, ...goal }));
          rows.push(await comparePaired('storage', name, secureGet, rawGetSync, opts));
        }
        await store.close();
      }
      await raw.close();
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
    return rows;
  },
};
