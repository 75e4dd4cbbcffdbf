/** The benchmark harness's load generator: N submissions outstanding all the time, and the table. */
import { describe, expect, it } from 'vitest';
import { compare, formatTable, Pump, type Measurement } from '../../scripts/bench/harness.js';

const tick = () => new Promise<void>((r) => setImmediate(r));

describe('Pump', () => {
  it('keeps exactly N submissions outstanding, starting one as each finishes', async () => {
    let running = 0;
    let peak = 0;
    let started = 0;
    const pump = new Pump(4, async () => {
      started++;
      running++;
      peak = Math.max(peak, running);
      await tick();
      running--;
    });
    await pump.next(20);
    expect(peak).toBe(4);
    expect(started).toBeGreaterThanOrEqual(20);
    await pump.stop();
    expect(running).toBe(0);
    const after = started;
    await tick();
    expect(started).toBe(after); // stopped: nothing new starts
  });

  it('a failed submission stops the pump and rejects the wait', async () => {
    let n = 0;
    const pump = new Pump(2, async () => {
      await tick();
      if (++n === 5) throw new Error('payment refused');
    });
    await expect(pump.next(100)).rejects.toThrow('payment refused');
    await pump.stop();
  });
});

describe('formatTable', () => {
  it('shows each figure beside its baseline, the ratio, and whether a goal is met', () => {
    const m = (name: string, opsPerSec: number): Measurement => ({ name, opsPerSec, spread: 0.1, repetitions: 5 });
    const table = formatTable([compare('sign', 'native', m('full', 600), m('raw', 1000), 0.6), compare('sign', 'native', m('one', 100), m('raw', 1000), 0.6)]);
    expect(table).toMatch(/full\s+600\/s ±10%\s+raw\s+1,000\/s ±10%\s+60\.0%\s+>=60% met/);
    expect(table).toMatch(/one .*10\.0%\s+>=60% NOT met/);
  });
});
