import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync, rmSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sha256 } from '@noble/hashes/sha2.js';
import { describe, expect, it } from 'vitest';
import { toHex } from '../../src/common/bytes.js';
import { siblingModule, STALE_BUNDLE_MS, startModuleWorker, withoutLoaderFlags, workerModuleUrl } from '../../src/common/worker-module.js';

const FIXTURE = new URL('../support/echo-worker.ts', import.meta.url);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

// Run in a child started with process-wide V8 flags, which Node refuses in a worker's execArgv.
const CHILD = `
import { once } from 'node:events';
import { startModuleWorker } from './src/common/worker-module.ts';
const worker = startModuleWorker(new URL('./test/support/echo-worker.ts', 'file://' + process.cwd() + '/'));
worker.postMessage(new Uint8Array(3));
const [answer] = await once(worker, 'message');
await worker.terminate();
console.log(JSON.stringify({ parent: process.execArgv, worker: answer.execArgv }));
`;

describe('worker modules from TypeScript sources', () => {
  it('bundles a .ts module once per process into plain JavaScript, packages left external', () => {
    const url = workerModuleUrl(FIXTURE);
    expect(url.protocol).toBe('file:');
    expect(url.pathname).toMatch(/\/node_modules\/\.cache\/tee-sim\/echo-worker-[0-9a-f]{16}\.mjs$/);
    expect(workerModuleUrl(FIXTURE).href).toBe(url.href);
    const text = readFileSync(fileURLToPath(url), 'utf8');
    expect(text).toContain('@noble/hashes/sha2.js'); // imported, not copied in
    expect(text).not.toMatch(/:\s*Uint8Array\)/); // no TypeScript left
  });

  it('writes a bundle again if it was pruned, and prunes this module\'s stale bundles only', () => {
    const url = workerModuleUrl(FIXTURE);
    const dir = dirname(fileURLToPath(url));
    const stale = join(dir, 'echo-worker-0000000000000000.mjs');
    const staleTemporary = join(dir, 'echo-worker-0000000000000000.mjs.123.456.tmp');
    const recent = join(dir, 'echo-worker-1111111111111111.mjs');
    const otherModule = join(dir, 'echo-worker-extra-0000000000000000.mjs');
    const planted = [stale, staleTemporary, recent, otherModule];
    try {
      for (const file of planted) writeFileSync(file, '// planted by the test');
      const old = (Date.now() - STALE_BUNDLE_MS - 60_000) / 1000;
      for (const file of [stale, staleTemporary, otherModule]) utimesSync(file, old, old);
      unlinkSync(fileURLToPath(url)); // as another process pruning it would
      const again = workerModuleUrl(FIXTURE);
      expect(again.href).toBe(url.href);
      expect(existsSync(again)).toBe(true);
      expect([stale, staleTemporary, recent, otherModule].map((file) => existsSync(file))).toEqual([false, false, true, true]);
    } finally {
      for (const file of planted) rmSync(file, { force: true });
    }
  });

  it('names a sibling module with the caller\'s own extension', () => {
    expect(siblingModule('verify-worker', 'file:///app/src/ree/backend/verify-pool.ts').href).toBe('file:///app/src/ree/backend/verify-worker.ts');
    expect(siblingModule('verify-worker', 'file:///app/dist/ree/backend/verify-pool.js').href).toBe('file:///app/dist/ree/backend/verify-worker.js');
  });

  it('leaves a .js module as it is', () => {
    const js = new URL('./some-module.js', import.meta.url);
    expect(workerModuleUrl(js)).toBe(js);
  });

  it('passes the parent\'s flags on without its module loaders', () => {
    expect(withoutLoaderFlags(['--import', 'tsx', '--cpu-prof', '--require=./a.cjs', '-r', 'b', '--conditions', 'node', '--loader=x', '--experimental-loader', 'y', '--input-type=module', '-e', 'code()', '--inspect', '-p', '1'])).toEqual([
      '--cpu-prof',
      '--conditions',
      'node',
      '--inspect',
    ]);
  });

  it('starts a worker from a parent run with process-wide V8 flags, leaving only those flags out', () => {
    const flags = ['--max-semi-space-size=4', '--stack-size=2000', '--no-warnings'];
    const child = spawnSync(process.execPath, [...flags, '--import', 'tsx', '--input-type=module', '-e', CHILD], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 30_000,
      killSignal: 'SIGKILL',
    });
    expect(child.status, child.stderr).toBe(0);
    const { parent, worker } = JSON.parse(child.stdout.trim().split('\n').pop()!) as { parent: string[]; worker: string[] };
    expect(parent).toEqual(expect.arrayContaining(flags));
    expect(worker).toEqual(['--no-warnings']);
  }, 60_000);

  it('runs the worker without tsx or inherited loader flags, and it answers', async () => {
    const worker = startModuleWorker(FIXTURE);
    try {
      const message = new TextEncoder().encode('hello worker');
      worker.postMessage(message);
      const [answer] = (await once(worker, 'message')) as [{ digest: string; execArgv: string[] }];
      expect(answer.digest).toBe(toHex(sha256(message)));
      expect(answer.execArgv).toEqual(withoutLoaderFlags(process.execArgv));
      expect(answer.execArgv.join(' ')).not.toMatch(/--import|--require|--loader|tsx/);
    } finally {
      await worker.terminate();
    }
  });
});
