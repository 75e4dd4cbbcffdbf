/**
 * Backend throughput: online payments verified and settled per second by the settle pipeline
 * (decode, CPK-mapped key from the cache, P-256 verify, WYSIWYS, expiry, ledger checks and one
 * atomic group-committed batch, a receipt sealed per group with one backend signature), in-process
 * and over loopback HTTP, each beside raw single-thread P-256 `verify` of a payment's signature with
 * a cached key, measured in the same run. Payments are signed up front (signing is not what is
 * measured). "N in flight" means N payments outstanding all the time: a new one starts as each
 * finishes, as N concurrent clients would keep a server busy.
 *
 * Rows: 1 in flight with fsync (latency-bound: one fsync per payment); 16 in flight with fsync
 * (latency-bound: the group waits for its fsync with every client's payment in it); 16 in flight
 * without fsync, on the calling thread only (the single-thread pipeline) and with signatures checked
 * on libuv's thread pool (`verifyAsync`, the default); a saturated server (256 in flight, fsync) on
 * the thread pool and on 1..availableParallelism() worker threads (VerifyPool) — the scaling; over
 * HTTP (client and server in this process, fsync).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { getProvider, nativeProvider } from '../../src/crypto/index.js';
import type { CryptoProvider } from '../../src/crypto/provider.js';
import { KeyManagementCentre, openIssuancePackage } from '../../src/cpk/index.js';
import { decodeSigned, encodeSigned, onlineDisplayText, signingBytes, MAX_AMOUNT, type PartyId } from '../../src/protocol/payment.js';
import { Ledger } from '../../src/ree/backend/ledger.js';
import { SubdomainDirectory } from '../../src/ree/backend/directory.js';
import { SettlementService } from '../../src/ree/backend/settle.js';
import { VerifyPool } from '../../src/ree/backend/verify-pool.js';
import { startBackend } from '../../src/ree/backend/server.js';
import { BackendClient } from '../../src/ree/backend/client.js';
import { comparePaired, GOALS, inFlightProbe, loopProbe, QUICK, type BenchSuite, type Comparison } from './harness.js';

const PAYERS = 8;
const CONCURRENCY = 16;
/** Clients enough to saturate the server here (256 and 1,024 in flight settle alike; 64 does not). */
const SATURATED = 256;

interface Payer {
  party: PartyId;
  secretKey: Uint8Array;
}

/** A KMC with one 32x32 subdomain, payers with issued keys, and a supply of signed payments. */
async function makeWorld(provider: CryptoProvider) {
  const kmc = await KeyManagementCentre.create({ provider });
  const matrix = await kmc.createSubdomain('retail', { rows: 32, cols: 32, mode: 'plain' });
  const payers: Payer[] = [];
  for (let i = 0; i < PAYERS; i++) {
    const recipient = provider.generateKeyPair('p256');
    const pkg = await kmc.issuePrivateKey('retail', `payer-${i}`, { publicKey: recipient.publicKey });
    const opened = openIssuancePackage(provider, recipient.secretKey, pkg, kmc.kmcPublicKey, matrix);
    payers.push({ party: { subdomainId: 'retail', userId: `payer-${i}` }, secretKey: opened.secretKey });
  }
  const payee: PartyId = { subdomainId: 'retail', userId: 'shop' };
  let serial = 0;
  const nextPayment = (): Uint8Array => {
    const payer = payers[serial % PAYERS]!;
    const base = {
      version: 1 as const, kind: 'online-payment' as const, nonce: nativeProvider.randomBytes(16), payee, amount: 1, currency: 'CNY',
      orderId: `B-${serial++}`, expiresAt: Date.now() + 3_600_000, payer: payer.party, signedAt: Date.now(),
    };
    const statement = { ...base, display: onlineDisplayText(base) };
    return encodeSigned({ statement, signature: nativeProvider.sign('p256', payer.secretKey, signingBytes(statement)) });
  };
  return { kmcPublicKey: kmc.kmcPublicKey, matrix, payers, payee, nextPayment };
}

type World = Awaited<ReturnType<typeof makeWorld>>;

async function openAccounts(w: World, open: (party: PartyId, balance: number) => Promise<unknown>): Promise<void> {
  for (const p of w.payers) await open(p.party, MAX_AMOUNT);
  await open(w.payee, 0);
}

/** Enough pre-signed payments for the measurement at `expectedRate`, with headroom. */
function supply(w: World, expectedRate: number): () => Uint8Array {
  const seconds = QUICK ? 0.4 : 2;
  const pool = Array.from({ length: Math.ceil(expectedRate * seconds * 2) + 64 }, () => w.nextPayment());
  let i = 0;
  // Past the pool, sign on the fly rather than fail (it only slows the tail of the run).
  return () => pool[i++] ?? w.nextPayment();
}

