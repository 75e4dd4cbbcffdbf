/**
 * A minimal async mutex: tasks run one at a time in call order. The store runs every operation
 * through one of these, so a read-modify-write (update) can never interleave with another caller.
 * A failed task does not block the ones queued behind it.
 */
const ignore = (): void => undefined;

export class Mutex {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.tail.then(task);
    this.tail = result.catch(ignore);
    return result;
  }
}
