/**
 * Tiny benchmark harness. Figures are only ever reported as ratios against a baseline measured in
 * the same run, and measured in pairs: figure and baseline take turns in short windows (the order
 * alternating from pair to pair), each pair gives one ratio, and the row reports the median of those
 * ratios with their range. A machine shared with other work drifts by tens of percent within a
 * minute; two measurements taken one after the other see different machines, a pair of adjacent
 * windows nearly the same one. The rates themselves are reported too: median and spread of the
 * windows.
 */
export interface Measurement {
  name: string;
  /** Median operations per second over the repetitions. */
  opsPerSec: number;
  /** (max - min) / median of the repetition rates, as a fraction. */
  spread: number;
  repetitions: number;
  /** Optional bytes per operation, for throughput figures. */
  bytesPerOp?: number;
}

export const QUICK = process.env.BENCH_QUICK === '1';

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export interface Comparison {
  suite: string;
  provider: string;
  figure: Measurement;
  baseline: Measurement;
  /** Median of the paired ratios figure/baseline. */
  ratio: number;
  /** Lowest and highest paired ratio. */
  ratioRange: { min: number; max: number };
  /** The ratio this figure should reach (docs/BENCHMARKS.md), where a goal is set. */
  goal?: number;
}

/** One side of a paired measurement. */
export interface Probe {
  readonly name: string;
  readonly bytesPerOp?: number;
  /** Run for about `ms`; the rate in operations per second. */
  window(ms: number): Promise<number>;
}

/** A probe that calls `fn` back to back (awaiting it when it returns a promise). */
export function loopProbe(name: string, fn: () => unknown, opts: { opsPerCall?: number; bytesPerOp?: number } = {}): Probe {
  const opsPerCall = opts.opsPerCall ?? 1;
  return {
    name,
    ...(opts.bytesPerOp !== undefined ? { bytesPerOp: opts.bytesPerOp } : {}),
    async window(ms) {
      let calls = 0;
      const start = performance.now();
      let now = start;
      while (now - start < ms) {
        const r = fn();
        if (r instanceof Promise) await r;
        calls++;
        now = performance.now();
      }
      return (calls * opsPerCall) / ((now - start) / 1000);
    },
  };
}

/** How long after the pipeline is full an in-flight window starts (see inFlightProbe). */
const START_GAP_MS = 1;

/**
 * A probe that keeps `inFlight` submissions outstanding for the window, as that many concurrent
 * clients would, then lets them finish before the other side's window starts. It measures the
 * steady state: the clock starts once the first `inFlight` submissions have finished (the pipeline
 * is full), not when the first is sent. Counting from the first send charged every window with one
 * pipeline latency in which nothing can finish yet (about a tenth of a 200 ms window for a saturated
 * backend), while the work left in flight when the window ends is not counted either.
 *
 * It counts the completions between two of them, each the first at or after a moment (see
 * Pump.mark), so both ends of the window fall at the same phase of a burst. Counting in steps of
 * `inFlight` (waiting for that many more, again and again) lost the completions a burst delivered
 * past each step. A saturated backend settles its payments a group commit at a time, and its rows
 * read ~7% low (median of paired old/new windows in one process); a coalescing channel answers a
 * record of calls at a time, but the sign rows' records divide their step, so they read the same.
 * The ends are found by the completions themselves, not by timers: an inline stack can run its
 * calls back to back in microtasks without ever letting a timer fire.
 */
export function inFlightProbe(name: string, inFlight: number, submit: () => Promise<unknown>): Probe {
  return {
    name,
    async window(ms) {
      const pump = new Pump(inFlight, submit);
      try {
        await pump.next(inFlight);
        // A moment later, not now: now falls inside the burst that completed the fill.
        const start = await pump.mark(performance.now() + START_GAP_MS);
        const end = await pump.mark(start.at + ms);
        return (end.completed - start.completed) / ((end.at - start.at) / 1000);
      } finally {
        await pump.stop();
      }
    },
  };
}

export interface PairOptions {
  /** The ratio this row should reach (docs/BENCHMARKS.md). */
  goal?: number;
  /** Pairs of windows (default 7; BENCH_QUICK=1: 3). */
  pairs?: number;
  /** Length of each window in ms (default 200; BENCH_QUICK=1: 60). */
  windowMs?: number;
  /** Warm-up window of each side first, in ms (default 150; BENCH_QUICK=1: 30). */
  warmupMs?: number;
  onProgress?: (text: string) => void;
}

function measurementOf(probe: Probe, rates: number[]): Measurement {
  const m = median(rates);
  const out: Measurement = { name: probe.name, opsPerSec: m, spread: (Math.max(...rates) - Math.min(...rates)) / m, repetitions: rates.length };
  if (probe.bytesPerOp !== undefined) out.bytesPerOp = probe.bytesPerOp;
  return out;
}

