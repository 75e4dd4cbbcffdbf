/**
 * Shared set-up for the trusted-key, wallet-TA and device tests: a factory and a KMC in a temp dir,
 * phones made from them, a Client API wallet session, a scripted trusted-UI user, and a leak watch
 * that knows every secret the crypto provider ever handled and every byte the REE ever saw.
 */
import { invokeWalletCommand } from '../../src/ree/wallet/ta-session.js';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { toHex, utf8 } from '../../src/common/bytes.js';
import { PROVIDERS } from '../../src/crypto/index.js';
import type { CryptoProvider } from '../../src/crypto/provider.js';
import { KeyManagementCentre, createMemoryKmcStore } from '../../src/cpk/index.js';
import { Factory, createPhone, provisionIdentity, type Phone, type PhoneOptions, type ProvisionedIdentity } from '../../src/device/index.js';
import {
  ReeCapture,
  closeSession,
  finalizeContext,
  initializeContext,
  invokeCommand,
  openSession,
  type Param,
  type TeecContext,
  type TeecSession,
} from '../../src/ree/client-api/index.js';
import type { TrustedUiPrompt, TrustedUiConfirmResult } from '../../src/tee/index.js';
import {
  WALLET_TA_UUID,
  type WalletArgs,
  type WalletCommand,
  type WalletResults,
} from '../../src/tee/tas/wallet/index.js';

import { recordingProvider } from '../../src/ree/harness/leak-scanner.js';

// ---- secrets the provider sees ----

/**
 * Wrap a provider and keep a copy of every secret passed through it: generated secret keys, signing
 * and agreement keys, shared secrets, AEAD and HMAC keys, HKDF input keys, CPK private scalars.
 * Copies are taken on entry, before any caller zeroizes its buffer.
 */
export function spyProvider(base: CryptoProvider): { provider: CryptoProvider; secrets: () => Uint8Array[] } {
  // One oracle for the whole project: the attack harness's recording provider.
  return recordingProvider(base);
}

// ---- a world: factory, KMC, phones ----

export interface World {
  dir: string;
  provider: CryptoProvider;
  factory: Factory;
  kmc: KeyManagementCentre;
  /** Secrets the provider has seen so far (when the world was made with `spy`). */
  secrets(): Uint8Array[];
  phones: Phone[];
  makePhone(name: string, options?: Partial<PhoneOptions>): Promise<Phone>;
  cleanup(): Promise<void>;
}

export const PLAIN = 'retail';
export const HARDENED = 'retail-h';

