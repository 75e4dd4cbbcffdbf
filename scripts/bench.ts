/**
 * `npm run bench [-- SUITE ...] [--json FILE] [--provider noble|native]`: runs benchmark suites and
 * prints each figure beside its same-run baseline as a ratio. Suites live in scripts/bench/<name>.ts.
 */
import { writeFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { formatTable, type BenchSuite, type Comparison } from './bench/harness.js';

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
    rows.push(...(await mod.suite.run({ providers, progress })));
  }
  process.stdout.write(formatTable(rows) + '\n');
  if (jsonFile) {
    writeFileSync(jsonFile, JSON.stringify({ date: new Date().toISOString(), node: process.version, rows }, null, 2));
    process.stderr.write(`bench: wrote ${jsonFile}\n`);
  }
  return 0;
}

process.exitCode = await main();