/** Measure `figure` against `baseline` in alternating windows; the row's ratio is the median paired ratio. */
export async function comparePaired(suite: string, provider: string, figure: Probe, baseline: Probe, opts: PairOptions = {}): Promise<Comparison> {
  const pairs = opts.pairs ?? (QUICK ? 3 : 7);
  const windowMs = opts.windowMs ?? (QUICK ? 60 : 200);
  const warmupMs = opts.warmupMs ?? (QUICK ? 30 : 150);
  await baseline.window(warmupMs);
  await figure.window(warmupMs);
  const f: number[] = [];
  const b: number[] = [];
  const ratios: number[] = [];
  for (let i = 0; i < pairs; i++) {
    // Alternate which side goes first, so a trend within a pair favours neither.
    let fr: number;
    let br: number;
    if (i % 2 === 0) {
      br = await baseline.window(windowMs);
      fr = await figure.window(windowMs);
    } else {
      fr = await figure.window(windowMs);
      br = await baseline.window(windowMs);
    }
    f.push(fr);
    b.push(br);
    ratios.push(fr / br);
    opts.onProgress?.(`${figure.name} vs ${baseline.name}: pair ${i + 1}/${pairs}, ratio ${(ratios[i]! * 100).toFixed(1)}%`);
  }
  const c: Comparison = {
    suite, provider, figure: measurementOf(figure, f), baseline: measurementOf(baseline, b),
    ratio: median(ratios), ratioRange: { min: Math.min(...ratios), max: Math.max(...ratios) },
  };
  if (opts.goal !== undefined) c.goal = opts.goal;
  return c;
}

/** Goals of docs/BENCHMARKS.md, as ratios to the same-run baseline (native provider only). */
export const GOALS = {
  sign: 0.6,
  channelRecord: 0.8,
  storage: 0.5,
  backend: 0.8,
} as const;

function fmtRate(m: Measurement): string {
  const rate = m.opsPerSec >= 100 ? Math.round(m.opsPerSec).toLocaleString('en-US') : m.opsPerSec.toFixed(1);
  const mbps = m.bytesPerOp ? ` (${((m.opsPerSec * m.bytesPerOp) / 1e6).toFixed(1)} MB/s)` : '';
  return `${rate}/s${mbps} ±${(m.spread * 100).toFixed(0)}%`;
}

/** Plain-text table of comparisons. */
export function formatTable(rows: Comparison[]): string {
  const header = ['suite', 'provider', 'figure', 'rate (median ±spread)', 'baseline', 'rate (median ±spread)', 'ratio (range)', 'goal'];
  const goal = (r: Comparison) => (r.goal === undefined ? '' : `>=${Math.round(r.goal * 100)}% ${r.ratio >= r.goal ? 'met' : 'NOT met'}`);
  const pct = (x: number) => (x * 100).toFixed(1);
  const ratio = (r: Comparison) => `${pct(r.ratio)}% (${pct(r.ratioRange.min)}-${pct(r.ratioRange.max)})`;
  const body = rows.map((r) => [r.suite, r.provider, r.figure.name, fmtRate(r.figure), r.baseline.name, fmtRate(r.baseline), ratio(r), goal(r)]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

/** What every suite module exports. */
export interface BenchSuite {
  name: string;
  description: string;
  run(ctx: { providers: ('noble' | 'native')[]; progress: (text: string) => void }): Promise<Comparison[]>;
}

/**
 * Keeps `inFlight` submissions outstanding all the time; `next(n)` resolves once n more have finished,
 * `mark(t)` at the first completion at or after time t (call both while it runs). A failed submission
 * stops the pump and rejects both (a benchmark payment must never fail).
 */
export class Pump {
  private done = 0;
  private running = 0;
  private stopped = false;
  private waiter: { target: number; resolve: () => void; reject: (err: unknown) => void } | undefined;
  private marker: { at: number; resolve: (m: { completed: number; at: number }) => void; reject: (err: unknown) => void } | undefined;
  private failure: { err: unknown } | undefined;
  private idle: (() => void) | undefined;

  constructor(
    private readonly inFlight: number,
    private readonly submit: () => Promise<unknown>,
  ) {}

  next(n: number): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.failure) return reject(this.failure.err);
      this.waiter = { target: this.done + n, resolve, reject };
      while (!this.stopped && this.running < this.inFlight) this.launch();
    });
  }

  /**
   * The first completion at or after `at` (a performance.now() time): its time, and how many had
   * finished before it. Two marks bracket whole bursts of completions: each is the first of one.
   */
  mark(at: number): Promise<{ completed: number; at: number }> {
    return new Promise((resolve, reject) => {
      if (this.failure) reject(this.failure.err);
      else this.marker = { at, resolve, reject };
    });
  }

  /** Stop starting new submissions and wait for the outstanding ones. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.running > 0) await new Promise<void>((resolve) => (this.idle = resolve));
  }

  private launch(): void {
    this.running++;
    this.submit().then(
      () => {
        this.running--;
        if (this.marker) {
          const now = performance.now();
          if (now >= this.marker.at) {
            const m = this.marker;
            this.marker = undefined;
            m.resolve({ completed: this.done, at: now });
          }
        }
        this.done++;
        if (this.waiter && this.done >= this.waiter.target) {
          const w = this.waiter;
          this.waiter = undefined;
          w.resolve();
        }
        if (!this.stopped) this.launch();
        else if (this.running === 0) this.idle?.();
      },
      (err: unknown) => {
        this.running--;
        this.stopped = true;
        this.failure ??= { err };
        this.waiter?.reject(err);
        this.waiter = undefined;
        this.marker?.reject(err);
        this.marker = undefined;
        if (this.running === 0) this.idle?.();
      },
    );
  }
}