export async function makeWorld(options: { spy?: boolean; hardened?: boolean } = {}): Promise<World> {
  const dir = await mkdtemp(join(tmpdir(), 'tee-sim-tk-'));
  const spy = options.spy ? spyProvider(PROVIDERS.native) : undefined;
  const provider = spy?.provider ?? PROVIDERS.native;
  const factory = await Factory.open(join(dir, 'factory'), provider);
  const kmc = await KeyManagementCentre.create({ provider, store: createMemoryKmcStore(), masterKey: provider.randomBytes(32) });
  await kmc.createSubdomain(PLAIN, { rows: 8, cols: 8 });
  if (options.hardened) await kmc.createSubdomain(HARDENED, { rows: 8, cols: 8, mode: 'hardened' });
  const phones: Phone[] = [];
  return {
    dir,
    provider,
    factory,
    kmc,
    phones,
    secrets: () => spy?.secrets() ?? [],
    async makePhone(name, extra = {}) {
      // Every frame is kept for assertNoLeaks, whatever a test's traffic.
      const phone = await createPhone({ dir: join(dir, name), factory, provider, name, wireLogBytes: Number.POSITIVE_INFINITY, ...extra });
      phones.push(phone);
      return phone;
    },
    async cleanup() {
      for (const p of phones) await p.close().catch(() => undefined);
      kmc.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

// ---- the user at the trusted UI ----

export type Answer = { confirmed: boolean; pin?: string } | 'throw';

/**
 * A scripted user: answers from `queue` in order, else `fallback`. Every prompt is recorded, so a
 * test can check what the screen showed.
 */
export class ScriptedUser {
  readonly prompts: TrustedUiPrompt[] = [];
  readonly queue: Answer[] = [];
  fallback: Answer;

  constructor(fallback: Answer = { confirmed: true }) {
    this.fallback = fallback;
  }

  readonly answer = (prompt: Readonly<TrustedUiPrompt>): TrustedUiConfirmResult => {
    this.prompts.push({ ...prompt, lines: prompt.lines.slice() });
    const a = this.queue.shift() ?? this.fallback;
    if (a === 'throw') throw new Error('user walked away');
    return { confirmed: a.confirmed, ...(a.pin !== undefined ? { pin: utf8(a.pin) } : {}) };
  };

  /** Queue answers for the next prompts. */
  then(...answers: Answer[]): this {
    this.queue.push(...answers);
    return this;
  }

  get lastScreen(): string {
    const p = this.prompts[this.prompts.length - 1];
    return p ? p.lines.join(' ') : '';
  }
}

export function seatUser(phone: Phone, fallback?: Answer): ScriptedUser {
  const user = new ScriptedUser(fallback);
  phone.trustedUi.setUser(user.answer);
  return user;
}

// ---- the REE's wallet session through the Client API ----

export class Wallet {
  private constructor(
    readonly context: TeecContext,
    readonly session: TeecSession,
  ) {}

  static async open(phone: Phone, capture?: ReeCapture, login: { login: 'public' } | { login: 'user'; identity: string } = { login: 'public' }): Promise<Wallet> {
    const context = await initializeContext(phone.driver, { name: 'wallet-test', ...(capture ? { capture: capture.hook } : {}) });
    const session = await openSession(context, WALLET_TA_UUID, login);
    return new Wallet(context, session);
  }

  async call<C extends WalletCommand>(command: C, args: WalletArgs[C], handle?: Uint8Array): Promise<WalletResults[C]> {
    return invokeWalletCommand(this.session, command, args, handle);
  }

  /** Raw invoke, for parameter-type attacks. */
  invoke(commandId: number, params: Param[]): Promise<Param[]> {
    return invokeCommand(this.session, commandId, params);
  }

  async close(): Promise<void> {
    await closeSession(this.session).catch(() => undefined);
    await finalizeContext(this.context).catch(() => undefined);
  }
}

// ---- provisioning ----

export interface Provisioned extends ProvisionedIdentity {
  phone: Phone;
  pin: string;
}

export async function provision(
  world: World, phone: Phone, userId: string, options: { pin?: string; balance?: number; subdomainId?: string; capture?: ReeCapture } = {},
): Promise<Provisioned> {
  const pin = options.pin ?? '73925184';
  const id = await provisionIdentity(phone, world.kmc, options.subdomainId ?? PLAIN, userId, {
    pin,
    ...(options.balance !== undefined ? { offlineBalance: { amount: options.balance, currency: 'CNY' } } : {}),
    ...(options.capture ? { capture: options.capture.hook } : {}),
  });
  return { ...id, phone, pin };
}

// ---- errors ----

export { asyncFailure as failure } from '../support/errors.js';

// ---- what the REE can see ----

/** Every file under the REE-visible directories of the phones. */
export async function reeFiles(phones: Phone[]): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  const walk = async (d: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else out.push(new Uint8Array(await readFile(p)));
    }
  };
  for (const phone of phones) for (const d of phone.paths.reeVisible) await walk(d);
  return out;
}

/**
 * Assert that no secret (raw, or in hex/base64 text) occurs in any REE-visible byte: the Client API
 * capture, every frame the REE carried between TEE OS and trusted key, and the LevelDB files.
 */
export async function assertNoLeaks(world: World, capture: ReeCapture, extraSecrets: Uint8Array[] = []): Promise<{ secrets: number; bytes: number }> {
  const frames = world.phones.flatMap((p) => p.interceptor.frames());
  const files = await reeFiles(world.phones);
  const scan = new ReeCapture();
  for (const r of capture.records) scan.hook(r.direction, r.bytes);
  for (const f of frames) scan.hook('tee->ree', f);
  for (const f of files) scan.hook('tee->ree', f);
  const secrets = [...world.secrets(), ...extraSecrets];
  const leaked = secrets.filter((s) => scan.contains(s)).map((s) => `${s.length} bytes starting ${toHex(s).slice(0, 8)}`);
  expect(leaked).toEqual([]);
  return { secrets: secrets.length, bytes: scan.totalBytes };
}

