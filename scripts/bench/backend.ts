/**
 * Backend throughput: online payments verified and settled per second by the settle pipeline
 * (decode, CPK-mapped key from the cache, P-256 verify, WYSIWYS, ledger batch with fsync, signed
 * receipt), in-process and over loopback HTTP, each beside raw P-256 `verify` in the same run.
 * Payments are signed up front (with the native provider: signing is not what is measured).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getProvider, nativeProvider } from '../../src/crypto/index.js';
import type { CryptoProvider } from '../../src/crypto/provider.js';
import { KeyManagementCentre, openIssuancePackage } from '../../src/cpk/index.js';
import { decodeSigned, encodeSigned, onlineDisplayText, signingBytes, MAX_AMOUNT, type PartyId } from '../../src/protocol/payment.js';
import { Ledger } from '../../src/ree/backend/ledger.js';
import { SubdomainDirectory } from '../../src/ree/backend/directory.js';
import { SettlementService } from '../../src/ree/backend/settle.js';
import { VerifyPool } from '../../src/ree/backend/verify-pool.js';
import { availableParallelism } from 'node:os';
import { startBackend } from '../../src/ree/backend/server.js';
import { BackendClient } from '../../src/ree/backend/client.js';
import { compare, GOALS, measure, QUICK, type BenchSuite, type Comparison } from './harness.js';

const PAYERS = 8;
const CONCURRENCY = 16;

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
  const seconds = QUICK ? 0.3 : 1.8;
  const pool = Array.from({ length: Math.ceil(expectedRate * seconds * 2) + 64 }, () => w.nextPayment());
  let i = 0;
  // Past the pool, sign on the fly rather than fail (it only slows the tail of the run).
  return () => pool[i++] ?? w.nextPayment();
}

export const suite: BenchSuite = {
  name: 'backend',
  description: 'online payments verified and settled per second (in-process and over HTTP) vs raw P-256 verify',
  async run({ providers, progress }): Promise<Comparison[]> {
    const rows: Comparison[] = [];
    for (const name of providers) {
      const provider = getProvider(name);
      progress(`${name}: setting up KMC and payers`);
      const w = await makeWorld(provider);

      // Baseline: raw verify of one payment's signature with a cached key.
      const sample = w.nextPayment();
      const signed = decodeSigned(sample, 'online-payment');
      const msg = signingBytes(signed.statement);
      const directory = new SubdomainDirectory(provider, w.kmcPublicKey);
      directory.register(w.matrix);
      const pk = directory.publicKeyOf(signed.statement.payer);
      const verifyRate = await measure(`p256 verify`, () => provider.verify('p256', pk, msg, signed.signature), { onProgress: progress });

      const goal = name === 'native' ? GOALS.backend : undefined;
      const dir = await mkdtemp(join(tmpdir(), 'tee-sim-bench-backend-'));
      try {
        // In-process: the settle pipeline one payment at a time, durable ledger writes.
        const ledger = await Ledger.open(join(dir, 'ledger'));
        const service = new SettlementService({ provider, ledger, directory, backendKey: provider.generateKeyPair('p256') });
        await openAccounts(w, (party, balance) => service.openAccount(party, 'CNY', balance));
        const next = supply(w, 2 * verifyRate.opsPerSec);
        const settle = await measure('settle (in-process, 1 in flight)', () => service.submitOnline(next()), { onProgress: progress });
        rows.push(compare('backend', name, settle, verifyRate));
        // Several in flight, as a server sees them: verification overlaps the previous payment's ledger I/O.
        const concurrent = await measure(
          `settle (in-process, ${CONCURRENCY} in flight)`,
          () => Promise.all(Array.from({ length: CONCURRENCY }, () => service.submitOnline(next()))),
          { onProgress: progress, opsPerCall: CONCURRENCY },
        );
        rows.push(compare('backend', name, concurrent, verifyRate, goal));
        await ledger.close();

        // The same without fsync: what the pipeline costs when the disk is not the bottleneck.
        const fastLedger = await Ledger.open(join(dir, 'ledger-nosync'), { sync: false });
        const fast = new SettlementService({ provider, ledger: fastLedger, directory, backendKey: provider.generateKeyPair('p256') });
        await openAccounts(w, (party, balance) => fast.openAccount(party, 'CNY', balance));
        const nextFast = supply(w, verifyRate.opsPerSec);
        const noSync = await measure(
          `settle (in-process, ${CONCURRENCY} in flight, no fsync)`,
          () => Promise.all(Array.from({ length: CONCURRENCY }, () => fast.submitOnline(nextFast()))),
          { onProgress: progress, opsPerCall: CONCURRENCY },
        );
        rows.push(compare('backend', name, noSync, verifyRate));

        // Verification (and receipt signing) on worker threads around the serial settle, 1 .. available cores.
        const cores = availableParallelism();
        for (let workers = 1; workers <= cores; workers++) {
          const backendKey = provider.generateKeyPair('p256');
          const pool = new VerifyPool({ provider: name, size: workers, signingKey: backendKey.secretKey });
          try {
            const pooled = new SettlementService({ provider, ledger: fastLedger, directory, backendKey, verifyPool: pool });
            const nextPooled = supply(w, verifyRate.opsPerSec);
            await pooled.submitOnline(nextPooled()); // workers started and warm
            const r = await measure(
              `settle (${CONCURRENCY} in flight, no fsync, ${workers} crypto worker${workers > 1 ? 's' : ''})`,
              () => Promise.all(Array.from({ length: CONCURRENCY }, () => pooled.submitOnline(nextPooled()))),
              { onProgress: progress, opsPerCall: CONCURRENCY },
            );
            rows.push(compare('backend', name, r, verifyRate, goal));
          } finally {
            await pool.close();
          }
        }
        await fastLedger.close();

        // Over loopback HTTP with a few requests in flight.
        const server = await startBackend({ dataDir: join(dir, 'http'), provider, trustedKmcPublicKey: w.kmcPublicKey, matrices: [w.matrix] });
        try {
          const client = new BackendClient(server.url);
          await openAccounts(w, (party, balance) => client.openAccount(party, 'CNY', balance));
          const nextHttp = supply(w, verifyRate.opsPerSec);
          const http = await measure(
            `settle (HTTP, ${CONCURRENCY} in flight)`,
            () => Promise.all(Array.from({ length: CONCURRENCY }, () => client.submitPayment(nextHttp()))),
            { onProgress: progress, opsPerCall: CONCURRENCY },
          );
          rows.push(compare('backend', name, http, verifyRate));
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
