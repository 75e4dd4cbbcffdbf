/**
 * The store's operation queue: operations run one at a time in call order (./mutex.ts), except
 * that puts queued back to back, with no other operation between them, run as one group: one
 * LevelDB batch, one state record and one anchor update for all of them (group commit). A put joins
 * the group that is still waiting for its turn; the group closes when its turn comes, or as soon as
 * any other operation is queued behind it, so every operation still sees exactly the writes called
 * before it. Each put resolves only once the batch holding it and the anchor covering it are
 * written, as it would alone.
 */
import type { StorageEngine, WriteRequest } from './engine.js';
import { Mutex } from './mutex.js';

/** Bounds on one group, so a flood of puts cannot build an unbounded batch. */
const MAX_GROUP_WRITES = 256;
const MAX_GROUP_BYTES = 4 * 1024 * 1024;

interface Waiting {
  readonly request: WriteRequest;
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

interface Group {
  readonly items: Waiting[];
  bytes: number;
}

export class OperationQueue {
  private readonly mutex = new Mutex();
  /** The group still waiting for its turn, which a new put may join. */
  private open: Group | undefined;

  constructor(private readonly engine: StorageEngine) {}

  /** Queue any operation other than a put; it closes the open group, keeping call order. */
  run<T>(task: () => Promise<T>): Promise<T> {
    this.open = undefined;
    return this.mutex.run(task);
  }

  /** Queue a put; the queue owns `request.plaintext` from now on and zeroes it when done. */
  put(request: WriteRequest): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const waiting: Waiting = { request, resolve, reject };
      const group = this.open;
      if (!group || group.items.length >= MAX_GROUP_WRITES || group.bytes + request.plaintext.length > MAX_GROUP_BYTES) {
        const fresh: Group = { items: [waiting], bytes: request.plaintext.length };
        this.open = fresh;
        void this.mutex.run(() => this.commit(fresh));
        return;
      }
      group.items.push(waiting);
      group.bytes += request.plaintext.length;
    });
  }

  /** Never rejects: each put's promise carries its own outcome. */
  private async commit(group: Group): Promise<void> {
    if (this.open === group) this.open = undefined;
    try {
      const { items } = group;
      const outcomes = await this.engine.writeMany(items.length === 1 ? [items[0]!.request] : items.map((w) => w.request));
      group.items.forEach((w, i) => {
        const err = outcomes[i];
        if (err) w.reject(err);
        else w.resolve();
      });
    } catch (err) {
      for (const w of group.items) w.reject(err);
    } finally {
      for (const w of group.items) w.request.plaintext.fill(0);
    }
  }
}
