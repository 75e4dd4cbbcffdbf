/**
 * The hostile REE: one object that owns a small world (factory, KMC, two provisioned phones
 * 'alice' and 'bob', a loopback backend) and can do to it everything the REE can do.
 *
 *   const adv = await createAdversary();
 *   adv.link('alice').setHook((frame, dir, i) => (i === 5 ? { replace: flipBit(frame, 9) } : 'pass'));
 *   const w = await adv.wallet('alice');                       // Client API session, every byte captured
 *   await w.call('SIGN', { message: utf8('x') }, adv.forgeHandle()); // forged handle -> ITEM_NOT_FOUND
 *   const snap = await adv.snapshot(adv.paths('alice').trustedKeyStore); ... await snap.restore();
 *   const r = await adv.http('POST', '/v1/payments', { payment: b64 }); await adv.replayHttp(r);
 *   await adv.restartTrustedKey('alice'); await adv.restartPhone('alice'); await adv.restartBackend();
 *   const report = await adv.scanLeaks();                      // report.leaks must be []
 *   await adv.close();
 *
 * Frames: `link(name)` is the phone's PhoneWire: `log`/`frames()` read every frame; `setHook` returns
 * 'drop', 'hold' (delay or reorder: `current.release(filter)` later), `{ replace }` (change or truncate:
 * `flipBit`, `truncate` from src/channel) per frame; `current.inject` replays; `cut()` drops the link.
 * Client API bytes: every wallet session goes through the capture hook; `submitRaw` sends raw bytes
 * to `driver.submit`. HTTP: `http()` is a recording fetch wrapper. Files: `snapshot`/`restore`,
 * `flipFileBit`. QR: `qrText`/`forgeQr`/`alterQr`. The oracle part (`scanLeaks`) knows every secret
 * through a recording crypto provider plus the PINs and PUKs the users typed or read.
 */
import { invokeWalletCommand } from '../wallet/ta-session.js';
import { cp, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromBase64url, toBase64url, utf8 } from '../../common/bytes.js';
import { TeeError } from '../../common/errors.js';
import { nativeProvider } from '../../crypto/index.js';
import type { CryptoProvider } from '../../crypto/provider.js';
import { KeyManagementCentre, createMemoryKmcStore, type PublicMatrix } from '../../cpk/index.js';
import { Factory, createPhone, provisionIdentity, type Phone, type PhoneWire } from '../../device/index.js';
import { encodePaymentRequest, type PartyId, type PaymentRequest } from '../../protocol/payment.js';
import { startBackend, type RunningBackend } from '../backend/index.js';
import {
  ReeCapture, closeSession, finalizeContext, initializeContext, invokeCommand, openSession,
  type Param, type TeecContext, type TeecSession,
} from '../client-api/index.js';
import { decodeQrText, encodeQrText, type QrEnvelope } from '../qr/index.js';
import type { TrustedUiConfirmResult, TrustedUiPrompt } from '../../tee/index.js';
import { WALLET_TA_UUID, type WalletArgs, type WalletCommand, type WalletResults } from '../../tee/tas/wallet/index.js';
import { LeakScanner, recordingProvider, type LeakReport } from './leak-scanner.js';

export const PLAIN = 'retail';
export const HARDENED = 'retail-h';
export const PHONES = ['alice', 'bob'] as const;
export type PhoneName = (typeof PHONES)[number];
export const DEFAULT_PIN = '73925184';
/** Offline balance loaded into alice's key; backend accounts open with BACKEND_BALANCE each. */
export const OFFLINE_BALANCE = 50_000;
export const BACKEND_BALANCE = 1_000_000;

