/**
 * `npm run bench [-- SUITE ...] [--json FILE] [--provider noble|native]`: runs benchmark suites and
 * prints one table: each figure (median rate ± spread over the windows) beside its same-run
 * baseline, the paired ratio, and the goal where docs/BENCHMARKS.md sets one. Progress goes to
 * stderr. `BENCH_QUICK=1` makes a fast, rougher pass. Suites live in scripts/bench/<name>.ts.
 *
 * Each suite runs in a process of its own (a fresh heap, no caches or threads left by the suite
 * before it), as benchmark harnesses fork per benchmark; the parent collects the rows.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { availableParallelism, tmpdir } from 'node:os';
import { Command, CommanderError, Option } from 'commander';
import type { ProviderName } from '../src/crypto/provider.js';
import { formatTable, QUICK, type BenchSuite, type Comparison } from './bench/harness.js';

const KNOWN = ['channel', 'storage', 'sign', 'backend'] as const;
/** Both providers, in the order the table lists them. */
const PROVIDER_ORDER: readonly ProviderName[] = ['native', 'noble'];

interface BenchArgs {
  suites: string[];
  providers: ProviderName[];
  jsonFile?: string;
  /** Internal: run the one suite named and write its rows to this file (see runSuite). */
  childRows?: string;
}

/** Parse the command line; a number is the exit code to stop with (0 after --help, 2 for bad usage). */
function parseArgs(argv: string[]): BenchArgs | number {
  const program = new Command('bench')
    .usage('[SUITE...] [--provider native|noble] [--json FILE]   (npm run bench -- ...)')
    .description('Run benchmark suites and print each figure beside its same-run baseline and the paired ratio (docs/BENCHMARKS.md).')
    .argument('[suites...]', `suites to run, each in a process of its own (default: all of ${KNOWN.join(', ')})`)
    .addOption(new Option('--provider <name>', 'run one crypto provider only (default: both)').choices(PROVIDER_ORDER))
    .option('--json <file>', 'also write the rows, date, Node version and core count as JSON')
    .addOption(new Option('--child-rows <file>').hideHelp())
    .addHelpText('after', '\nEnvironment: BENCH_QUICK=1 makes a fast, rougher pass (3 pairs of 60 ms windows instead of 7 of 200 ms).\nProgress goes to stderr, the table to stdout.')
    .exitOverride()
    .allowExcessArguments(false);
  try {
    program.parse(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    throw err;
  }
  const opts = program.opts<{ provider?: ProviderName; json?: string; childRows?: string }>();
  const suites = program.processedArgs[0] as string[];
  for (const s of suites) {
    if (!(KNOWN as readonly string[]).includes(s)) {
      process.stderr.write(`bench: unknown suite "${s}" (known: ${KNOWN.join(', ')})\n`);
      return 2;
    }
  }
  return {
    suites: suites.length ? suites : [...KNOWN],
    providers: opts.provider ? [opts.provider] : [...PROVIDER_ORDER],
    ...(opts.json !== undefined ? { jsonFile: opts.json } : {}),
    ...(opts.childRows !== undefined ? { childRows: opts.childRows } : {}),
  };
}

async function main(): Promise<number> {
  const parsed = parseArgs(process.argv.slice(2));
  if (typeof parsed === 'number') return parsed;
  const { suites: chosen, providers, jsonFile, childRows } = parsed;
  if (childRows) {
    const mod = (await import(`./bench/${chosen[0]!}.js`)) as { suite: BenchSuite };
    const progress = (text: string) => process.stderr.write(`   ${text}\n`);
    writeFileSync(childRows, JSON.stringify(await mod.suite.run({ providers, progress })));
    return 0;
  }
  const rows: Comparison[] = [];
  const scratch = mkdtempSync(join(tmpdir(), 'tee-sim-bench-rows-'));
  try {
    for (const name of chosen) {
      const mod = (await import(`./bench/${name}.js`)) as { suite: BenchSuite };
      process.stderr.write(`== ${mod.suite.name}: ${mod.suite.description}\n`);
      const started = performance.now();
      rows.push(...(await runSuite(name, providers, join(scratch, `${name}.json`))));
      process.stderr.write(`== ${mod.suite.name}: done in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  process.stdout.write(formatTable(rows) + '\n');
  if (jsonFile) {
    writeFileSync(jsonFile, JSON.stringify({ date: new Date().toISOString(), node: process.version, cores: availableParallelism(), quick: QUICK, rows }, null, 2));
    process.stderr.write(`bench: wrote ${jsonFile}\n`);
  }
  return 0;
}

/** Run one suite in a child process (this script, the same Node flags and loader); its rows. */
function runSuite(name: string, providers: readonly ProviderName[], rowsFile: string): Promise<Comparison[]> {
  const args = [...process.execArgv, fileURLToPath(import.meta.url), name, '--child-rows', rowsFile];
  if (providers.length === 1) args.push('--provider', providers[0]!);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (code !== 0) reject(new Error(`bench: suite ${name} failed (${signal ?? `exit ${code}`})`));
      else resolve(JSON.parse(readFileSync(rowsFile, 'utf8')) as Comparison[]);
    });
  });
}

process.exitCode = await main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  return 1;
});
