import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { sha256 } from '@noble/hashes/sha2.js';
import { describe, expect, it } from 'vitest';
import { toHex } from '../../src/common/bytes.js';
import { startModuleWorker, withoutLoaderFlags, workerModuleUrl } from '../../src/common/worker-module.js';

const FIXTURE = new URL('../support/echo-worker.ts', import.meta.url);

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

  it('leaves a .js module as it is', () => {
    const js = new URL('./some-module.js', import.meta.url);
    expect(workerModuleUrl(js)).toBe(js);
  });

  it('passes the parent\'s flags on without its module loaders', () => {
    expect(withoutLoaderFlags(['--import', 'tsx', '--cpu-prof', '--require=./a.cjs', '-r', 'b', '--conditions', 'node', '--loader=x', '--experimental-loader', 'y', '--inspect'])).toEqual([
      '--cpu-prof',
      '--conditions',
      'node',
      '--inspect',
    ]);
  });

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