/** The user at a phone's trusted UI: answers from a queue, else confirms (with the right PIN). */
export class TrustedUiScript {
  readonly prompts: TrustedUiPrompt[] = [];
  readonly queue: ({ confirmed: boolean; pin?: string })[] = [];
  constructor(public pin: string) {}
  readonly answer = (prompt: Readonly<TrustedUiPrompt>): TrustedUiConfirmResult => {
    this.prompts.push({ ...prompt, lines: prompt.lines.slice() });
    const a = this.queue.shift() ?? { confirmed: true, pin: this.pin };
    return { confirmed: a.confirmed, ...(prompt.requirePin && a.pin !== undefined ? { pin: utf8(a.pin) } : {}) };
  };
  get lastScreen(): string {
    return this.prompts[this.prompts.length - 1]?.lines.join(' ') ?? '';
  }
}

/** A Client API session on the wallet TA whose bytes all pass the adversary's capture. */
export class HostileWallet {
  constructor(readonly context: TeecContext, readonly session: TeecSession) {}

  async call<C extends WalletCommand>(command: C, args: WalletArgs[C], handle?: Uint8Array): Promise<WalletResults[C]> {
    return invokeWalletCommand(this.session, command, args, handle);
  }

  /** Any command id, any parameters (malformed ones included). */
  invoke(commandId: number, params: Param[]): Promise<Param[]> {
    return invokeCommand(this.session, commandId, params);
  }

  async identity(userId: string, subdomainId = PLAIN): Promise<Uint8Array> {
    return (await this.call('OPEN_IDENTITY', { subdomainId, userId })).handle;
  }

  async close(): Promise<void> {
    await closeSession(this.session).catch(() => undefined);
    await finalizeContext(this.context).catch(() => undefined);
  }
}

export interface HttpExchange {
  method: 'GET' | 'POST';
  path: string;
  requestBody: string;
  status: number;
  responseBody: string;
  json: Record<string, unknown>;
}

export interface Snapshot {
  path: string;
  restore(): Promise<void>;
}

export interface PhonePathsView {
  /** TEE OS REE-visible ciphertext (LevelDB). */
  teeStore: string;
  /** Trusted key REE-visible ciphertext (LevelDB). */
  trustedKeyStore: string;
}

export interface AdversaryOptions {
  /** Also issue hardened identities (subdomain 'retail-h'). Default false. */
  hardened?: boolean;
  /** Start the backend. Default true. */
  backend?: boolean;
  /** Trusted UI PIN limit for the phones (default: the key's own). */
  pinLimit?: number;
  /** Leave the world's directory on disk at `close` (crash fixtures reopen it). Default false. */
  keep?: boolean;
  /**
   * Where the phones' trusted keys run (PhoneOptions.trustedKeyThread; default inline). 'worker'
   * lets a scenario cut a key's power (`phone(name).crashTrustedKey()`); secrets made inside a key
   * on its own thread are then outside the leak oracle's view (it records this thread's provider).
   */
  trustedKeyThread?: 'inline' | 'worker';
}

export interface Adversary {
  readonly dir: string;
  readonly provider: CryptoProvider;
  readonly factory: Factory;
  readonly kmc: KeyManagementCentre;
  readonly matrices: Record<string, PublicMatrix>;
  readonly capture: ReeCapture;
  readonly scanner: LeakScanner;
  readonly httpLog: readonly HttpExchange[];
  readonly qrLog: readonly string[];
  phone(name: PhoneName): Phone;
  user(name: PhoneName): TrustedUiScript;
  party(name: PhoneName, subdomainId?: string): PartyId;
  /** The REE-carried TEE OS <-> trusted key link of a phone. */
  link(name: PhoneName): PhoneWire;
  paths(name: PhoneName): PhonePathsView;
  wallet(name: PhoneName): Promise<HostileWallet>;
  /** Raw bytes to `driver.submit` (captured both ways). */
  submitRaw(name: PhoneName, bytes: Uint8Array): Promise<Uint8Array>;
  /** A random 128-bit handle no session was ever given. */
  forgeHandle(): Uint8Array;
  snapshot(path: string): Promise<Snapshot>;
  /** Flip one bit in every file under `dir` whose name matches `pattern` (default: LevelDB tables and logs). */
  flipFileBits(dir: string, pattern?: RegExp): Promise<number>;
  restartTrustedKey(name: PhoneName): Promise<void>;
  /** Power-cycle the whole phone: the TEE OS is recreated from its directories; `whileOff` runs with the phone switched off (edit its files). */
  restartPhone(name: PhoneName, whileOff?: () => Promise<void>): Promise<void>;
  restartBackend(): Promise<void>;
  readonly backend: RunningBackend;
  readonly backendDir: string;
  http(method: 'GET' | 'POST', path: string, body?: Record<string, unknown>): Promise<HttpExchange>;
  replayHttp(exchange: HttpExchange): Promise<HttpExchange>;
  /** An online payment request as the payee's wallet would show it, and its QR text. */
  paymentRequest(payee: PartyId, amount: number, overrides?: Partial<PaymentRequest>): { request: PaymentRequest; qr: string };
  qrText(envelope: QrEnvelope): string;
  readQr(text: string, now?: number): QrEnvelope;
  /** Decode, change, re-encode (the REE can write any QR it likes). */
  alterQr(text: string, change: (e: QrEnvelope) => QrEnvelope): string;
  /** Record a log or error line the REE saw (scanned for secrets). */
  log(line: string): void;
  /** Record everything REE-visible so far and scan it for every secret the oracle knows. */
  scanLeaks(): Promise<LeakReport>;
  close(): Promise<void>;
}

