/**
 * A pool of worker threads that check P-256 signatures, so verification of concurrent payments runs
 * on every core ahead of the serial settle. Requests queued in the same turn of the event loop go to
 * the workers in batches (one message each way per batch); `verify` resolves to the same boolean as
 * `provider.verify`, and never rejects for bad input (a dead worker rejects with COMMUNICATION).
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { TeeError } from '../../common/errors.js';
import { PROVIDERS } from '../../crypto/index.js';
import type { ProviderName } from '../../crypto/provider.js';

type Pending =
  | { publicKey: Uint8Array; message: Uint8Array; signature: Uint8Array; resolve: (ok: boolean) => void; reject: (err: unknown) => void }
  | { sign: Uint8Array; resolve: (signature: Uint8Array) => void; reject: (err: unknown) => void };

const MAX_BATCH = 64;

export interface VerifyPoolOptions {
  /** Worker threads (default: available cores). */
  size?: number;
  provider: ProviderName;
  /**
   * The backend's P-256 receipt key, to sign receipts on the workers too (`sign`). Each worker gets
   * a copy at start; the pool keeps only the public key.
   */
  signingKey?: Uint8Array;
}

export class VerifyPool {
  private readonly workers: Worker[] = [];
  private readonly inflight: Map<number, Pending[]>[] = [];
  private readonly load: number[] = [];
  private queue: Pending[] = [];
  private scheduled = false;
  private nextId = 1;
  private closed = false;
  /** Public key of the signing key the workers hold, if any. */
  readonly signerPublicKey: Uint8Array | undefined;

  constructor(options: VerifyPoolOptions) {
    this.signerPublicKey = options.signingKey ? PROVIDERS[options.provider].publicKeyOf('p256', options.signingKey) : undefined;
    const size = Math.max(1, options.size ?? availableParallelism());
    // Run from TypeScript sources (tsx, vitest) the worker is a .ts file, loaded through tsx.
    const ts = import.meta.url.endsWith('.ts');
    const url = new URL(ts ? './verify-worker-tsx.mjs' : './verify-worker.js', import.meta.url);
    for (let i = 0; i < size; i++) {
      const workerData = { provider: options.provider, ...(options.signingKey ? { signingKey: new Uint8Array(options.signingKey) } : {}) };
      const worker = new Worker(url, { workerData });
      if (workerData.signingKey) workerData.signingKey.fill(0);
      const inflight = new Map<number, Pending[]>();
      worker.on('message', ({ id, results }: { id: number; results: (boolean | Uint8Array | null)[] }) => {
        const batch = inflight.get(id);
        if (!batch) return;
        inflight.delete(id);
        this.load[i]! -= batch.length;
        batch.forEach((p, j) => {
          const r = results[j];
          if (!('sign' in p)) p.resolve(r === true);
          else if (r instanceof Uint8Array) p.resolve(r);
          else p.reject(new TeeError('GENERIC', 'verify pool: receipt signing failed', 'BACKEND'));
        });
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
    return new Promise((resolve, reject) => this.enqueue({ publicKey, message, signature, resolve, reject }));
  }

  /** P-256 signature with the pool's signing key (BAD_STATE if it has none). */
  sign(message: Uint8Array): Promise<Uint8Array> {
    if (this.closed) return Promise.reject(new TeeError('BUSY', 'verify pool: closed', 'BACKEND'));
    if (!this.signerPublicKey) return Promise.reject(new TeeError('BAD_STATE', 'verify pool: no signing key', 'BACKEND'));
    if (!(message instanceof Uint8Array)) return Promise.reject(new TeeError('BAD_PARAMETERS', 'verify pool: message must be bytes', 'BACKEND'));
    return new Promise((resolve, reject) => this.enqueue({ sign: message, resolve, reject }));
  }

  private enqueue(p: Pending): void {
    this.queue.push(p);
    if (!this.scheduled) {
      this.scheduled = true;
      queueMicrotask(() => this.dispatch());
    }
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
      this.workers[w]!.postMessage({ id, items: batch.map((p) => ('sign' in p ? { sign: p.sign } : { publicKey: p.publicKey, message: p.message, signature: p.signature })) });
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
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
