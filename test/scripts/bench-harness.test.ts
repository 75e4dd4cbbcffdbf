/** The benchmark harness: the load generator, paired measurement and the table. */
import { describe, expect, it } from 'vitest';
import { comparePaired, formatTable, inFlightProbe, Pump, type Comparison, type Measurement, type Probe } from '../../scripts/bench/harness.js';

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
    // Once failed, every later wait rejects with the same error instead of waiting for ever.
    await expect(pump.next(1)).rejects.toThrow('payment refused');
    await expect(pump.mark(0)).rejects.toThrow('payment refused');
    await pump.stop();
  });
});

describe('inFlightProbe', () => {
  it('measures the full pipeline: the first inFlight submissions (the fill) are not counted', async () => {
    // The first wave takes 200 ms (a pipeline filling up), every later submission 2 ms. Counting from
    // the first send would give at most 4 per 200 ms (20/s) for a 40 ms window; the steady state is
    // two orders of magnitude faster. The bound leaves room for a loaded machine's timers.
    let started = 0;
    const submit = () => new Promise<void>((resolve) => setTimeout(resolve, started++ < 4 ? 200 : 2));
    const rate = await inFlightProbe('fake', 4, submit).window(40);
    expect(started).toBeGreaterThan(8);
    expect(rate).toBeGreaterThan(100);
  });

  it('counts every completion when submissions finish in bursts larger than a step', async () => {
    // Submissions finish three at a time, every 2 ms (as a group commit or a coalesced record
    // delivers them), with 4 outstanding. Counting in steps of 4 would lose the rest of each burst
    // that completed a step: two bursts (6 completions) per step of 4 counted, a third too low.
    const waiting: (() => void)[] = [];
    let released = 0;
    const timer = setInterval(() => {
      for (const release of waiting.splice(0, 3)) (released++, release());
    }, 2);
    try {
      const submit = () => new Promise<void>((resolve) => waiting.push(resolve));
      const t0 = performance.now();
      const r0 = released;
      const rate = await inFlightProbe('bursts', 4, submit).window(120);
      const truth = (released - r0) / ((performance.now() - t0) / 1000);
      // The window misses the fill and the drain, where the release rate is the same; a loaded
      // machine's timers move both alike.
      expect(rate / truth).toBeGreaterThan(0.8);
      expect(rate / truth).toBeLessThan(1.25);
    } finally {
      clearInterval(timer);
    }
  });

  it('ends its window when the submissions never let a timer run (an inline stack: microtasks only)', async () => {
    let n = 0;
    const submit = async () => {
      n++;
    };
    const rate = await inFlightProbe('microtasks', 4, submit).window(20);
    expect(n).toBeGreaterThan(100);
    expect(rate).toBeGreaterThan(1000);
  });

  it('a submission failing during the window rejects it', async () => {
    let n = 0;
    const submit = async () => {
      await tick();
      if (++n === 50) throw new Error('payment refused');
    };
    await expect(inFlightProbe('failing', 2, submit).window(5_000)).rejects.toThrow('payment refused');
  });
});

describe('comparePaired', () => {
  /** A probe whose windows return the given rates in turn, logging each window. */
  const scripted = (name: string, rates: number[], log: string[]): Probe => {
    let i = 0;
    return {
      name,
      async window() {
        log.push(name);
        return rates[i++]!;
      },
    };
  };

  it('alternates the two sides, and reports the median of the paired ratios with their range', async () => {
    const log: string[] = [];
    // Warm-ups first (one each), then 5 pairs. The machine "drifts": both sides halve from pair 3 on,
    // so ratios of separate medians would mislead, while each pair still gives 50%, except one outlier.
    const base = scripted('raw', [1, 1000, 1000, 500, 500, 500], log);
    const fig = scripted('full', [1, 500, 500, 250, 400, 250], log);
    const c = await comparePaired('sign', 'native', fig, base, { pairs: 5, windowMs: 1, warmupMs: 1, goal: 0.6 });
    expect(log).toEqual(['raw', 'full', 'raw', 'full', 'full', 'raw', 'raw', 'full', 'full', 'raw', 'raw', 'full']);
    expect(c.ratio).toBeCloseTo(0.5);
    expect(c.ratioRange).toEqual({ min: 0.5, max: 0.8 });
    expect(c.figure.opsPerSec).toBe(400);
    expect(c.baseline.opsPerSec).toBe(500);
    expect(c.figure.repetitions).toBe(5);
    expect(c.goal).toBe(0.6);
  });
});

describe('formatTable', () => {
  it('shows each figure beside its baseline, the ratio with its range, and whether a goal is met', () => {
    const m = (name: string, opsPerSec: number): Measurement => ({ name, opsPerSec, spread: 0.1, repetitions: 5 });
    const row = (figure: Measurement, ratio: number, min: number, max: number): Comparison => ({
      suite: 'sign', provider: 'native', figure, baseline: m('raw', 1000), ratio, ratioRange: { min, max }, goal: 0.6,
    });
    const table = formatTable([row(m('full', 600), 0.6, 0.55, 0.65), row(m('one', 100), 0.1, 0.09, 0.11)]);
    expect(table).toMatch(/full\s+600\/s ±10%\s+raw\s+1,000\/s ±10%\s+60\.0% \(55\.0-65\.0\)\s+>=60% met/);
    expect(table).toMatch(/one .*10\.0% \(9\.0-11\.0\)\s+>=60% NOT met/);
  });
});
