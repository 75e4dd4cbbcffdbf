/**
 * Regression: on Node 20, a key made by generateKeyPairSync shares a lock with the finished generation
 * job; if the job is garbage-collected while that lock is held (the key being exported, say), the
 * job's destructor waits on the lock for ever and the process hangs — it stopped a full test run
 * mid-way. The native provider therefore makes keys from CSPRNG bytes and imports them. This runs
 * key generation and first use in a child process under constant garbage collection (a 1 MiB young
 * generation) and requires it to finish; with generateKeyPairSync it hung within seconds.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { PROVIDERS } from '../../src/crypto/index.js';
import { isP256Scalar } from '../../src/crypto/common.js';
import { retainedPrivateKeys } from '../../src/crypto/native.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

const CHILD = `
import { PROVIDERS } from './src/crypto/index.ts';
const p = PROVIDERS.native;
const message = new Uint8Array(48);
const end = Date.now() + 3000;
let n = 0;
while (Date.now() < end) {
  const a = p.generateKeyPair('p256');
  p.sign('p256', a.secretKey, message);
  const e = p.generateKeyPair('ed25519');
  p.sign('ed25519', e.secretKey, message);
  const x = p.generateKeyPair('x25519');
  const y = p.generateKeyPair('x25519');
  p.x25519(x.secretKey, y.publicKey);
  p.p256Ecdh(a.secretKey, p.generateKeyPair('p256').publicKey);
  n++;
}
console.log(JSON.stringify({ rounds: n }));
`;

describe('native key generation', () => {
  it('does not hang when garbage collection runs during key generation and first use', () => {
    const child = spawnSync(process.execPath, ['--max-semi-space-size=1', '--import', 'tsx', '--input-type=module', '-e', CHILD], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 30_000,
      killSignal: 'SIGKILL',
    });
    expect(child.signal, 'the child was killed: key generation hung').toBeNull();
    expect(child.status, child.stderr).toBe(0);
    const { rounds } = JSON.parse(child.stdout.trim().split('\n').pop()!) as { rounds: number };
    expect(rounds).toBeGreaterThan(10);
  }, 60_000);

  it.each(['p256', 'ed25519', 'x25519'] as const)('%s: keys agree with the noble provider and are fresh', (algorithm) => {
    const native = PROVIDERS.native;
    const a = native.generateKeyPair(algorithm);
    const b = native.generateKeyPair(algorithm);
    expect(a.secretKey).toHaveLength(32);
    expect(a.secretKey).not.toEqual(b.secretKey);
    expect(PROVIDERS.noble.publicKeyOf(algorithm, a.secretKey)).toEqual(a.publicKey);
    if (algorithm === 'p256') expect(isP256Scalar(a.secretKey)).toBe(true);
  });

  it('keeps no X25519 key (the channel\'s ephemeral keys) in its by-content cache; signing keys may stay', () => {
    const native = PROVIDERS.native;
    const before = retainedPrivateKeys();
    for (let i = 0; i < 5; i++) {
      const mine = native.generateKeyPair('x25519');
      const peer = native.generateKeyPair('x25519');
      native.x25519(mine.secretKey, peer.publicKey);
      mine.secretKey.fill(0);
      peer.secretKey.fill(0);
    }
    const signer = native.generateKeyPair('p256');
    native.sign('p256', new Uint8Array(signer.secretKey), new Uint8Array(8)); // a copy, as the trusted key passes one
    const after = retainedPrivateKeys();
    expect(before.x25519).toBe(0);
    expect(after.x25519).toBe(0);
    expect(after.p256).toBeGreaterThan(0);
  });
});
