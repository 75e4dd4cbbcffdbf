/** The shape of one attack scenario and the context the runner gives it. */
import { TeeError } from '../../common/errors.js';
import type { Adversary, AdversaryOptions } from './adversary.js';
import type { LeakReport } from './leak-scanner.js';

export type Verdict = 'defended' | 'FAILED' | 'known-limit';

export interface ScenarioResult {
  observed: string;
  defended: boolean;
  /** A documented limit of the design (reported, counted as passed). */
  knownLimit?: boolean;
}

export interface ScenarioContext {
  /** The shared world (created once per run). */
  adv(): Promise<Adversary>;
  /** A private world for destructive attacks (restarts, rollbacks); closed and leak-scanned by the runner. */
  fresh(options?: AdversaryOptions): Promise<Adversary>;
  /** `--full`: the long fuzzing runs. */
  full: boolean;
  /** Fuzz case budget for this scenario. */
  fuzzRuns(quick: number, full: number): number;
  /** Count fuzz cases actually run (for the report). */
  countCases(n: number): void;
  /** Add a leak scan the scenario ran itself (outside the adversary worlds) to the run's totals. */
  addLeakScan(report: LeakReport): void;
}

export interface Scenario {
  name: string;
  attack: string;
  expectedDefence: string;
  run(ctx: ScenarioContext): Promise<ScenarioResult>;
}

/** Run `attempt` and describe how it failed: 'CODE' for a TeeError, 'no error' if it succeeded. */
export async function outcome(attempt: () => Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await attempt();
    return { code: 'no error', message: '' };
  } catch (err) {
    if (err instanceof TeeError) return { code: err.code, message: err.message };
    return { code: 'non-TeeError', message: err instanceof Error ? err.name : typeof err };
  }
}

/** Defended iff the attempt failed with one of `codes`. */
export async function expectRefused(attempt: () => Promise<unknown>, codes: readonly string[], what = ''): Promise<ScenarioResult> {
  const o = await outcome(attempt);
  return { observed: `${what ? `${what}: ` : ''}${o.code}${o.message ? ` (${o.message.slice(0, 80)})` : ''}`, defended: codes.includes(o.code) };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
