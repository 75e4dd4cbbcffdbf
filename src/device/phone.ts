/**
 * A simulated phone: the composition root that wires a TEE OS, its wallet TA and a trusted key
 * together, the way the hardware would.
 *
 *   <dir>/hardware/       burned-in identities (not REE-visible; see ./hardware.ts)
 *   <dir>/tee/            TEE OS data dir: ree-fs/ (REE-visible ciphertext), tee-private/
 *   <dir>/trusted-key/    store/ (REE-visible ciphertext), private/ (the key's own memory)
 *
 * The REE gets `driver` only. The TEE OS and the trusted key talk over a secure channel whose frames
 * the REE carries (`interceptor`, for attacks). The test or demo plays the user on the TEE side
 * through `trustedUi`.
 */
import { join } from 'node:path';
import { aoneOf } from '../common/checks.js';
import { TeeError } from '../common/errors.js';
import type { TraceEvent, TraceSink } from '../common/trace.js';
import { defaultProvider } from '../crypto/index.js';
import type { CryptoProvider, SignatureAlgorithm } from '../crypto/provider.js';
import { acceptChannel, DEFAULT_COALESCE_BATCH, MAX_MESSAGES_PER_RECORD, type InterceptHook, type Transport } from '../channel/index.js';
import { TeeOs, reeFsDir, type TeeDriver, type TrustedUiLogEntry, type TrustedUiUser } from '../tee/index.js';
import { installWalletTa, walletTaCode, walletTaManifest } from '../tee/tas/wallet/index.js';
import { TrustedKey, trustedKeyPaths, type RetryPolicy } from '../trusted-key/index.js';
import type { Factory } from './factory.js';
import { loadOrIssueHardware, type PhoneHardware } from './hardware.js';
import { startTrustedKeyWorker } from './trusted-key-host.js';
import { createPhoneWire, type PhoneWire } from './wire.js';

/**
 * A trusted key on its own thread that ends without being asked (a crash, a cut of the chip's power)
 * is started again from its directory, as a device resets a secure element that stopped answering:
 * at most MAX_KEY_RESTARTS times within KEY_RESTART_WINDOW_MS. Past that, or if it cannot be
 * opened (SECURITY for a rolled-back store), it stays stopped: the TEE OS answers COMMUNICATION
 * until `restartTrustedKey`.
 */
export const MAX_KEY_RESTARTS = 3;
export const KEY_RESTART_WINDOW_MS = 60_000;

export interface PhoneOptions {
  dir: string;
  factory: Factory;
  provider?: CryptoProvider;
  /** Public name (certificate subjects, traces). */
  name: string;
  trace?: TraceSink;
  /** Interceptor hook for the TEE OS <-> trusted key link, from the first frame on. */
  transportHook?: InterceptHook;
  /** KMC key to pin in the trusted key (otherwise pinned at provisioning). */
  kmcPublicKey?: Uint8Array;
  /** Amounts above this (minor units) need the PIN; default 10000. */
  pinLimit?: number;
  /** Trusted key identity algorithm at first creation (default 'p256'). */
  trustedKeyAlgorithm?: SignatureAlgorithm;
  retry?: Partial<RetryPolicy>;
  now?: () => number;
  /**
   * Where the trusted key runs: 'inline' (default) in this thread, where tests can reach the
   * TrustedKey object; 'worker' on a thread of its own, as the separate chip it models (its memory
   * unreachable from here, its signatures beside the TEE OS's work). With 'worker', `trustedKey`
   * is not available and `now` is refused.
   */
  trustedKeyThread?: 'inline' | 'worker';
  /**
   * Byte budget of the REE's log of the TEE OS <-> trusted key frames (`interceptor.log`): it keeps
   * the latest frames within it. Default DEFAULT_LOG_BYTES (1 MiB); 0 keeps none; Infinity keeps
   * every frame (the attack harness, to scan all of them for leaks).
   */
  wireLogBytes?: number;
}

/** The key as the phone holds it: reachable (inline) or not, and how it ends. */
interface RunningKey {
  inline?: TrustedKey;
  close(): Promise<void>;
  /** Worker only: stop the thread abruptly. */
  crash?(): Promise<void>;
  /** Worker only: settles when the thread has ended. */
  ended?: Promise<{ requested: boolean }>;
}

/** The TEE-side user seat: whoever answers the trusted UI (the test or demo user). */
export interface PhoneTrustedUi {
  setUser(user: TrustedUiUser | undefined): void;
  readonly user: TrustedUiUser | undefined;
  readonly log: readonly Readonly<TrustedUiLogEntry>[];
  onScreen(listener: (entry: Readonly<TrustedUiLogEntry>) => void): () => void;
}

export interface PhonePaths {
  tee: string;
  trustedKey: string;
  /** Directories the REE can read, copy and restore. */
  reeVisible: string[];
}

