/**
 * The attack catalogue and its runner. `runCatalogue` runs the selected scenarios against a shared
 * hostile world (plus private worlds for destructive ones), then scans everything the REE saw in
 * every world for every secret, and returns rows for `formatReport`.
 */
import { TeeError } from '../../common/errors.js';
import { createAdversary, type Adversary, type AdversaryOptions } from './adversary.js';
import type { LeakFinding } from './leak-scanner.js';
import type { Scenario, ScenarioContext, Verdict } from './scenario.js';
import { channelScenarios } from './scenarios/channel.js';
import { demoScenarios } from './scenarios/demo.js';
import { fuzzScenarios } from './scenarios/fuzz.js';
import { paymentScenarios } from './scenarios/payments.js';
import { storageScenarios } from './scenarios/storage.js';
import { tearingScenarios } from './scenarios/tearing.js';
import { teeScenarios } from './scenarios/tee.js';

export const CATALOGUE: readonly Scenario[] = [...channelScenarios, ...teeScenarios, ...storageScenarios, ...paymentScenarios, ...tearingScenarios, ...demoScenarios, ...fuzzScenarios];

export const LEAK_SCAN_NAME = 'secret-leak-scan';

export function scenarioNames(): string[] {
  return CATALOGUE.map((s) => s.name);
}

/** Scenarios by name (each entry may be a comma list); an unknown name is a BAD_PARAMETERS error listing the known ones. */
export function selectScenarios(only: readonly string[] | undefined): Scenario[] {
  if (!only || only.length === 0) return [...CATALOGUE];
  const names = only.flatMap((n) => n.split(',')).map((n) => n.trim()).filter((n) => n.length > 0);
  const unknown = names.filter((n) => !CATALOGUE.some((s) => s.name === n));
  if (unknown.length > 0) throw new TeeError('BAD_PARAMETERS', `unknown scenario ${unknown.join(', ')}; known: ${scenarioNames().join(', ')}`, 'API');
  return CATALOGUE.filter((s) => names.includes(s.name));
}

export interface ScenarioRow {
  name: string;
  attack: string;
  expected: string;
  observed: string;
  verdict: Verdict;
  ms: number;
}

export interface CatalogueReport {
  rows: ScenarioRow[];
  passed: number;
  failed: number;
  knownLimits: string[];
  bytesScanned: number;
  secretsKnown: number;
  leaks: LeakFinding[];
  fuzzCases: number;
  durationMs: number;
  full: boolean;
}

export interface RunOptions {
  only?: readonly string[];
  full?: boolean;
  /** Called before and after each scenario (the CLI prints to stderr). */
  onProgress?: (event: { phase: 'start' | 'done'; name: string; index: number; total: number; row?: ScenarioRow }) => void;
  /** Per-scenario time limit (default 120 s). */
  timeoutMs?: number;
}

function withTimeout<T>(p: Promise<T>, ms: number, name: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TeeError('BUSY', `${name}: timed out after ${ms} ms`, 'API')), ms);
  });
  return Promise.race([p, limit]).finally(() => clearTimeout(timer));
}

