/**
 * The trusted key's end of the secure channel, and the only module of the key that touches it.
 *
 * It holds the key's channel identity (static Ed25519 or P-256 key with a 'trusted-key' certificate
 * from the issuer root; it accepts only a 'tee-os' peer certified by the vendor root), runs the
 * handshake as initiator over a transport the REE provides, and keeps the channel up: when the
 * channel closes under it (a dropped or attacked transport, a TEE OS restart) it asks for a new
 * transport and handshakes again, with bounded retries and exponential backoff. Command handlers
 * registered with `onCommand` are installed on every new channel, so callers never see the churn.
 *
 * What it does not do: judge commands (the service does), or queue requests across a failure: a
 * request made while the channel is down waits for the next channel up to its timeout. A command's
 * own requests (the trusted UI it asks for) go over the channel the command came on, never a later
 * one: each handler gets that channel's `CommandOrigin`.
 */
import { zeroize } from '../../common/bytes.js';
import { TeeError } from '../../common/errors.js';
import type { TraceSink } from '../../common/trace.js';
import type { CryptoProvider, SignatureAlgorithm } from '../../crypto/provider.js';
import {
  connectChannel,
  type Certificate,
  type ChannelIdentity,
  type ChannelOptions,
  type PeerIdentity,
  type RequestHandler,
  type RootKey,
  type SecureChannel,
  type Transport,
} from '../../channel/index.js';

export type AgentStatus = 'idle' | 'connecting' | 'connected' | 'reconnecting' | 'failed' | 'closed';

export interface RetryPolicy {
  /** Handshake attempts per (re)connection before giving up (default 5). */
  attempts: number;
  /** Delay before the first retry (default 20 ms); doubles each time. */
  initialDelayMs: number;
  /** Largest delay between attempts (default 1000 ms). */
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 5, initialDelayMs: 20, maxDelayMs: 1000 };
/** How long `request` waits for a channel when it is being re-established. */
export const DEFAULT_REQUEST_WAIT_MS = 5000;

export interface AgentIdentity {
  algorithm: SignatureAlgorithm;
  /** The key's static identity key; the agent keeps its own copy and zeroizes it on close. */
  secretKey: Uint8Array;
  certificate: Certificate;
}

export interface CommunicationAgentOptions {
  provider: CryptoProvider;
  identity: AgentIdentity;
  /** Roots whose 'tee-os' certificates the key accepts (the vendor root). */
  trustedRoots: RootKey[];
  retry?: Partial<RetryPolicy>;
  /** Extra channel settings (suites, timeouts); the provider is always the agent's. */
  channelOptions?: Omit<ChannelOptions, 'provider'>;
  trace?: TraceSink;
}

export type TransportFactory = () => Promise<Transport>;
/**
 * The way back to the TEE OS for the command being served: requests over the channel the command
 * came on, and only that one. Once that channel is gone the command's caller is gone too (its
 * answer cannot be delivered), so a request fails with COMMUNICATION instead of reaching the user
 * over the next channel on behalf of a call that already failed.
 */
export interface CommandOrigin {
  request(method: string, params: unknown, options?: { timeoutMs?: number }): Promise<unknown>;
}

export type CommandHandler = (params: unknown, origin: CommandOrigin) => ReturnType<RequestHandler>;

