/**
 * The trusted key as one device: its four modules wired together and to the channel.
 *
 *   communication-agent  the channel endpoint (the only module touching the channel)
 *   secure-storage       `<dir>/store` (REE-visible ciphertext) + `<dir>/private` (its own memory)
 *   trusted-computing    keys by id, usage flags, CPK identities
 *   trusted-interaction  confirmations and PIN through the TEE OS's trusted UI
 *   payments + service   the `tk.*` commands the TEE OS calls
 *
 * It imports nothing from the TEE or the REE: everything it learns arrives through the channel.
 */
import { toHex } from '../common/bytes.js';
import { aobject } from '../common/checks.js';
import { TeeError } from '../common/errors.js';
import type { TraceSink } from '../common/trace.js';
import { defaultProvider } from '../crypto/index.js';
import type { CryptoProvider } from '../crypto/provider.js';
import type { ChannelOptions, PeerIdentity, RootKey } from '../channel/index.js';
import {
  CommunicationAgent,
  type AgentIdentity,
  type AgentStatus,
  type RetryPolicy,
  type TransportFactory,
} from './communication-agent/index.js';
import { PaymentService } from './payments.js';
import { TrustedKeyStorage } from './secure-storage/index.js';
import { registerService } from './service.js';
import { TrustedComputing } from './trusted-computing/index.js';
import { TrustedInteraction, type PinStatus } from './trusted-interaction/index.js';

export interface TrustedKeyOptions {
  /** The key's directory: `store/` is REE-visible, `private/` is the key's own memory. */
  dir: string;
  provider?: CryptoProvider;
  /** Static channel identity: Ed25519 or P-256 key with a 'trusted-key' certificate from the issuer root. */
  identity: AgentIdentity;
  /** The root the TEE OS's 'tee-os' certificate must chain to. */
  vendorRoot: RootKey;
  /** KMC key to pin (first start) or to check against the pinned one. */
  kmcPublicKey?: Uint8Array;
  trace?: TraceSink;
  /** Amounts above this (minor units) need the PIN too; default 10000. */
  pinLimit?: number;
  pinTries?: number;
  pukTries?: number;
  retry?: Partial<RetryPolicy>;
  channelOptions?: Omit<ChannelOptions, 'provider'>;
  /** Clock for signedAt and expiry checks. */
  now?: () => number;
  sync?: boolean;
}

export class TrustedKey {
  readonly #agent: CommunicationAgent;
  readonly #storage: TrustedKeyStorage;
  readonly #computing: TrustedComputing;
  readonly #interaction: TrustedInteraction;
  readonly subject: string;
  #closed = false;

  private constructor(agent: CommunicationAgent, storage: TrustedKeyStorage, computing: TrustedComputing, interaction: TrustedInteraction, subject: string) {
    this.#agent = agent;
    this.#storage = storage;
    this.#computing = computing;
    this.#interaction = interaction;
    this.subject = subject;
  }

  /** Open the key's storage (SECURITY if it was rolled back) and set up its modules; not yet connected. */
  static async open(options: TrustedKeyOptions): Promise<TrustedKey> {
    aobject(options, 'trusted key options');
    const provider = options.provider ?? defaultProvider();
    const identity = aobject(options.identity, 'trusted key identity') as unknown as AgentIdentity;
    if (identity.certificate?.role !== 'trusted-key') throw new TeeError('BAD_PARAMETERS', 'trusted key: identity certificate must have role trusted-key', 'TRUSTED_KEY');
    const storage = await TrustedKeyStorage.open({ dir: options.dir, provider, ...(options.sync !== undefined ? { sync: options.sync } : {}) });
    try {
      const now = options.now ?? Date.now;
      const trace = options.trace;
      const computing = await TrustedComputing.open(provider, storage, {
        ...(options.kmcPublicKey ? { kmcPublicKey: options.kmcPublicKey } : {}),
        ...(trace ? { trace } : {}),
        now,
      });
      const agent = new CommunicationAgent({
        provider,
        identity,
        trustedRoots: [options.vendorRoot],
        ...(options.retry ? { retry: options.retry } : {}),
        ...(options.channelOptions ? { channelOptions: options.channelOptions } : {}),
        ...(trace ? { trace } : {}),
      });
      const interaction = new TrustedInteraction({
        ui: agent,
        storage,
        provider,
        ...(options.pinTries !== undefined ? { pinTries: options.pinTries } : {}),
        ...(options.pukTries !== undefined ? { pukTries: options.pukTries } : {}),
        ...(trace ? { trace } : {}),
      });
      const payments = new PaymentService({
        computing,
        interaction,
        storage,
        now,
        ...(options.pinLimit !== undefined ? { pinLimit: options.pinLimit } : {}),
        ...(trace ? { trace } : {}),
      });
      registerService({ agent, computing, interaction, payments });
      trace?.({
        lane: 'TK',
        actor: 'trusted-key',
        text: 'trusted key opened (storage integrity and freshness checked)',
        detail: { subject: identity.certificate.subject, identityKey: toHex(identity.certificate.publicKey).slice(0, 16) },
      });
      return new TrustedKey(agent, storage, computing, interaction, identity.certificate.subject);
    } catch (err) {
      await storage.close().catch(() => undefined);
      throw err;
    }
  }

  /** Handshake with the TEE OS over transports from `openTransport`; reconnects by itself afterwards. */
  connect(openTransport: TransportFactory): Promise<void> {
    this.#assertOpen();
    return this.#agent.connect(openTransport);
  }

  get status(): AgentStatus {
    return this.#agent.status;
  }

  /** Channels established so far. */
  get connections(): number {
    return this.#agent.connections;
  }

  get peer(): PeerIdentity | undefined {
    return this.#agent.peer;
  }

  whenConnected(timeoutMs?: number): Promise<void> {
    return this.#agent.whenConnected(timeoutMs);
  }

  onStatus(listener: (status: AgentStatus) => void): () => void {
    return this.#agent.onStatus(listener);
  }

  /** After status 'failed': try to establish a channel again. */
  reconnect(): Promise<void> {
    this.#assertOpen();
    return this.#agent.reconnect();
  }

  /**
   * Provisioning, out of the REE's reach (at the issuer's desk or the factory): pin the KMC key that
   * issuance packages and public matrices must be signed with. Once pinned it cannot change.
   */
  pinKmcPublicKey(kmcPublicKey: Uint8Array): Promise<void> {
    this.#assertOpen();
    return this.#computing.pinKmcPublicKey(kmcPublicKey);
  }

  get kmcPinned(): boolean {
    return this.#computing.kmcPublicKey !== undefined;
  }

  pinStatus(): Promise<PinStatus> {
    this.#assertOpen();
    return this.#interaction.pinStatus();
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Close the channel (no reconnection) and the storage; in-memory secrets are zeroized. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#agent.close();
    this.#computing.forget();
    await this.#storage.close();
  }

  #assertOpen(): void {
    if (this.#closed) throw new TeeError('BAD_STATE', 'trusted key: closed', 'TRUSTED_KEY');
  }
}