export async function runCatalogue(options: RunOptions = {}): Promise<CatalogueReport> {
  const started = Date.now();
  const scenarios = selectScenarios(options.only);
  const full = options.full ?? false;
  const worlds: Adversary[] = [];
  let shared: Promise<Adversary> | undefined;
  let fuzzCases = 0;
  let bytesScanned = 0;
  let secretsKnown = 0;
  const leaks: LeakFinding[] = [];
  const retire = async (adv: Adversary): Promise<void> => {
    const r = await adv.scanLeaks();
    bytesScanned += r.bytesScanned;
    secretsKnown += r.secrets;
    leaks.push(...r.leaks);
    await adv.close();
  };

  const rows: ScenarioRow[] = [];
  try {
    for (const [index, s] of scenarios.entries()) {
      options.onProgress?.({ phase: 'start', name: s.name, index, total: scenarios.length });
      const own: Adversary[] = [];
      const ctx: ScenarioContext = {
        adv: () => (shared ??= createAdversary().then((a) => (worlds.push(a), a))),
        fresh: async (o?: AdversaryOptions) => {
          const a = await createAdversary(o);
          own.push(a);
          return a;
        },
        full,
        fuzzRuns: (quick, long) => (full ? long : quick),
        countCases: (n) => (fuzzCases += n),
        addLeakScan: (r) => {
          bytesScanned += r.bytesScanned;
          secretsKnown += r.secrets;
          leaks.push(...r.leaks);
        },
      };
      const t0 = Date.now();
      let row: ScenarioRow;
      try {
        const r = await withTimeout(s.run(ctx), options.timeoutMs ?? 120_000, s.name);
        const verdict: Verdict = r.knownLimit ? 'known-limit' : r.defended ? 'defended' : 'FAILED';
        row = { name: s.name, attack: s.attack, expected: s.expectedDefence, observed: r.observed, verdict, ms: Date.now() - t0 };
      } catch (err) {
        const what = err instanceof TeeError ? `${err.code}: ${err.message}` : err instanceof Error ? `${err.name}: ${err.message}` : String(err);
        row = { name: s.name, attack: s.attack, expected: s.expectedDefence, observed: `scenario crashed (${what.slice(0, 160)})`, verdict: 'FAILED', ms: Date.now() - t0 };
      }
      for (const a of own) await retire(a).catch(() => undefined);
      rows.push(row);
      options.onProgress?.({ phase: 'done', name: s.name, index, total: scenarios.length, row });
    }
  } finally {
    for (const a of worlds) await retire(a).catch(() => undefined);
  }

  rows.push({
    name: LEAK_SCAN_NAME,
    attack: 'read every REE-visible byte of every world (frames, Client API, HTTP, QR, LevelDB files, logs)',
    expected: 'no private key, PIN, PUK, channel or storage key in any encoding',
    observed: `${bytesScanned} bytes scanned for ${secretsKnown} secrets: ${leaks.length === 0 ? 'zero secrets found' : `${leaks.length} FOUND (${leaks.slice(0, 3).map((l) => `${l.secret} in ${l.source} as ${l.encoding}`).join('; ')})`}`,
    verdict: leaks.length === 0 ? 'defended' : 'FAILED',
    ms: 0,
  });
  const failed = rows.filter((r) => r.verdict === 'FAILED').length;
  return {
    rows, passed: rows.length - failed, failed, knownLimits: rows.filter((r) => r.verdict === 'known-limit').map((r) => r.name),
    bytesScanned, secretsKnown, leaks, fuzzCases, durationMs: Date.now() - started, full,
  };
}

/** The text report: one row per scenario, then known limits and figures, ending with `N passed, N failed`. */
export function formatReport(report: CatalogueReport): string {
  const cut = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);
  const head = ['scenario', 'attack', 'expected', 'observed', 'verdict'];
  const cells = report.rows.map((r) => [r.name, cut(r.attack, 60), cut(r.expected, 60), cut(r.observed, 90), r.verdict]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => `| ${c.map((x, i) => x.padEnd(widths[i]!)).join(' | ')} |`;
  const out = [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...cells.map(line), ''];
  if (report.knownLimits.length > 0) out.push(`known limits (counted as passed): ${report.knownLimits.join(', ')}`);
  out.push(`leak scan: ${report.bytesScanned} bytes scanned, ${report.leaks.length === 0 ? 'zero secrets found' : `${report.leaks.length} secrets found`}`);
  out.push(`fuzz cases: ${report.fuzzCases} (${report.full ? 'full' : 'quick'} mode); run time ${(report.durationMs / 1000).toFixed(1)} s`);
  out.push(`${report.passed} passed, ${report.failed} failed`);
  return out.join('\n');
}
