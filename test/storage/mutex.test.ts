import { describe, expect, it } from 'vitest';
import { Mutex } from '../../src/storage/mutex.js';

describe('Mutex', () => {
  it('runs tasks one at a time in call order, and a failure does not block the queue', async () => {
    const mutex = new Mutex();
    const log: string[] = [];
    let running = 0;
    const task = (name: string, fail = false) => async () => {
      expect(running).toBe(0);
      running++;
      log.push(`start ${name}`);
      await new Promise((r) => setImmediate(r));
      log.push(`end ${name}`);
      running--;
      if (fail) throw new Error(name);
      return name;
    };
    const results = await Promise.allSettled([mutex.run(task('a')), mutex.run(task('b', true)), mutex.run(task('c'))]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(log).toEqual(['start a', 'end a', 'start b', 'end b', 'start c', 'end c']);
  });
});
