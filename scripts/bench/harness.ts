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

/**
 * A probe that keeps `inFlight` submissions outstanding for the window, as that many concurrent
 * clients would, then lets them finish before the other side's window starts. It measures the
 * steady state: the clock starts once the first `inFlight` submissions have finished (the pipeline
 * is full), not when the first is sent. Counting from the first send charged every window with one
 * pipeline latency in which nothing can finish yet (about a tenth of a 200 ms window for a saturated
 * backend), while the work left in flight when the window ends is not counted either.
 */
export function inFlightProbe(name: string, inFlight: number, submit: () => Promise<unknown>): Probe {
  return {
    name,
    async window(ms) {
      const pump = new Pump(inFlight, submit);
      try {
        await pump.next(inFlight);
        return await loopProbe(name, () => pump.next(inFlight), { opsPerCall: inFlight }).window(ms);
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
 * Keeps `inFlight` submissions outstanding all the time; `next(n)` resolves once n more have finished.
 * A failed submission stops the pump and rejects (a benchmark payment must never fail).
 */
export class Pump {
  private done = 0;
  private running = 0;
  private stopped = false;
  private waiter: { target: number; resolve: () => void; reject: (err: unknown) => void } | undefined;
  private idle: (() => void) | undefined;

  constructor(
    private readonly inFlight: number,
    private readonly submit: () => Promise<unknown>,
  ) {}

  next(n: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiter = { target: this.done + n, resolve, reject };
      while (!this.stopped && this.running < this.inFlight) this.launch();
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
        this.waiter?.reject(err);
        this.waiter = undefined;
        if (this.running === 0) this.idle?.();
      },
    );
  }
}
