/**
 * Full-stack signing: the wallet app's SIGN on a generated P-256 'sign' key handle (WalletTaSession:
 * Client API against `phone.driver`) goes REE -> TEE OS -> wallet TA -> secure channel -> trusted
 * key -> back. Measured with one session (one call at a time), with 16 sessions calling at once and
 * with 64 (the most the TEE OS admits: the stack saturated),
 * each beside the provider's raw P-256 `sign` of the same message in the same run, for a phone built
 * with each provider, with the trusted key inline and on its own thread.
 * Also CPK public-key mappings per second (32x32) beside raw P-256 point decompression of the 32
 * points a mapping adds, and beside raw P-256 verify.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROVIDERS } from '../../src/crypto/index.js';
import type { CryptoProvider, ProviderName } from '../../src/crypto/provider.js';
import { Factory, createPhone } from '../../src/device/index.js';
import type { TeeDriver } from '../../src/ree/client-api/index.js';
import { WalletTaSession } from '../../src/ree/wallet/ta-session.js';
import { cpkMappingProbe } from './cpk-map.js';
import { comparePaired, GOALS, inFlightProbe, loopProbe, type BenchSuite, type Comparison } from './harness.js';

/**
 * A wallet-TA instance runs one command at a time (GP/OP-TEE semantics: a TA instance is single
 * threaded), so calls overlap across sessions, each its own instance, not within one.
 */
const SESSIONS = 16;
/** As many sessions as the TEE OS admits (one context each, 64 contexts): the stack saturated. */
const SATURATED_SESSIONS = 64;
/** The trusted key in the TEE OS's thread, and on a thread of its own (PhoneOptions.trustedKeyThread). */
const THREADS = ['inline', 'worker'] as const;
const MESSAGE = new TextEncoder().encode('bench: a 48-byte message signed by the wallet TA');

/** One wallet app: its own context and session (so its own wallet-TA instance) and a P-256 sign key. */
async function openSigner(driver: TeeDriver, index: number): Promise<{ sign: () => Promise<Uint8Array>; publicKey: Uint8Array; close: () => Promise<void> }> {
  const session = await WalletTaSession.open(driver, { name: `bench-wallet-${index}` });
  const key = await session.call('GENERATE_KEY', { algorithm: 'p256', usage: 'sign' });
  return {
    sign: async () => (await session.call('SIGN', { message: MESSAGE }, key.handle)).signature,
    publicKey: key.publicKey!,
    close: () => session.close(),
  };
}

async function signRows(name: ProviderName, progress: (t: string) => void): Promise<Comparison[]> {
  const provider: CryptoProvider = PROVIDERS[name];
  const dir = await mkdtemp(join(tmpdir(), 'tee-sim-bench-sign-'));
  const rows: Comparison[] = [];
  const goal = name === 'native' ? GOALS.sign : undefined;
  const raw = provider.generateKeyPair('p256');
  const rawSign = loopProbe('raw p256 sign', () => provider.sign('p256', raw.secretKey, MESSAGE));
  const opts = { ...(goal !== undefined ? { goal } : {}), onProgress: progress };
  try {
    const factory = await Factory.open(join(dir, 'factory'), provider);
    try {
      for (const thread of THREADS) {
        const phone = await createPhone({ dir: join(dir, `phone-${thread}`), factory, provider, name: `bench-${thread}`, trustedKeyThread: thread });
        try {
          const signers = await Promise.all(Array.from({ length: SATURATED_SESSIONS }, (_, i) => openSigner(phone.driver, i)));
          // Sanity: what the stack returns is a valid signature under the key it reported.
          for (const s of signers) if (!provider.verify('p256', s.publicKey, MESSAGE, await s.sign())) throw new Error('bench: full-stack signature does not verify');
          const where = thread === 'worker' ? ', key on own thread' : '';
          const one = loopProbe(`full-stack SIGN (1 session${where})`, signers[0]!.sign);
          rows.push(await comparePaired('sign', name, one, rawSign, opts));
          // Every session keeps one call outstanding all the time (a new one as each answer arrives).
          for (const sessions of [SESSIONS, SATURATED_SESSIONS]) {
            const idle = signers.slice(0, sessions);
            const many = inFlightProbe(`full-stack SIGN (${sessions} sessions${where})`, sessions, async () => {
              const signer = idle.pop()!;
              try {
                await signer.sign();
              } finally {
                idle.push(signer);
              }
            });
            rows.push(await comparePaired('sign', name, many, rawSign, opts));
          }
          for (const s of signers) await s.close();
        } finally {
          await phone.close().catch(() => undefined);
        }
      }
    } finally {
      factory.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return rows;
}

async function cpkRows(name: ProviderName, progress: (t: string) => void): Promise<Comparison[]> {
  const provider = PROVIDERS[name];
  const opts = { onProgress: progress };
  const mapping = await cpkMappingProbe(name);
  // Raw baselines: decompressing the 32 points one mapping adds (what a mapping costs without any
  // precomputation), and one P-256 verify (what a mapped key is then used for).
  const points = Array.from({ length: 32 }, () => provider.generateKeyPair('p256').publicKey);
  const decompress = loopProbe('raw decompress 32 points', () => {
    for (const p of points) provider.p256.isValidPoint(p);
  });
  const kp = provider.generateKeyPair('p256');
  const sig = provider.sign('p256', kp.secretKey, MESSAGE);
  const verify = loopProbe('raw p256 verify', () => provider.verify('p256', kp.publicKey, MESSAGE, sig));
  return [await comparePaired('sign', name, mapping, decompress, opts), await comparePaired('sign', name, mapping, verify, opts)];
}

export const suite: BenchSuite = {
  name: 'sign',
  description: `full-stack SIGN through the Client API (1, ${SESSIONS} and ${SATURATED_SESSIONS} wallet sessions) vs raw p256 sign; CPK mapping vs raw point decompression and verify`,
  async run({ providers, progress }) {
    const rows: Comparison[] = [];
    for (const name of providers) {
      rows.push(...(await signRows(name, progress)));
      rows.push(...(await cpkRows(name, progress)));
    }
    return rows;
  },
};
