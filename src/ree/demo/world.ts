/**
 * A demo world: a KMC with one subdomain, the backend (a child process or in this process), two
 * provisioned phones (payer and payee) whose trusted-UI users are played here, and their wallets.
 * The teaching page and the attack harness build on exactly this (with `backend: 'in-process'`).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { utf8 } from '../../common/bytes.js';
import type { TraceSink } from '../../common/trace.js';
import { defaultProvider } from '../../crypto/index.js';
import type { CryptoProvider } from '../../crypto/provider.js';
import { KeyManagementCentre, createMemoryKmcStore } from '../../cpk/index.js';
import { Factory, createPhone, provisionIdentity, type Phone } from '../../device/index.js';
import type { PartyId } from '../../protocol/payment.js';
import type { TrustedUiPrompt, TrustedUiUser } from '../../tee/index.js';
import { BackendClient } from '../backend/client.js';
import { serveDataDir } from '../backend/cli.js';
import type { CaptureHook } from '../client-api/index.js';
import { Wallet } from '../wallet/index.js';
import { spawnBackend } from './backend-process.js';
import { publishKmcPublicState } from './kmc-files.js';

export const DEMO_SUBDOMAIN = 'retail';
export const DEMO_CURRENCY = 'CNY';

export interface DemoWorldOptions {
  /** Where factory, KMC public files, phones and backend live; a temp dir (removed on close) if absent. */
  dataDir?: string;
  provider?: CryptoProvider;
  trace: TraceSink;
  backend: 'process' | 'in-process';
  users?: { payer: string; payee: string };
  /** Both users' PIN (entered on the trusted UI only). Default '73925184'. */
  pin?: string;
  /** Amounts above this need the PIN (minor units); default 10000 (100.00). */
  pinLimit?: number;
  /** Backend account balances at opening (minor units): payer default 100000, payee 0. */
  accountBalance?: { payer: number; payee: number };
  /** The payer's offline balance loaded at provisioning; default 20000. */
  offlineBalance?: number;
  /** Sees every byte the wallets send through the Client API. */
  capture?: CaptureHook;
  /** Public matrix size (default 16 x 16: enough for a demo, quick to generate). */
  matrixSize?: number;
  /** Byte budget of each phone's log of the frames the REE carried (PhoneOptions.wireLogBytes). */
  wireLogBytes?: number;
}

/** The user sitting at a phone's trusted UI. Change `decision` or `pin` to play a different user. */
export class DemoUser {
  decision: 'confirm' | 'reject' = 'confirm';
  readonly prompts: TrustedUiPrompt[] = [];
  constructor(public pin: string) {}

  readonly answer: TrustedUiUser = (prompt) => {
    this.prompts.push({ ...prompt, lines: prompt.lines.slice() });
    if (this.decision === 'reject') return { confirmed: false };
    return { confirmed: true, ...(prompt.requirePin ? { pin: utf8(this.pin) } : {}) };
  };
}

export interface DemoStats {
  onlinePayments: number;
  offlinePayments: number;
  /** Signatures checked along the successful flows (trusted keys, backend, wallets on receipts). */
  signaturesVerified: number;
}

export interface DemoSummary extends DemoStats {
  balances: Record<'payer' | 'payee', { party: PartyId; account: Record<string, number>; offline: { balance: number; currency: string; counter: number } }>;
}

export interface DemoWorld {
  dataDir: string;
  provider: CryptoProvider;
  trace: TraceSink;
  kmc: KeyManagementCentre;
  factory: Factory;
  backend: { url: string; publicKey: Uint8Array; mode: 'process' | 'in-process'; client: BackendClient };
  parties: { payer: PartyId; payee: PartyId };
  phones: { payer: Phone; payee: Phone };
  users: { payer: DemoUser; payee: DemoUser };
  wallets: { payer: Wallet; payee: Wallet };
  stats: DemoStats;
  summary(): Promise<DemoSummary>;
  close(): Promise<void>;
}