export interface Phone {
  readonly name: string;
  /** What the REE gets. */
  readonly driver: TeeDriver;
  readonly teeOs: TeeOs;
  /** The current trusted key (a new object after `restartTrustedKey`); BAD_STATE when it runs on its own thread. */
  readonly trustedKey: TrustedKey;
  /** Where the trusted key runs (PhoneOptions.trustedKeyThread). */
  readonly trustedKeyThread: 'inline' | 'worker';
  readonly trustedUi: PhoneTrustedUi;
  /** The REE-carried link between the TEE OS and the trusted key. */
  readonly interceptor: PhoneWire;
  readonly paths: PhonePaths;
  /** Power-cycle the trusted key: close it, reopen it from its directory (SECURITY if its store was rolled back), reconnect. */
  restartTrustedKey(): Promise<void>;
  /**
   * The trusted key's state: 'running', 'restarting' after its thread ended unasked, or 'stopped'
   * when automatic restarts gave up (see MAX_KEY_RESTARTS) until `restartTrustedKey`.
   */
  readonly trustedKeyState: 'running' | 'restarting' | 'stopped';
  /** Automatic restarts of the trusted key so far. */
  readonly trustedKeyRestarts: number;
  /**
   * Fault injection (key on its own thread only; BAD_STATE inline): stop the trusted key's thread
   * at once, with no chance to finish a write or close anything, as a crash or a power cut of the
   * chip would. Resolves once the thread has ended; the phone then restarts the key.
   */
  crashTrustedKey(): Promise<void>;
  close(): Promise<void>;
}

/**
 * The TEE OS traces every trusted-UI message it shows; the PUK screen must not reach a trace
 * (traces are printed), so digits on it are masked before they leave the phone.
 */
function redactingTrace(trace: TraceSink | undefined): TraceSink | undefined {
  if (!trace) return undefined;
  return (event: TraceEvent) => {
    if (event.lane === 'TEE' && event.actor === 'trusted-ui' && /PUK/.test(event.text)) {
      trace({ ...event, text: event.text.replace(/[0-9]{6,}/g, '[shown to the user only]') });
    } else trace(event);
  };
}

