/**
 * A thread stopped during writes: the simulator cuts a trusted key's power with Worker.terminate(),
 * which stops the thread's JavaScript wherever it is, even inside a native call that is handing a
 * batch to LevelDB. A worker commits groups of objects in a loop and is stopped at a random moment,
 * several times. Each time the store must reopen (never CORRUPT_OBJECT: a batch is written whole or
 * not at all), with every object of the last group at one step, no older than the last one acked.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { startModuleWorker } from '../../src/common/worker-module.js';
import { PROVIDERS } from '../../src/crypto/index.js';
import { THREAD_TEST_NAMESPACE, THREAD_TEST_OBJECTS, threadStepOf } from './fixtures/writer-model.js';
import { makeDirs, openStore, removeDirs, ROOT_KEY, type StoreDirs } from './helpers.js';

const WRITER = new URL('./fixtures/thread-writer.ts', import.meta.url);
const ROUNDS = 24;

afterAll(removeDirs);

/** Run the writer from step `first` and stop its thread at a random moment; return the last step acked. */
async function runAndStop(dirs: StoreDirs, first: number): Promise<number | undefined> {
  const worker = startModuleWorker(WRITER, { workerData: { location: dirs.location, counterLocation: dirs.counterLocation, rootKey: ROOT_KEY, first } });
  let lastAck: number | undefined;
  const stopAfter = 1 + Math.floor(Math.random() * 4);
  let acks = 0;
  await new Promise<void>((resolve, reject) => {
    worker.on('error', reject);
    worker.on('exit', (code) => {
      if (acks < stopAfter) reject(new Error(`the writer thread exited on its own (code ${code})`));
    });
    worker.on('message', (message: 'ready' | number) => {
      if (message === 'ready') return;
      lastAck = message;
      // Then let it run on for a random moment, so the stop lands anywhere inside a commit.
      if (++acks === stopAfter) setTimeout(() => void worker.terminate().then(() => resolve(), reject), Math.random() * 8);
    });
  });
  return lastAck;
}

describe('a thread stopped during writes', () => {
  it(`reopens with each group of writes whole or absent, over ${ROUNDS} stops`, async () => {
    const dirs = makeDirs();
    let next = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const lastAck = await runAndStop(dirs, next);
      expect(lastAck, 'the writer acknowledged a commit before the stop').toBeDefined();
      const store = await openStore(dirs, PROVIDERS.native);
      const ns = store.namespace(THREAD_TEST_NAMESPACE);
      const ids = await ns.list();
      const steps = new Set<number>();
      for (const id of ids) steps.add(threadStepOf(await ns.get(id)));
      expect(ids).toHaveLength(THREAD_TEST_OBJECTS);
      await store.close();
      // The acked step, or the one in flight at the stop; all objects alike.
      expect(steps.size, `round ${round}: one step across the group`).toBe(1);
      const [step] = steps;
      expect([lastAck, lastAck! + 1]).toContain(step);
      next = step! + 1;
    }
  });
});
