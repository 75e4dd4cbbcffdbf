/**
 * A one-at-a-time async queue. Every ledger mutation runs through it, so a read-check-write sequence
 * (is the nonce new? is there enough money? write the batch) can never interleave with another:
 * concurrent requests cannot double-settle or overdraw. It guards one process only; level's own
 * directory lock keeps a second process out.
 */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();
  private pending = 0;

  /** Run `task` after every task queued before it has finished (whether it resolved or threw). */
  run<T>(task: () => Promise<T>): Promise<T> {
    this.pending++;
    const result = this.tail.then(task, task);
    // The chain must survive a failed task, so the tail swallows the outcome; the caller sees it.
    this.tail = result.then(
      () => this.done(),
      () => this.done(),
    );
    return result;
  }

  /** Tasks queued or running. */
  get size(): number {
    return this.pending;
  }

  /** Resolves when everything queued so far has finished. */
  async idle(): Promise<void> {
    await this.tail;
  }

  private done(): void {
    this.pending--;
  }
}
