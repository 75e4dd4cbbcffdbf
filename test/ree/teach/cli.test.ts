/** `tee-sim teach --port 0` as a user starts it: prints the URL, serves the page and the API, stops on SIGTERM. */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../../..');
const dir = mkdtempSync(join(tmpdir(), 'tee-sim-teach-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('tee-sim teach', () => {
  it('prints a 127.0.0.1 URL, serves a run, and exits cleanly on SIGTERM', async () => {
    const child = spawn(process.execPath, [join(ROOT, 'bin/tee-sim.mjs'), '--data', join(dir, 'data'), 'teach', '--port', '0'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
    const url = await new Promise<string>((done, fail) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /http:\/\/127\.0\.0\.1:\d+\//.exec(out);
        if (m) done(m[0]);
      });
      child.on('exit', () => fail(new Error(`teach exited early: ${err}`)));
    });
    try {
      expect((await fetch(url)).status).toBe(200);
      const res = await fetch(new URL('/api/run', url), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ flow: 'online', attack: 'alter-amount' }) });
      const body = (await res.json()) as { outcome: { status: string; code: string } };
      expect(body.outcome).toMatchObject({ status: 'rejected', code: 'SECURITY' });
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    expect(err).toBe('');
  }, 60_000);

  it('refuses a bad port with a code', async () => {
    const child = spawn(process.execPath, [join(ROOT, 'bin/tee-sim.mjs'), 'teach', '--port', '99999'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((done) => child.on('exit', done));
    expect(code).toBe(1);
    expect(err).toMatch(/BAD_PARAMETERS/);
  }, 30_000);
});
