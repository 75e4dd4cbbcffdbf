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
  // record per turn is cheapest; with the key on its own thread, small batches let the two threads
  // work at once (see DEFAULT_COALESCE_BATCH).
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
  const startKey = async (): Promise<{ inline?: TrustedKey; close: () => Promise<void> }> => {
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

  let running: { inline?: TrustedKey; close: () => Promise<void> };
  try {
    running = await startKey();
  } catch (err) {
    await teeOs.close();
    throw err;
  }

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
      await running.close();
      running = await startKey();
    },
    async close() {
      if (closed) return;
      closed = true;
      await running.close();
      await teeOs.close();
    },
  };
}
