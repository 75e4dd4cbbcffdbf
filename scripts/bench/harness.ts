/**
 * Tiny benchmark harness: warm up, then several timed repetitions, report the median rate and the
 * spread. Figures are only ever reported as ratios against a baseline measured in the same run.
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

export interface MeasureOptions {
  /** Time per repetition in ms (default 300; BENCH_QUICK=1 makes it 60). */
  repetitionMs?: number;
  repetitions?: number;
  warmupMs?: number;
  bytesPerOp?: number;
  /** Run `batch` operations per call of fn when fn does many at once (e.g. concurrent calls). */
  opsPerCall?: number;
  onProgress?: (text: string) => void;
}

export const QUICK = process.env.BENCH_QUICK === '1';

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Measure an (async or sync) operation. */
export async function measure(name: string, fn: () => unknown | Promise<unknown>, opts: MeasureOptions = {}): Promise<Measurement> {
  const repetitionMs = opts.repetitionMs ?? (QUICK ? 60 : 300);
  const repetitions = opts.repetitions ?? (QUICK ? 3 : 5);
  const warmupMs = opts.warmupMs ?? (QUICK ? 30 : 150);
  const opsPerCall = opts.opsPerCall ?? 1;
  const runFor = async (ms: number): Promise<number> => {
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
  };
  await runFor(warmupMs);
  const rates: number[] = [];
  for (let i = 0; i < repetitions; i++) {
    rates.push(await runFor(repetitionMs));
    opts.onProgress?.(`${name}: repetition ${i + 1}/${repetitions}`);
  }
  const m = median(rates);
  const result: Measurement = { name, opsPerSec: m, spread: (Math.max(...rates) - Math.min(...rates)) / m, repetitions };
  if (opts.bytesPerOp !== undefined) result.bytesPerOp = opts.bytesPerOp;
  return result;
}

export interface Comparison {
  suite: string;
  provider: string;
  figure: Measurement;
  baseline: Measurement;
  /** figure / baseline rate. */
  ratio: number;
  /** The ratio this figure should reach (docs/BENCHMARKS.md), where a goal is set. */
  goal?: number;
}

export function compare(suite: string, provider: string, figure: Measurement, baseline: Measurement, goal?: number): Comparison {
  const c: Comparison = { suite, provider, figure, baseline, ratio: figure.opsPerSec / baseline.opsPerSec };
  if (goal !== undefined) c.goal = goal;
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
  const header = ['suite', 'provider', 'figure', 'rate (median ±spread)', 'baseline', 'rate (median ±spread)', 'ratio', 'goal'];
  const goal = (r: Comparison) => (r.goal === undefined ? '' : `>=${Math.round(r.goal * 100)}% ${r.ratio >= r.goal ? 'met' : 'NOT met'}`);
  const body = rows.map((r) => [r.suite, r.provider, r.figure.name, fmtRate(r.figure), r.baseline.name, fmtRate(r.baseline), `${(r.ratio * 100).toFixed(1)}%`, goal(r)]);
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

/** Rate of `submit` with `inFlight` outstanding all the time. */
export async function inFlightRate(name: string, inFlight: number, submit: () => Promise<unknown>, progress: (t: string) => void): Promise<Measurement> {
  const pump = new Pump(inFlight, submit);
  try {
    return await measure(name, () => pump.next(inFlight), { onProgress: progress, opsPerCall: inFlight });
  } finally {
    await pump.stop();
  }
}