function originOf(channel: SecureChannel): CommandOrigin {
  return {
    request(method, params, options = {}) {
      if (channel.closed) return Promise.reject(new TeeError('COMMUNICATION', 'communication agent: the channel this command came on is closed', 'TRUSTED_KEY'));
      return channel.call(method, params, options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {});
    },
  };
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class CommunicationAgent {
  readonly #provider: CryptoProvider;
  readonly #identity: ChannelIdentity;
  readonly #retry: RetryPolicy;
  readonly #channelOptions: Omit<ChannelOptions, 'provider'>;
  readonly #trace: TraceSink | undefined;
  readonly #handlers = new Map<string, CommandHandler>();
  /** One origin per channel, shared by the commands it carries. */
  readonly #origins = new WeakMap<SecureChannel, CommandOrigin>();
  readonly #statusListeners = new Set<(status: AgentStatus) => void>();
  #waiters: { resolve: () => void; reject: (err: TeeError) => void }[] = [];
  #openTransport: TransportFactory | undefined;
  #channel: SecureChannel | undefined;
  #status: AgentStatus = 'idle';
  #connections = 0;

  constructor(options: CommunicationAgentOptions) {
    this.#provider = options.provider;
    this.#identity = {
      role: 'trusted-key',
      algorithm: options.identity.algorithm,
      secretKey: new Uint8Array(options.identity.secretKey),
      certificate: options.identity.certificate,
      trustedRoots: options.trustedRoots.slice(),
      expectedPeerRole: 'tee-os',
    };
    this.#retry = { ...DEFAULT_RETRY, ...options.retry };
    this.#channelOptions = options.channelOptions ?? {};
    this.#trace = options.trace;
  }

  get status(): AgentStatus {
    return this.#status;
  }

  /** Channels established so far (1 after the first connect; each reconnection adds one). */
  get connections(): number {
    return this.#connections;
  }

  /** The TEE OS the key is talking to, while connected. */
  get peer(): PeerIdentity | undefined {
    return this.#channel && !this.#channel.closed ? this.#channel.peer : undefined;
  }

  /** Be told of every status change. Returns an unsubscribe function. */
  onStatus(listener: (status: AgentStatus) => void): () => void {
    this.#statusListeners.add(listener);
    return () => this.#statusListeners.delete(listener);
  }

  /** Serve a method the TEE OS calls; installed on the current and on every future channel. */
  onCommand(method: string, handler: CommandHandler): void {
    this.#handlers.set(method, handler);
    if (this.#channel) this.#install(this.#channel, method, handler);
  }

  #install(channel: SecureChannel, method: string, handler: CommandHandler): void {
    const origin = this.#origins.get(channel) ?? originOf(channel);
    this.#origins.set(channel, origin);
    channel.handle(method, (params) => handler(params, origin));
  }

  /**
   * Establish the first channel over transports from `openTransport`, retrying as for a reconnection.
   * Rejects with the last failure if every attempt fails (status 'failed').
   */
  async connect(openTransport: TransportFactory): Promise<void> {
    if (this.#isClosed()) throw new TeeError('BAD_STATE', 'communication agent: closed', 'TRUSTED_KEY');
    if (this.#openTransport) throw new TeeError('BAD_STATE', 'communication agent: already connected', 'TRUSTED_KEY');
    if (typeof openTransport !== 'function') throw new TeeError('BAD_PARAMETERS', 'communication agent: expected a transport factory', 'TRUSTED_KEY');
    this.#openTransport = openTransport;
    this.#setStatus('connecting');
    await this.#establish();
  }

  /** After status 'failed': try to establish a channel again (same policy). */
  async reconnect(): Promise<void> {
    if (this.#status !== 'failed' || !this.#openTransport) throw new TeeError('BAD_STATE', `communication agent: cannot reconnect while ${this.#status}`, 'TRUSTED_KEY');
    this.#setStatus('reconnecting');
    await this.#establish();
  }

  /** Resolves when a channel is up; rejects after `timeoutMs`, or at once if the agent failed or closed. */
  whenConnected(timeoutMs = DEFAULT_REQUEST_WAIT_MS): Promise<void> {
    if (this.#status === 'connected') return Promise.resolve();
    if (this.#status === 'failed' || this.#status === 'closed' || this.#status === 'idle') {
      return Promise.reject(new TeeError('COMMUNICATION', `communication agent: ${this.#status}`, 'TRUSTED_KEY'));
    }
    return new Promise((resolve, reject) => {
      const waiter = {
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (err: TeeError) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(new TeeError('COMMUNICATION', `communication agent: no channel within ${timeoutMs} ms`, 'TRUSTED_KEY'));
      }, timeoutMs);
      this.#waiters.push(waiter);
    });
  }

  /** Send a command to the TEE OS (the trusted UI), waiting for a channel if one is being re-established. */
  async request(method: string, params: unknown, options: { timeoutMs?: number } = {}): Promise<unknown> {
    await this.whenConnected(options.timeoutMs);
    const channel = this.#channel;
    if (!channel || channel.closed) throw new TeeError('COMMUNICATION', 'communication agent: channel closed', 'TRUSTED_KEY');
    return channel.call(method, params, options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {});
  }

  /** Close the channel (with a close notice) and stop reconnecting. The identity key is zeroized. */
  close(): void {
    if (this.#isClosed()) return;
    this.#setStatus('closed');
    const channel = this.#channel;
    this.#channel = undefined;
    channel?.close();
    zeroize(this.#identity.secretKey);
    this.#rejectWaiters(new TeeError('COMMUNICATION', 'communication agent: closed', 'TRUSTED_KEY'));
  }

  // ---- inside ----

  async #establish(): Promise<void> {
    const { attempts, initialDelayMs, maxDelayMs } = this.#retry;
    let last: TeeError | undefined;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      if (this.#isClosed()) throw new TeeError('COMMUNICATION', 'communication agent: closed', 'TRUSTED_KEY');
      if (attempt > 1) await sleep(Math.min(maxDelayMs, initialDelayMs * 2 ** (attempt - 2)));
      if (this.#isClosed()) throw new TeeError('COMMUNICATION', 'communication agent: closed', 'TRUSTED_KEY');
      try {
        const transport = await this.#openTransport!();
        const channel = await connectChannel(transport, this.#identity, { ...this.#channelOptions, provider: this.#provider });
        if (this.#isClosed()) {
          channel.close();
          throw new TeeError('COMMUNICATION', 'communication agent: closed', 'TRUSTED_KEY');
        }
        this.#adopt(channel);
        return;
      } catch (err) {
        last = err instanceof TeeError ? err : new TeeError('COMMUNICATION', 'communication agent: transport failed', 'TRUSTED_KEY');
        this.#trace?.({ lane: 'TK', actor: 'communication-agent', text: `handshake attempt ${attempt} failed`, detail: { code: last.code, why: last.message } });
      }
    }
    if (!this.#isClosed()) this.#setStatus('failed');
    const err = new TeeError('COMMUNICATION', `communication agent: no channel after ${attempts} attempts (${last?.message ?? 'unknown'})`, 'TRUSTED_KEY');
    this.#rejectWaiters(err);
    throw err;
  }

  #adopt(channel: SecureChannel): void {
    this.#channel = channel;
    this.#connections++;
    for (const [method, handler] of this.#handlers) this.#install(channel, method, handler);
    channel.onClose((err) => this.#lost(channel, err));
    this.#trace?.({
      lane: 'TK',
      actor: 'communication-agent',
      text: 'secure channel up',
      detail: {
        peer: channel.peer.subject,
        // What connectChannel checked before it returned (src/channel/handshake.ts), for a reader of the trace.
        verified: `${channel.peer.role} certificate under ${this.#identity.trustedRoots.map((r) => r.name).join(' or ')}, its signature over the handshake, its finished MAC`,
        suite: channel.suite,
        keys: 'fresh for this connection, from an ephemeral X25519 exchange; they never leave the key',
        connection: this.#connections,
      },
    });
    this.#setStatus('connected');
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w.resolve();
  }

  #lost(channel: SecureChannel, err: TeeError | undefined): void {
    if (this.#channel !== channel || this.#status === 'closed') return;
    this.#channel = undefined;
    this.#trace?.({ lane: 'TK', actor: 'communication-agent', text: 'secure channel lost; reconnecting', detail: { reason: err?.code ?? 'closed by peer', ...(err ? { why: err.message } : {}) } });
    this.#setStatus('reconnecting');
    this.#establish().catch(() => undefined); // failure is reported through status and the waiters
  }

  /** A method, not a field test: TypeScript would narrow the field across awaits. */
  #isClosed(): boolean {
    return this.#status === 'closed';
  }

  #rejectWaiters(err: TeeError): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w.reject(err);
  }

  #setStatus(status: AgentStatus): void {
    if (this.#status === status) return;
    this.#status = status;
    for (const l of this.#statusListeners) {
      try {
        l(status);
      } catch {
        // an observer's failure is not the agent's
      }
    }
  }
}
