/**
 * The command line as a user runs it (`node bin/tee-sim.mjs ...` in child processes): kmc init,
 * device provision and info, one-line errors with a code and exit 1, and `demo online --json`
 * with its backend child process, leaving no temp dir or process behind.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodePublicMatrix } from '../../../src/cpk/index.js';

const BIN = fileURLToPath(new URL('../../../bin/tee-sim.mjs', import.meta.url));

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { timeout: 60_000, maxBuffer: 32 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

describe('tee-sim kmc and device', () => {
  let data: string;
  beforeAll(async () => {
    data = await mkdtemp(join(tmpdir(), 'tee-sim-cli-'));
  });
  afterAll(async () => rm(data, { recursive: true, force: true }));

  it('device provision before kmc init: one line with a code, exit 1', async () => {
    const r = await run(['--data', data, 'device', 'provision', '--user', 'alice', '--subdomain', 'retail']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n').filter((l) => l.startsWith('tee-sim:'))).toEqual(['tee-sim: ITEM_NOT_FOUND: no KMC in this data dir: run "tee-sim kmc init" first']);
  }, 30_000);

  it('kmc init creates the master key (0600) and publishes what backend serve loads; twice says it exists', async () => {
    const r = await run(['--data', data, 'kmc', 'init', '--rows', '8', '--cols', '8']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/generating the 8x8 plain matrix for retail/);
    expect((await stat(join(data, 'kmc', 'master.key'))).mode & 0o777).toBe(0o600);
    const kmcPublic = new Uint8Array(await readFile(join(data, 'kmc', 'kmc-public.bin')));
    expect(kmcPublic.length).toBe(33);
    const matrix = decodePublicMatrix(new Uint8Array(await readFile(join(data, 'kmc', 'public', 'retail.bin'))));
    expect(matrix).toMatchObject({ subdomainId: 'retail', rows: 8, cols: 8, mode: 'plain' });
    const again = await run(['--data', data, 'kmc', 'init', '--rows', '8', '--cols', '8']);
    expect(again.stdout).toMatch(/subdomain retail already exists/);
    const hardened = await run(['--data', data, 'kmc', 'init', '--subdomain', 'vip', '--rows', '8', '--cols', '8', '--hardened']);
    expect(hardened.code).toBe(0);
    expect(await readdir(join(data, 'kmc', 'public'))).toEqual(['retail.bin', 'vip.bin']);
  }, 60_000);

  it('device provision issues the key into the trusted key; info shows public data only', async () => {
    const r = await run(['--data', data, 'device', 'provision', '--user', 'alice', '--subdomain', 'retail', '--pin', '482913', '--offline-balance', '20000']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/public key: 0[23][0-9a-f]{64}/);
    expect(r.stdout).toMatch(/never left the key/);
    expect(r.stdout).toMatch(/offline balance: 200.00 CNY/);
    expect(r.stdout).not.toMatch(/482913/);
    const info = await run(['--data', data, 'device', 'info', '--user', 'alice']);
    expect(info.code).toBe(0);
    expect(info.stdout).toMatch(/identity alice@retail \(plain\)/);
    expect(info.stdout).toMatch(/offline: 200.00 CNY, counter 0/);
  }, 60_000);

  it('bad input: unknown subdomain, bad user id, bad PIN, unknown phone', async () => {
    const cases: [string[], RegExp][] = [
      [['device', 'provision', '--user', 'bob', '--subdomain', 'nowhere'], /^tee-sim: ITEM_NOT_FOUND: unknown subdomain nowhere/],
      [['device', 'provision', '--user', 'bad/user', '--subdomain', 'retail'], /^tee-sim: BAD_PARAMETERS: --user/],
      [['device', 'provision', '--user', 'bob', '--subdomain', 'retail', '--pin', '12'], /^tee-sim: BAD_PARAMETERS: --pin/],
      [['device', 'info', '--user', 'nobody'], /^tee-sim: ITEM_NOT_FOUND: no phone for nobody/],
      [['kmc', 'init', '--rows', 'many'], /^tee-sim: BAD_PARAMETERS: --rows/],
    ];
    const results = await Promise.all(cases.map(([args]) => run(['--data', data, ...args])));
    results.forEach((r, i) => {
      expect(r.code).toBe(1);
      expect(r.stderr.trim()).toMatch(cases[i]![1]);
    });
  }, 60_000);
});

describe('tee-sim demo', () => {
  it('demo online --json runs with a backend child process and prints JSON only', async () => {
    const r = await run(['demo', 'online', '--json']);
    expect(r.code).toBe(0);
    const parsed = JSON.parse(r.stdout) as { events: { lane: string; actor: string; text: string }[]; summary: { onlinePayments: number } };
    expect(parsed.summary.onlinePayments).toBe(1);
    expect(parsed.events.some((e) => /backend child process \(pid \d+\)/.test(e.text))).toBe(true);
    // Cleaned up: the temp data dir is gone and the backend child process has exited.
    const dir = /^data dir (\S+) \(temporary\)$/.exec(parsed.events.find((e) => e.text.startsWith('data dir '))?.text ?? '')?.[1];
    expect(dir).toBeDefined();
    await expect(stat(dir!)).rejects.toThrow();
    const pid = Number(/\(pid (\d+)\)/.exec(parsed.events.find((e) => /\(pid \d+\)/.test(e.text))!.text)![1]);
    expect(() => process.kill(pid, 0)).toThrow();
  }, 60_000);

  it('an unknown demo is one clear line', async () => {
    const r = await run(['demo', 'sideways']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toMatch(/^tee-sim: BAD_PARAMETERS: demo: expected one of both, online, offline, channel$/);
  }, 30_000);
});
