/**
 * The simulated TEE OS: boots from a data directory (HUK, secure storage), keeps a registry of
 * verified TAs and the built-in pseudo-TAs, runs sessions behind the driver, owns the trusted UI and
 * holds the channel to the trusted key. The REE reaches it only through `driver`; the test or demo
 * plays the user only through `trustedUi`.
 */
import { join } from 'node:path';
import { TeeError } from '../common/errors.js';
import { abytes, aobject } from '../common/checks.js';
import { copyBytes, zeroize } from '../common/bytes.js';
import type { TraceSink } from '../common/trace.js';
import type { CryptoProvider } from '../crypto/provider.js';
import { defaultProvider } from '../crypto/index.js';
import { SecureStore, type StorageNamespace } from '../storage/index.js';
import type { SecureChannel } from '../channel/index.js';
import { ATTESTATION_TA_UUID, createAttestationPta, type DeviceIdentity, type TaMeasurement } from './attestation.js';
import { createDriverEndpoint, type TeeDriver } from './driver.js';
import { HUK_BYTES, deriveStorageKey, loadOrCreateHuk, reeFsDir, teePrivateDir } from './hardware-key.js';
import { SessionManager, type RegisteredTa, type SessionLimits } from './sessions.js';
import { verifyTaPackage, type TaManifest, type TaPackage, type TaSignerKey } from './ta-manifest.js';
import type { TaEnv, TaImplementation, TaServices } from './ta.js';
import { TrustedUi, parseConfirmRequest } from './trusted-ui.js';

export interface TeeOsOptions {
  provider?: CryptoProvider;
  /** Holds `ree-fs/` (REE-visible ciphertext) and `tee-private/` (HUK, rollback counters). */
  dataDir: string;
  /** 32 bytes; generated and kept in `<dataDir>/tee-private/huk` when absent. */
  hardwareUniqueKey?: Uint8Array;
  /** Keys whose signature a TA package needs to be installed. */
  trustedTaSigners: TaSignerKey[];
  /** Attestation identity (P-256 key certified by the vendor root, role 'device'). */
  device?: DeviceIdentity;
  limits?: Partial<SessionLimits>;
  /** TEE-lane trace events (no secrets). */
  trace?: TraceSink;
  /** fsync storage writes (default: SecureStore's default). */
  sync?: boolean;
  /** Clock for attestation timestamps. */
  now?: () => number;
}

export interface InstalledTa {
  uuid: string;
  name: string;
  version: string;
  measurement: Uint8Array;
}

/** Namespace of the TEE core's own objects; cannot collide with a TA's (UUIDs never contain ':'). */
const PTA_NAMESPACE_PREFIX = 'pta:';

export class TeeOs {
  readonly provider: CryptoProvider;
  /** The simulated secure display and input; the test or demo installs the user here. */
  readonly trustedUi = new TrustedUi();
  readonly #store: SecureStore;
  readonly #signers: readonly TaSignerKey[];
  readonly #registry = new Map<string, RegisteredTa & { manifest?: TaManifest }>();
  readonly #namespaces = new Map<string, StorageNamespace>();
  readonly #sessions: SessionManager;
  readonly #driver: TeeDriver;
  readonly #trace: TraceSink | undefined;
  #trustedKey: SecureChannel | undefined;
  #closed = false;

  readonly #services: TaServices;

