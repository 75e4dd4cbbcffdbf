/**
 * `npm run bench [-- SUITE ...] [--json FILE] [--provider noble|native]`: runs benchmark suites and
 * prints one table: each figure (median rate ± spread over the repetitions) beside its same-run
 * baseline, the ratio, and the goal where docs/BENCHMARKS.md sets one. Progress goes to stderr.
 * `BENCH_QUICK=1` makes a fast, rougher pass. Suites live in scripts/bench/<name>.ts.
 */
import { writeFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { availableParallelism } from 'node:os';
import { formatTable, QUICK, type BenchSuite, type Comparison } from './bench/harness.js';

const KNOWN = ['channel', 'storage', 'sign', 'backend'] as const;
const here = dirname(fileURLToPath(import.meta.url));

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  let jsonFile: string | undefined;
  let providers: ('noble' | 'native')[] = ['native', 'noble'];
  const suites: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--json') jsonFile = args[++i] ?? 'bench-results.json';
    else if (a === '--provider') {
      const p = args[++i];
      if (p !== 'noble' && p !== 'native') {
        process.stderr.write('bench: --provider takes noble or native\n');
        return 2;
      }
      providers = [p];
    } else if (a.startsWith('-')) {
      process.stderr.write(`bench: unknown option ${a}\n`);
      return 2;
    } else suites.push(a);
  }
  const chosen = suites.length ? suites : [...KNOWN];
  for (const s of chosen) {
    if (!(KNOWN as readonly string[]).includes(s)) {
      process.stderr.write(`bench: unknown suite "${s}" (known: ${KNOWN.join(', ')})\n`);
      return 2;
    }
  }
  const rows: Comparison[] = [];
  for (const name of chosen) {
    const file = join(here, 'bench', `${name}.ts`);
    if (!existsSync(file)) {
      process.stderr.write(`bench: suite "${name}" is not built yet, skipped\n`);
      continue;
    }
    const mod = (await import(`./bench/${name}.js`)) as { suite: BenchSuite };
    process.stderr.write(`== ${mod.suite.name}: ${mod.suite.description}\n`);
    const progress = (text: string) => process.stderr.write(`   ${text}\n`);
    const started = performance.now();
    rows.push(...(await mod.suite.run({ providers, progress })));
    process.stderr.write(`== ${mod.suite.name}: done in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
  }
  process.stdout.write(formatTable(rows) + '\n');
  if (jsonFile) {
    writeFileSync(jsonFile, JSON.stringify({ date: new Date().toISOString(), node: process.version, cores: availableParallelism(), quick: QUICK, rows }, null, 2));
    process.stderr.write(`bench: wrote ${jsonFile}\n`);
  }
  return 0;
}

process.exitCode = await main();