export async function createPhone(options: PhoneOptions): Promise<Phone> {
  const thread = aoneOf(options.trustedKeyThread ?? 'inline', 'phone: trustedKeyThread', ['inline', 'worker'] as const);
  const onWorker = thread === 'worker';
  // Checked before anything is created: a function cannot cross to the key's thread.
  if (onWorker && options.now) throw new TeeError('BAD_PARAMETERS', 'phone: a trusted key on its own thread keeps its own clock (no now option)', 'API');
  const wire = createPhoneWire(options.transportHook, options.wireLogBytes);
  const provider = options.provider ?? defaultProvider();
  const { dir, factory, name } = options;
  const teeDir = join(dir, 'tee');
  const tkDir = join(dir, 'trusted-key');
  const hardware: PhoneHardware = await loadOrIssueHardware(join(dir, 'hardware'), factory, name, options.trustedKeyAlgorithm ?? 'p256');
  const trace = redactingTrace(options.trace);

  const teeOs = await TeeOs.create({
    provider,
    dataDir: teeDir,
    trustedTaSigners: [factory.taSigner],
    device: hardware.device,
    ...(trace ? { trace } : {}),
  });
  const code = await walletTaCode();
  installWalletTa(teeOs, factory.signTa(walletTaManifest(provider, code)), code, trace ? { trace } : {});

  // Calls in flight together share records both ways (see ChannelOptions.coalesce). Inline, one
  // record per turn is cheapest; with the key on its own thread, two records in flight let the two
  // threads work at once (see ChannelOptions.coalesceBatch).
  const coalescing = { coalesce: true, coalesceBatch: onWorker ? DEFAULT_COALESCE_BATCH : MAX_MESSAGES_PER_RECORD };
  let closed = false;
  // Each (re)connection: a fresh REE-carried pair; the TEE OS answers the handshake and takes the channel.
  const openTransport = async (): Promise<Transport> => {
    if (closed || teeOs.closed) throw new TeeError('COMMUNICATION', 'phone: switched off', 'API');
    const pair = wire.open();
    acceptChannel(pair.responder, hardware.teeOs, { provider, ...coalescing }).then(
      (channel) => {
        if (teeOs.closed) channel.close();
        else teeOs.attachTrustedKey(channel);
      },
      () => undefined, // the trusted key sees the failure on its side and retries
    );
    return pair.initiator;
  };

  const keyOptions = {
    dir: tkDir,
    identity: hardware.trustedKey,
    vendorRoot: factory.vendorRoot,
    channelOptions: coalescing,
    ...(options.kmcPublicKey ? { kmcPublicKey: options.kmcPublicKey } : {}),
    ...(options.pinLimit !== undefined ? { pinLimit: options.pinLimit } : {}),
    ...(options.retry ? { retry: options.retry } : {}),
  };
  // Open and connect the key where it runs; returns how to reach (inline) and close it.
  const startKey = async (): Promise<RunningKey> => {
    if (onWorker) return startTrustedKeyWorker(keyOptions, provider.name, openTransport, trace);
    const key = await TrustedKey.open({ ...keyOptions, provider, ...(trace ? { trace } : {}), ...(options.now ? { now: options.now } : {}) });
    try {
      await key.connect(openTransport);
    } catch (err) {
      await key.close().catch(() => undefined);
      throw err;
    }
    return { inline: key, close: () => key.close() };
  };

  let running: RunningKey;
  try {
    running = await startKey();
  } catch (err) {
    await teeOs.close();
    throw err;
  }

  // Starts, restarts and closing of the key run one at a time.
  let lifecycle: Promise<unknown> = Promise.resolve();
  const serially = <T>(task: () => Promise<T>): Promise<T> => {
    const next = lifecycle.then(task);
    lifecycle = next.catch(() => undefined);
    return next;
  };
  let keyState: Phone['trustedKeyState'] = 'running';
  let restarts = 0;
  const recentRestarts: number[] = [];
  const report = (text: string, detail?: Record<string, string | number | boolean>) =>
    trace?.({ lane: 'TEE', actor: 'phone', text, ...(detail ? { detail } : {}) });
  const recover = async (): Promise<void> => {
    const now = Date.now();
    while (recentRestarts.length > 0 && now - recentRestarts[0]! >= KEY_RESTART_WINDOW_MS) recentRestarts.shift();
    if (recentRestarts.length >= MAX_KEY_RESTARTS) {
      keyState = 'stopped';
      report('trusted key stopped again: automatic restarts exhausted', { restarts: MAX_KEY_RESTARTS, windowMs: KEY_RESTART_WINDOW_MS });
      return;
    }
    recentRestarts.push(now);
    keyState = 'restarting';
    report('trusted key stopped unasked: restarting it');
    try {
      running = await startKey();
    } catch (err) {
      keyState = 'stopped';
      report('trusted key could not be restarted', { code: err instanceof TeeError ? err.code : 'GENERIC' });
      return;
    }
    restarts++;
    keyState = 'running';
    watch(running);
  };
  // A key whose thread ends unasked is restarted (inline keys end only when closed).
  const watch = (key: RunningKey): void => {
    void key.ended?.then(({ requested }) => {
      if (requested || closed || running !== key) return;
      keyState = 'restarting';
      void serially(async () => {
        if (!closed && running === key) await recover();
      });
    });
  };
  watch(running);

  let user: TrustedUiUser | undefined;
  const trustedUi: PhoneTrustedUi = {
    setUser(next) {
      user = next;
      teeOs.trustedUi.setUser(next);
    },
    get user() {
      return user;
    },
    get log() {
      return teeOs.trustedUi.log;
    },
    onScreen: (listener) => teeOs.trustedUi.onScreen(listener),
  };

  return {
    name,
    driver: teeOs.driver,
    teeOs,
    trustedKeyThread: thread,
    get trustedKey() {
      if (!running.inline) throw new TeeError('BAD_STATE', 'phone: the trusted key runs on its own thread', 'API');
      return running.inline;
    },
    trustedUi,
    interceptor: wire,
    paths: { tee: teeDir, trustedKey: tkDir, reeVisible: [reeFsDir(teeDir), trustedKeyPaths(tkDir).store] },
    async restartTrustedKey() {
      if (closed) throw new TeeError('BAD_STATE', 'phone: closed', 'API');
      await serially(async () => {
        if (closed) throw new TeeError('BAD_STATE', 'phone: closed', 'API');
        await running.close();
        keyState = 'restarting';
        try {
          running = await startKey();
        } catch (err) {
          keyState = 'stopped';
          throw err;
        }
        keyState = 'running';
        recentRestarts.length = 0;
        watch(running);
      });
    },
    get trustedKeyState() {
      return keyState;
    },
    get trustedKeyRestarts() {
      return restarts;
    },
    async crashTrustedKey() {
      if (closed) throw new TeeError('BAD_STATE', 'phone: closed', 'API');
      if (!running.crash) throw new TeeError('BAD_STATE', 'phone: only a trusted key on its own thread can be crashed', 'API');
      await running.crash();
      // Reported at once, even before the restart (queued behind any other start or stop) begins.
      if (keyState === 'running') keyState = 'restarting';
    },
    async close() {
      if (closed) return;
      closed = true;
      await serially(() => running.close());
      await teeOs.close();
    },
  };
}