  private constructor(provider: CryptoProvider, store: SecureStore, options: TeeOsOptions) {
    this.provider = provider;
    this.#store = store;
    this.#signers = options.trustedTaSigners.slice();
    this.#trace = options.trace;
    const self = this;
    this.#services = Object.freeze({
      get trustedKey() {
        return self.#trustedKey;
      },
    });
    this.#sessions = new SessionManager({
      provider,
      findTa: (uuid) => this.#registry.get(uuid),
      envFor: (ta) => this.#envFor(ta),
      ...(options.limits ? { limits: options.limits } : {}),
      ...(options.trace ? { trace: options.trace } : {}),
    });
    this.#driver = createDriverEndpoint(this.#sessions, () => !this.#closed);
    const now = options.now ?? Date.now;
    this.#registry.set(ATTESTATION_TA_UUID, {
      uuid: ATTESTATION_TA_UUID,
      name: 'attestation.pta',
      flags: { singleInstance: true, multiSession: true },
      implementation: createAttestationPta({
        provider,
        device: options.device,
        measurements: () => this.measurements(),
        trustedKeyIdentity: () => {
          const peer = this.#trustedKey?.peer;
          return peer ? { subject: peer.subject, publicKey: peer.publicKey } : undefined;
        },
        now,
      }),
    });
    if (this.#trace) {
      const trace = this.#trace;
      this.trustedUi.onScreen((e) =>
        trace({
          lane: 'TEE',
          actor: 'trusted-ui',
          // The PIN's digits stay on the trusted UI's path to the key; the trace says only that one was typed.
          text: e.kind === 'confirm' ? `screen: ${e.title} -> ${e.outcome}${e.pinEntered ? ', PIN entered (not shown)' : ''}` : `message: ${e.text}`,
        }),
      );
    }
  }

  static async create(options: TeeOsOptions): Promise<TeeOs> {
    aobject(options, 'TeeOs options');
    const provider = options.provider ?? defaultProvider();
    if (!Array.isArray(options.trustedTaSigners)) throw new TeeError('BAD_PARAMETERS', 'TeeOs: trustedTaSigners must be a list', 'API');
    if (options.device && options.device.certificate?.algorithm !== 'p256') {
      throw new TeeError('BAD_PARAMETERS', 'TeeOs: the device key must be P-256', 'API');
    }
    const huk = options.hardwareUniqueKey
      ? copyBytes(abytes(options.hardwareUniqueKey, 'hardwareUniqueKey', HUK_BYTES))
      : await loadOrCreateHuk(provider, options.dataDir);
    const storageKey = deriveStorageKey(provider, huk);
    zeroize(huk);
    let store: SecureStore;
    try {
      store = await SecureStore.open({
        location: reeFsDir(options.dataDir),
        counterLocation: join(teePrivateDir(options.dataDir), 'counters'),
        rootKey: storageKey,
        provider,
        ...(options.sync !== undefined ? { sync: options.sync } : {}),
      });
    } finally {
      // The store keeps its own copy of the key.
      zeroize(storageKey);
    }
    return new TeeOs(provider, store, options);
  }

  /** The REE's only way in. */
  get driver(): TeeDriver {
    return this.#driver;
  }

  /**
   * Verify a TA package and register its implementation. Until this returns, no session can reach
   * the TA; if verification fails (TeeError SECURITY), it never can.
   */
  installTa<H>(pkg: TaPackage, code: Uint8Array, implementation: TaImplementation<H>): TaManifest {
    this.#assertOpen();
    const manifest = verifyTaPackage(this.provider, pkg, this.#signers, code);
    if (this.#registry.has(manifest.uuid)) {
      throw new TeeError('ACCESS_CONFLICT', `installTa: a TA with UUID ${manifest.uuid} is already installed`, 'TEE');
    }
    if (typeof implementation !== 'function' && (typeof implementation !== 'object' || implementation === null || typeof implementation.onInvokeCommand !== 'function')) {
      throw new TeeError('BAD_PARAMETERS', 'installTa: implementation has no onInvokeCommand', 'API');
    }
    this.#registry.set(manifest.uuid, {
      uuid: manifest.uuid,
      name: manifest.name,
      flags: manifest.flags,
      // Sessions treat implementations as opaque: the handle type only matters inside the TA.
      implementation: implementation as TaImplementation<unknown>,
      measurement: manifest.measurement,
      manifest,
    });
    this.#trace?.({ lane: 'TEE', actor: 'tee-os', text: `TA installed: ${manifest.name}`, detail: { uuid: manifest.uuid, version: manifest.version } });
    return manifest;
  }

  /** Installed user TAs (public data). */
  get installedTas(): InstalledTa[] {
    const out: InstalledTa[] = [];
    for (const ta of this.#registry.values()) {
      if (ta.manifest) out.push({ uuid: ta.uuid, name: ta.name, version: ta.manifest.version, measurement: copyBytes(ta.manifest.measurement) });
    }
    return out;
  }

  /** What attestation reports: each user TA's measurement, ordered by UUID. */
  measurements(): TaMeasurement[] {
    return this.installedTas
      .map((t) => ({ uuid: t.uuid, measurement: t.measurement }))
      .sort((a, b) => (a.uuid < b.uuid ? -1 : a.uuid > b.uuid ? 1 : 0));
  }

  /**
   * Take the secure channel to the trusted key: TAs find it as `services.trustedKey`, and the trusted
   * key may drive the trusted UI through it (`tui.confirm`, `tui.message`) — never the REE.
   */
  attachTrustedKey(channel: SecureChannel): void {
    this.#assertOpen();
    this.#trustedKey = channel;
    // A dead channel is no service: TAs see none until the trusted key reconnects.
    channel.onClose(() => {
      if (this.#trustedKey === channel) this.#trustedKey = undefined;
    });
    channel.handle('tui.confirm', async (params: unknown) => {
      const result = await this.trustedUi.confirm(parseConfirmRequest(params));
      return result.pin ? { confirmed: result.confirmed, pin: result.pin } : { confirmed: result.confirmed };
    });
    channel.handle('tui.message', async (params: unknown) => {
      const p = aobject(params, 'tui.message');
      await this.trustedUi.message(p.text as string);
      return {};
    });
    this.#trace?.({ lane: 'TEE', actor: 'tee-os', text: 'trusted key attached', detail: { subject: channel.peer.subject } });
  }

  get trustedKey(): SecureChannel | undefined {
    return this.#trustedKey;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Close every session, then storage. The driver answers BAD_STATE from now on. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#sessions.closeAll();
    await this.#store.close();
  }

  #assertOpen(): void {
    if (this.#closed) throw new TeeError('BAD_STATE', 'TEE OS: closed', 'TEE');
  }

  #namespace(name: string): StorageNamespace {
    let ns = this.#namespaces.get(name);
    if (!ns) {
      ns = this.#store.namespace(name);
      this.#namespaces.set(name, ns);
    }
    return ns;
  }

  #envFor(ta: RegisteredTa): TaEnv {
    const isPta = !this.#registry.get(ta.uuid)?.manifest;
    const name = isPta ? PTA_NAMESPACE_PREFIX + ta.uuid : ta.uuid;
    const self = this;
    return Object.freeze({
      uuid: ta.uuid,
      provider: this.provider,
      // Opened on first use: most pseudo-TAs never touch storage.
      get storage() {
        return self.#namespace(name);
      },
      trustedUi: { confirm: (r) => this.trustedUi.confirm(r), message: (t) => this.trustedUi.message(t) },
      services: this.#services,
    } satisfies TaEnv);
  }
}