export async function createDemoWorld(options: DemoWorldOptions): Promise<DemoWorld> {
  const provider = options.provider ?? defaultProvider();
  const trace = options.trace;
  const ownDir = options.dataDir === undefined;
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'tee-sim-demo-')));
  const names = options.users ?? { payer: 'alice', payee: 'shop' };
  const pin = options.pin ?? '73925184';
  const cleanups: (() => Promise<void> | void)[] = [];
  const close = async () => {
    for (const c of cleanups.splice(0).reverse()) await Promise.resolve(c()).catch(() => undefined);
    if (ownDir) await rm(dataDir, { recursive: true, force: true });
  };
  const step = (text: string, detail?: Record<string, string | number | boolean>) =>
    trace({ lane: 'REE', actor: 'demo', text, ...(detail ? { detail } : {}) });

  try {
    // The KMC: in memory for the demo (the CLI's `kmc init` keeps one on disk).
    const kmc = await KeyManagementCentre.create({ provider, store: createMemoryKmcStore(), masterKey: provider.randomBytes(32) });
    cleanups.push(() => kmc.close());
    const size = options.matrixSize ?? 16;
    const matrix = await kmc.createSubdomain(DEMO_SUBDOMAIN, { rows: size, cols: size });
    await publishKmcPublicState(dataDir, kmc.kmcPublicKey, [matrix]);
    step(`data dir ${dataDir}${ownDir ? ' (temporary)' : ''}`);
    step(`KMC ready: subdomain ${DEMO_SUBDOMAIN}, ${size}x${size} public matrix published`);

    // The backend: the same data-dir layout either way.
    let url: string;
    if (options.backend === 'process') {
      const child = await spawnBackend(dataDir);
      cleanups.push(() => child.close());
      url = child.url;
      step(`backend child process (pid ${child.pid}) listening on ${url}`);
    } else {
      const running = await serveDataDir(dataDir, { provider });
      cleanups.push(() => running.close());
      url = running.url;
      step(`backend listening on ${url} (in process)`);
    }
    const client = new BackendClient(url);
    // The demo started this backend itself, so the key it reports over loopback is the one to pin.
    const publicKey = await client.backendKey();

    const parties = {
      payer: { subdomainId: DEMO_SUBDOMAIN, userId: names.payer },
      payee: { subdomainId: DEMO_SUBDOMAIN, userId: names.payee },
    };
    const balances = options.accountBalance ?? { payer: 100_000, payee: 0 };
    await client.openAccount(parties.payer, DEMO_CURRENCY, balances.payer);
    await client.openAccount(parties.payee, DEMO_CURRENCY, balances.payee);
    step('backend accounts opened', { payer: balances.payer, payee: balances.payee });

    const factory = await Factory.open(join(dataDir, 'factory'), provider);
    cleanups.push(() => factory.close());
    const makePhone = async (name: string) => {
      const phone = await createPhone({
        dir: join(dataDir, 'devices', name), factory, provider, name, trace,
        ...(options.pinLimit !== undefined ? { pinLimit: options.pinLimit } : {}),
        ...(options.wireLogBytes !== undefined ? { wireLogBytes: options.wireLogBytes } : {}),
      });
      cleanups.push(() => phone.close());
      return phone;
    };
    const phones = { payer: await makePhone(names.payer), payee: await makePhone(names.payee) };
    await provisionIdentity(phones.payer, kmc, DEMO_SUBDOMAIN, names.payer, {
      pin, offlineBalance: { amount: options.offlineBalance ?? 20_000, currency: DEMO_CURRENCY },
    });
    await provisionIdentity(phones.payee, kmc, DEMO_SUBDOMAIN, names.payee, { pin });
    step('both phones provisioned: CPK identities imported into their trusted keys, PINs set');

    const users = { payer: new DemoUser(pin), payee: new DemoUser(pin) };
    phones.payer.trustedUi.setUser(users.payer.answer);
    phones.payee.trustedUi.setUser(users.payee.answer);

    const openWallet = async (phone: Phone, party: PartyId) => {
      const wallet = await Wallet.open({
        driver: phone.driver, party, backend: client, backendPublicKey: publicKey, provider, trace,
        ...(options.capture ? { capture: options.capture } : {}),
      });
      cleanups.push(() => wallet.close());
      return wallet;
    };
    const wallets = { payer: await openWallet(phones.payer, parties.payer), payee: await openWallet(phones.payee, parties.payee) };
    const stats: DemoStats = { onlinePayments: 0, offlinePayments: 0, signaturesVerified: 0 };

    const summarize = async (who: 'payer' | 'payee') => {
      const state = await wallets[who].offlineState();
      return {
        party: parties[who],
        account: await wallets[who].balance(),
        offline: { balance: state.balance, currency: state.currency, counter: state.counter },
      };
    };
    return {
      dataDir, provider, trace, kmc, factory,
      backend: { url, publicKey, mode: options.backend, client },
      parties, phones, users, wallets, stats,
      async summary() {
        return { ...stats, balances: { payer: await summarize('payer'), payee: await summarize('payee') } };
      },
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