export const suite: BenchSuite = {
  name: 'backend',
  description:
    'online payments verified and settled per second vs raw single-thread P-256 verify (cached key), same run; ' +
    `"N in flight" = N outstanding all the time; thread pool = verifyAsync on libuv's pool; workers = VerifyPool threads`,
  async run({ providers, progress }): Promise<Comparison[]> {
    const rows: Comparison[] = [];
    for (const name of providers) {
      const provider = getProvider(name);
      progress(`${name}: setting up KMC and payers`);
      const w = await makeWorld(provider);

      // Baseline: raw verify of one payment's signature with a cached key, on this thread.
      const sample = w.nextPayment();
      const signed = decodeSigned(sample, 'online-payment');
      const msg = signingBytes(signed.statement);
      const directory = new SubdomainDirectory(provider, w.kmcPublicKey);
      directory.register(w.matrix);
      const pk = directory.publicKeyOf(signed.statement.payer);
      const verify = loopProbe(`p256 verify (1 thread)`, () => provider.verify('p256', pk, msg, signed.signature));
      // Sizes the supply of pre-signed payments (settling never outruns raw verify by much).
      const verifyRate = await verify.window(QUICK ? 60 : 200);

      const goal = name === 'native' ? { goal: GOALS.backend } : {};
      const opts = { onProgress: progress };
      const pool = provider.verifyAsync ? 'thread pool' : 'main thread';
      const dir = await mkdtemp(join(tmpdir(), 'tee-sim-bench-backend-'));
      let ledgers = 0;
      /** A fresh ledger with funded accounts, and a service over it. */
      const world = async (sync: boolean, extra: { verifyPool?: VerifyPool; asyncVerify?: boolean } = {}) => {
        const ledger = await Ledger.open(join(dir, `ledger-${ledgers++}`), { sync });
        const service = new SettlementService({ provider, ledger, directory, backendKey: provider.generateKeyPair('p256'), ...extra });
        await openAccounts(w, (party, balance) => service.openAccount(party, 'CNY', balance));
        return { ledger, service };
      };
      const row = async (label: string, sync: boolean, inFlight: number, extra: { verifyPool?: VerifyPool; asyncVerify?: boolean } = {}, withGoal = false) => {
        const { ledger, service } = await world(sync, extra);
        try {
          const next = supply(w, verifyRate);
          await service.submitOnline(next()); // warm: workers started, keys cached
          const settle = inFlightProbe(label, inFlight, () => service.submitOnline(next()));
          rows.push(await comparePaired('backend', name, settle, verify, { ...opts, ...(withGoal ? goal : {}) }));
        } finally {
          await ledger.close();
        }
      };
      try {
        await row(`settle (in-process, 1 in flight, fsync, ${pool})`, true, 1);
        // Few clients: latency-bound, each group commit waits for its fsync with every payment in it.
        await row(`settle (in-process, ${CONCURRENCY} in flight, fsync, ${pool})`, true, CONCURRENCY, {}, true);
        // Without fsync the pipeline is CPU-bound: where the cores go at 16 in flight.
        await row(`settle (in-process, ${CONCURRENCY} in flight, no fsync, main thread only)`, false, CONCURRENCY, { asyncVerify: false });
        await row(`settle (in-process, ${CONCURRENCY} in flight, no fsync, ${pool})`, false, CONCURRENCY, {}, true);
        // A saturated server: enough clients that more do not raise throughput, every
        // settlement durable (fsync); verification on libuv's pool, then on 1..cores worker threads.
        await row(`settle (in-process, ${SATURATED} in flight, fsync, ${pool})`, true, SATURATED, {}, true);
        const cores = availableParallelism();
        for (let workers = 1; workers <= cores; workers++) {
          const verifyPool = new VerifyPool({ provider: name, size: workers });
          try {
            await row(`settle (in-process, ${SATURATED} in flight, fsync, ${workers} worker${workers > 1 ? 's' : ''})`, true, SATURATED, { verifyPool }, true);
          } finally {
            await verifyPool.close();
          }
        }

        // Over loopback HTTP, client and server in this process.
        const server = await startBackend({ dataDir: join(dir, 'http'), provider, trustedKmcPublicKey: w.kmcPublicKey, matrices: [w.matrix] });
        try {
          const client = new BackendClient(server.url);
          await openAccounts(w, (party, balance) => client.openAccount(party, 'CNY', balance));
          const nextHttp = supply(w, verifyRate / 4);
          const http = inFlightProbe(`settle (HTTP, ${CONCURRENCY} in flight, fsync, ${pool})`, CONCURRENCY, () => client.submitPayment(nextHttp()));
          rows.push(await comparePaired('backend', name, http, verify, opts));
        } finally {
          await server.close();
        }
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }
    return rows;
  },
};
