/**
 * A pool of worker threads that check P-256 signatures, so verification of concurrent payments runs
 * on every core ahead of the serial settle. Requests queued in the same turn of the event loop go to
 * the workers in batches, each batch packed into one ArrayBuffer that is transferred, not cloned (a
 * structured clone of per-item objects cost more main-thread time than the verify it saved), and
 * answered with one byte per item. `verify` resolves to the same boolean as `provider.verify`, and
 * never rejects for bad input (a dead worker rejects with COMMUNICATION).
 *
 * Batch layout: per item [u8 key length][key][u8 signature length][signature][u32 BE message length][message].
 */
import { availableParallelism } from 'node:os';
import type { Worker } from 'node:worker_threads';
import { TeeError } from '../../common/errors.js';
import { siblingModule, startModuleWorker } from '../../common/worker-module.js';
import type { ProviderName } from '../../crypto/provider.js';

interface Pending {
  publicKey: Uint8Array;
  message: Uint8Array;
  signature: Uint8Array;
  resolve: (ok: boolean) => void;
  reject: (err: unknown) => void;
}

/**
 * At most this many items per message. A batch is never larger than the queue split over the
 * workers, so light load still gets small batches and early answers; under saturation (256 in
 * flight, 1 worker, fsync) batches of 32 settle ~9% more than batches of 4 (10.6-10.8k against
 * 9.7-9.8k payments/s, 178 -> 163 µs of CPU per payment: fewer messages each way), and 64 no more.
 */
const MAX_BATCH = 32;
/** Longest key, signature and message a batch carries; longer never verifies (P-256: 33/65, 64, payments < 8 KiB). */
const MAX_KEY = 65;
const MAX_SIGNATURE = 64;
const MAX_MESSAGE = 64 * 1024;

export interface VerifyPoolOptions {
  /** Worker threads (default: available cores). */
  size?: number;
  provider: ProviderName;
}

export class VerifyPool {
  private readonly workers: Worker[] = [];
  private readonly inflight: Map<number, Pending[]>[] = [];
  private readonly load: number[] = [];
  /** One per worker: settles once it has loaded its modules (or exited). */
  private readonly loaded: Promise<void>[] = [];
  private queue: Pending[] = [];
  private scheduled = false;
  private nextId = 1;
  private closed = false;

  constructor(options: VerifyPoolOptions) {
    const size = Math.max(1, options.size ?? availableParallelism());
    const module = siblingModule('verify-worker', import.meta.url);
    for (let i = 0; i < size; i++) {
      const worker = startModuleWorker(module, { workerData: { provider: options.provider } });
      const inflight = new Map<number, Pending[]>();
      let loaded!: () => void;
      this.loaded.push(new Promise<void>((resolve) => (loaded = resolve)));
      worker.once('exit', () => loaded());
      worker.on('message', (message: { id: number; results: Uint8Array } | { ready: true }) => {
        if ('ready' in message) {
          loaded();
          return;
        }
        const { id, results } = message;
        const batch = inflight.get(id);
        if (!batch) return;
        inflight.delete(id);
        this.load[i]! -= batch.length;
        for (let j = 0; j < batch.length; j++) batch[j]!.resolve(results[j] === 1);
      });
      worker.on('error', () => this.failWorker(i));
      worker.on('exit', () => this.failWorker(i));
      this.workers.push(worker);
      this.inflight.push(inflight);
      this.load.push(0);
    }
  }

  get size(): number {
    return this.workers.length;
  }

  verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): Promise<boolean> {
    if (this.closed) return Promise.reject(new TeeError('BUSY', 'verify pool: closed', 'BACKEND'));
    if (!(publicKey instanceof Uint8Array) || !(message instanceof Uint8Array) || !(signature instanceof Uint8Array)) return Promise.resolve(false);
    if (publicKey.length > MAX_KEY || signature.length > MAX_SIGNATURE || message.length > MAX_MESSAGE) return Promise.resolve(false);
    return new Promise((resolve, reject) => {
      this.queue.push({ publicKey, message, signature, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        queueMicrotask(() => this.dispatch());
      }
    });
  }

  private dispatch(): void {
    this.scheduled = false;
    const queue = this.queue;
    this.queue = [];
    // Spread the batch over the workers, least loaded first.
    const per = Math.min(MAX_BATCH, Math.ceil(queue.length / this.workers.length));
    for (let start = 0; start < queue.length; start += per) {
      const batch = queue.slice(start, start + per);
      let w = 0;
      for (let i = 1; i < this.load.length; i++) if (this.load[i]! < this.load[w]!) w = i;
      if (this.load[w] === Number.POSITIVE_INFINITY) {
        for (const p of batch) p.reject(new TeeError('COMMUNICATION', 'verify pool: no worker left', 'BACKEND'));
        continue;
      }
      const id = this.nextId++;
      this.inflight[w]!.set(id, batch);
      this.load[w]! += batch.length;
      const buffer = pack(batch);
      this.workers[w]!.postMessage({ id, count: batch.length, packed: new Uint8Array(buffer) }, [buffer]);
    }
  }

  private failWorker(i: number): void {
    const inflight = this.inflight[i]!;
    for (const batch of inflight.values()) for (const p of batch) p.reject(new TeeError('COMMUNICATION', 'verify pool: worker stopped', 'BACKEND'));
    inflight.clear();
    this.load[i] = Number.POSITIVE_INFINITY;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // A thread stopped while its module loader is still starting up can hang the process (seen
    // under vitest), so each worker finishes loading first, within a bound, then is terminated.
    await Promise.all(this.loaded.map((l) => Promise.race([l, new Promise((r) => setTimeout(r, 5000).unref())])));
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

function pack(batch: Pending[]): ArrayBuffer {
  let length = 0;
  for (const p of batch) length += 6 + p.publicKey.length + p.signature.length + p.message.length;
  const buffer = new ArrayBuffer(length);
  const out = new Uint8Array(buffer);
  const view = new DataView(buffer);
  let o = 0;
  for (const p of batch) {
    out[o++] = p.publicKey.length;
    out.set(p.publicKey, o);
    o += p.publicKey.length;
    out[o++] = p.signature.length;
    out.set(p.signature, o);
    o += p.signature.length;
    view.setUint32(o, p.message.length);
    o += 4;
    out.set(p.message, o);
    o += p.message.length;
  }
  return buffer;
}
