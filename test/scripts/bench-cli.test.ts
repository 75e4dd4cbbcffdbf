/** The `npm run bench` command line: help, and bad usage refused with exit code 2 before any suite runs. */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));

function bench(...args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/bench.ts', ...args], { cwd: root, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('bench command line', () => {
  it('prints its usage, options and environment with --help', () => {
    const r = bench('--help');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Usage: bench/);
    expect(r.stdout).toMatch(/--provider <name>/);
    expect(r.stdout).toMatch(/--json <file>/);
    expect(r.stdout).toMatch(/BENCH_QUICK=1/);
    expect(r.stdout).not.toMatch(/child-rows/);
  });

  it.each([
    [['--bogus'], /unknown option '--bogus'/],
    [['nosuite'], /unknown suite "nosuite" \(known: channel, storage, sign, backend\)/],
    [['--provider', 'openssl'], /Allowed choices are native, noble/],
    [['--json'], /argument missing/],
  ])('refuses %j with exit code 2 and says why', (args, message) => {
    const r = bench(...args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stdout).toBe('');
  });
});