export async function createAdversary(options: AdversaryOptions = {}): Promise<Adversary> {
  const dir = await mkdtemp(join(tmpdir(), 'tee-sim-harness-'));
  const rec = recordingProvider(nativeProvider);
  const provider = rec.provider;
  const factory = await Factory.open(join(dir, 'factory'), provider);
  const kmc = await KeyManagementCentre.create({ provider, store: createMemoryKmcStore(), masterKey: provider.randomBytes(32) });
  const matrices: Record<string, PublicMatrix> = {};
  matrices[PLAIN] = await kmc.createSubdomain(PLAIN, { rows: 8, cols: 8 });
  if (options.hardened) matrices[HARDENED] = await kmc.createSubdomain(HARDENED, { rows: 8, cols: 8, mode: 'hardened' });

  const capture = new ReeCapture();
  const scanner = new LeakScanner();
  const textSecrets = new Map<string, string>();
  const httpLog: HttpExchange[] = [];
  const qrLog: string[] = [];
  const logs: string[] = [];
  const phones = new Map<PhoneName, Phone>();
  const phonePaths = new Map<PhoneName, PhonePathsView>();
  const users = new Map<PhoneName, TrustedUiScript>();
  const retiredFrames: Uint8Array[] = [];
  const wallets: HostileWallet[] = [];

  const makePhone = async (name: PhoneName): Promise<Phone> => {
    const phone = await createPhone({
      dir: join(dir, name), factory, provider, name, kmcPublicKey: kmc.kmcPublicKey,
      ...(options.pinLimit !== undefined ? { pinLimit: options.pinLimit } : {}),
      ...(options.trustedKeyThread ? { trustedKeyThread: options.trustedKeyThread } : {}),
      retry: { attempts: 3, initialDelayMs: 5, maxDelayMs: 20 },
      // Every frame the REE carried stays in the log: the leak scan reads all of them.
      wireLogBytes: Number.POSITIVE_INFINITY,
    });
    let user = users.get(name);
    if (!user) {
      user = new TrustedUiScript(DEFAULT_PIN);
      users.set(name, user);
    }
    phone.trustedUi.setUser(user.answer);
    // The trusted UI is TEE-side; its messages (the PUK) are not REE-visible, but the PUK is a secret.
    phone.trustedUi.onScreen((e) => {
      const puk = /PUK is ([0-9]+)/.exec(e.kind === 'message' ? e.text : '')?.[1];
      if (puk) textSecrets.set(`puk:${name}`, puk);
    });
    phones.set(name, phone);
    const [teeStore, trustedKeyStore] = phone.paths.reeVisible as [string, string];
    phonePaths.set(name, { teeStore, trustedKeyStore });
    return phone;
  };

  for (const name of PHONES) {
    const phone = await makePhone(name);
    await provisionIdentity(phone, kmc, PLAIN, name, {
      pin: DEFAULT_PIN, capture: capture.hook, ...(name === 'alice' ? { offlineBalance: { amount: OFFLINE_BALANCE, currency: 'CNY' } } : {}),
    });
    if (options.hardened) await provisionIdentity(phone, kmc, HARDENED, name, { pin: DEFAULT_PIN, capture: capture.hook });
    phones.get(name)!.trustedUi.setUser(users.get(name)!.answer);
  }
  textSecrets.set('pin', DEFAULT_PIN);

  const backendDir = join(dir, 'backend');
  const backendKey = provider.generateKeyPair('p256');
  const start = () =>
    startBackend({ dataDir: backendDir, port: 0, provider, trustedKmcPublicKey: kmc.kmcPublicKey, matrices: Object.values(matrices), sync: false, backendKey });
  let backend = options.backend === false ? undefined : await start();

  const need = <T>(v: T | undefined, what: string): T => {
    if (v === undefined) throw new TeeError('BAD_STATE', `adversary: no ${what}`, 'API');
    return v;
  };

  const http = async (method: 'GET' | 'POST', path: string, body?: Record<string, unknown>): Promise<HttpExchange> => {
    const b = need(backend, 'backend');
    const requestBody = body === undefined ? '' : JSON.stringify(body);
    const res = await fetch(`${b.url}${path}`, {
      method, ...(body === undefined ? {} : { body: requestBody, headers: { 'content-type': 'application/json' } }),
    });
    const responseBody = await res.text();
    let json: Record<string, unknown> = {};
    try {
      const parsed: unknown = JSON.parse(responseBody);
      if (typeof parsed === 'object' && parsed !== null) json = parsed as Record<string, unknown>;
    } catch {
      // not JSON: kept as text in responseBody
    }
    const ex: HttpExchange = { method, path, requestBody, status: res.status, responseBody, json };
    httpLog.push(ex);
    return ex;
  };

  if (backend) for (const name of PHONES) await http('POST', '/v1/accounts', { subdomainId: PLAIN, userId: name, currency: 'CNY', balance: BACKEND_BALANCE });

  let orders = 0;
  const adv: Adversary = {
    dir, provider, factory, kmc, matrices, capture, scanner, httpLog, qrLog,
    get backend() {
      return need(backend, 'backend');
    },
    backendDir,
    phone: (name) => need(phones.get(name), `phone ${name}`),
    user: (name) => need(users.get(name), `user ${name}`),
    party: (name, subdomainId = PLAIN) => ({ subdomainId, userId: name }),
    link: (name) => adv.phone(name).interceptor,
    paths: (name) => need(phonePaths.get(name), `phone ${name}`),
    async wallet(name) {
      const context = await initializeContext(adv.phone(name).driver, { name: 'hostile-wallet', capture: capture.hook });
      const session = await openSession(context, WALLET_TA_UUID, { login: 'public' });
      const w = new HostileWallet(context, session);
      wallets.push(w);
      return w;
    },
    async submitRaw(name, bytes) {
      capture.hook('ree->tee', bytes);
      const reply = await adv.phone(name).driver.submit(bytes);
      capture.hook('tee->ree', reply);
      return reply;
    },
    forgeHandle: () => provider.randomBytes(16),
    async snapshot(path) {
      const copy = join(dir, 'snapshots', `${Date.now()}-${toBase64url(provider.randomBytes(6))}`);
      await cp(path, copy, { recursive: true });
      return {
        path: copy,
        async restore() {
          await rm(path, { recursive: true, force: true });
          await cp(copy, path, { recursive: true });
        },
      };
    },
    async flipFileBits(target, pattern = /\.(ldb|log)$/) {
      let n = 0;
      const walk = async (d: string): Promise<void> => {
        for (const e of await readdir(d, { withFileTypes: true })) {
          const p = join(d, e.name);
          if (e.isDirectory()) await walk(p);
          else if (pattern.test(e.name) && (await stat(p)).size > 0) {
            const bytes = new Uint8Array(await readFile(p));
            const at = Math.floor(bytes.length / 2);
            bytes[at] = bytes[at]! ^ 0x10;
            await writeFile(p, bytes);
            n++;
          }
        }
      };
      await walk(target);
      return n;
    },
    async restartTrustedKey(name) {
      retiredFrames.push(...adv.link(name).frames());
      await adv.phone(name).restartTrustedKey();
    },
    async restartPhone(name, whileOff) {
      const old = adv.phone(name);
      retiredFrames.push(...old.interceptor.frames());
      for (const w of wallets.splice(0)) await w.close();
      await old.close();
      phones.delete(name);
      await whileOff?.();
      await makePhone(name);
      await adv.phone(name).trustedKey.whenConnected();
    },
    async restartBackend() {
      await backend?.close();
      backend = await start();
    },
    http,
    async replayHttp(ex) {
      return http(ex.method, ex.path, ex.requestBody === '' ? undefined : (JSON.parse(ex.requestBody) as Record<string, unknown>));
    },
    paymentRequest(payee, amount, overrides = {}) {
      const now = Date.now();
      const request: PaymentRequest = {
        version: 1, kind: 'online-request', payee, amount, currency: 'CNY', orderId: `order-${now}-${++orders}`, expiresAt: now + 600_000, ...overrides,
      };
      // An already expired request (attack scenarios) was issued a minute before it expired.
      const qr = adv.qrText({ version: 1, type: 'online-request', issuedAt: Math.min(now, request.expiresAt - 60_000), expiresAt: request.expiresAt, body: encodePaymentRequest(request) });
      return { request, qr };
    },
    qrText(envelope) {
      const text = encodeQrText(envelope);
      qrLog.push(text);
      return text;
    },
    readQr: (text, now) => decodeQrText(text, now === undefined ? {} : { now }),
    alterQr(text, change) {
      const e = decodeQrText(text);
      return adv.qrText(change(e));
    },
    log(line) {
      logs.push(line);
    },
    async scanLeaks() {
      scanner.clearBuffers();
      for (const r of capture.records) scanner.addBytes(`client-api ${r.direction}`, r.bytes);
      for (const f of retiredFrames) scanner.addBytes('link frame', f);
      for (const p of phones.values()) for (const f of p.interceptor.frames()) scanner.addBytes('link frame', f);
      for (const h of httpLog) {
        scanner.addText(`http ${h.path} request`, h.requestBody);
        scanner.addText(`http ${h.path} response`, h.responseBody);
      }
      for (const q of qrLog) scanner.addText('qr', q);
      for (const l of logs) scanner.addText('log', l);
      for (const name of phonePaths.keys()) {
        const p = adv.paths(name);
        await scanner.addDirectory(`${name} tee ree-fs`, p.teeStore);
        await scanner.addDirectory(`${name} trusted-key store`, p.trustedKeyStore);
      }
      await scanner.addDirectory('backend ledger', join(backendDir, 'ledger'));
      const known = new Set([toBase64url(backendKey.secretKey)]);
      // The backend's own receipt key is REE-side by design (the REE runs the backend): not a TEE secret.
      scanner.addSecrets('tee/trusted-key secret', rec.secrets().filter((s) => !known.has(toBase64url(s))));
      for (const [label, text] of textSecrets) scanner.addTextSecret(label, text);
      return scanner.scan();
    },
    async close() {
      for (const w of wallets.splice(0)) await w.close();
      for (const p of phones.values()) await p.close().catch(() => undefined);
      await backend?.close().catch(() => undefined);
      kmc.close();
      if (!options.keep) await rm(dir, { recursive: true, force: true });
    },
  };
  return adv;
}

/** Base64url helpers for HTTP bodies (the backend's byte encoding). */
export const b64 = toBase64url;
export const unb64 = fromBase64url;
