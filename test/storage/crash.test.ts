/**
 * Kill -9 during writes: a child process writes in a loop and is killed at a random moment, several
 * times. Each time the store must reopen cleanly, with every acknowledged write present (its latest
 * acknowledged value, or the value that was being written when the child died) and nothing corrupt.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { toHex } from '../../src/common/bytes.js';
import { PROVIDERS } from '../../src/crypto/index.js';
import { KILL_TEST_NAMESPACE, KILL_TEST_OBJECTS, objectIdFor, valueFor } from './fixtures/writer-model.js';
import { makeDirs, openStore, removeDirs, ROOT_KEY, type StoreDirs } from './helpers.js';

const WRITER = fileURLToPath(new URL('./fixtures/writer.ts', import.meta.url));
const ROUNDS = 5;

afterAll(removeDirs);

/** Run the writer from `first`, kill it after a random number of acks; return the last acked step. */
function runAndKill(dirs: StoreDirs, first: number, wave: number): Promise<number | undefined> {
  return new Promise((resolve, reject) => {
    // node --import tsx is `npx tsx` without the npx start-up cost.
    const child = spawn(process.execPath, ['--import', 'tsx', WRITER, dirs.location, dirs.counterLocation, String(first), String(wave)], {
      env: { ...process.env, STORE_ROOT_KEY: toHex(ROOT_KEY) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const killAfter = 5 + Math.floor(Math.random() * 60);
    let lastAck: number | undefined;
    let acks = 0;
    let pending = '';
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.stdout.on('data', (chunk: Buffer) => {
      pending += chunk.toString();
      const lines = pending.split('\n');
      pending = lines.pop()!; // an incomplete last line is not an ack yet
      for (const line of lines) {
        const m = /^ack (\d+)$/.exec(line);
        if (!m) continue;
        lastAck = Number(m[1]);
        if (++acks === killAfter) {
          // Let it run on for a random moment, so the kill lands anywhere inside a write.
          setTimeout(() => child.kill('SIGKILL'), Math.random() * 15);
        }
      }
    });
    child.on('error', reject);
    child.on('exit', (_code, signal) => {
      if (signal !== 'SIGKILL') reject(new Error(`writer exited on its own: ${stderr.slice(0, 500)}`));
      else resolve(lastAck);
    });
  });
}

describe('kill -9 during writes', () => {
  // Wave 1: one put at a time. Wave 4: four concurrent puts at a time, written as one group; the
  // writer acks a wave once all of it resolved, so up to four writes are in flight at the kill.
  it.each([1, 4])(`reopens cleanly with every acknowledged write, over ${ROUNDS} kills (wave %i)`, async (wave) => {
    const dirs = makeDirs();
    // What each object holds for sure, as of the last verified reopen.
    const confirmed = new Map<string, string>();
    let next = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const lastAck = await runAndKill(dirs, next, wave);
      expect(lastAck, 'the writer acknowledged writes before the kill').toBeDefined();
      const inFlight = Array.from({ length: wave }, (_, k) => lastAck! + 1 + k);
      const acceptable = new Map<string, Set<string>>();
      for (let id = 0; id < KILL_TEST_OBJECTS; id++) {
        const name = objectIdFor(id);
        const prior = confirmed.get(name);
        acceptable.set(name, new Set(prior === undefined ? [] : [prior]));
      }
      for (let i = next; i <= lastAck!; i++) acceptable.set(objectIdFor(i), new Set([toHex(valueFor(i))]));
      for (const step of inFlight) acceptable.get(objectIdFor(step))!.add(toHex(valueFor(step)));

      // Puts only, never deletes: every id with an acknowledged write must exist.
      const required = new Set(confirmed.keys());
      for (let i = next; i <= lastAck!; i++) required.add(objectIdFor(i));

      const store = await openStore(dirs, PROVIDERS.native);
      const ns = store.namespace(KILL_TEST_NAMESPACE);
      const ids = await ns.list();
      for (const id of required) expect(ids).toContain(id);
      for (const id of ids) {
        const value = toHex(await ns.get(id));
        expect(acceptable.get(id)?.has(value), `${id} holds an acknowledged or in-flight value`).toBe(true);
        confirmed.set(id, value);
      }
      await store.close();
      next = lastAck! + wave + 1;
    }
  });
});
