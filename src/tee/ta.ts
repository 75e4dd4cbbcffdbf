/**
 * What a Trusted Application implements and what the TEE OS hands it, in the manner of OP-TEE's
 * libutee entry points (TA_CreateEntryPoint, TA_OpenSessionEntryPoint, TA_InvokeCommandEntryPoint,
 * TA_CloseSessionEntryPoint). A TA sees only its own session, its own handle table and its own
 * storage namespace; everything else it may use arrives through `services`.
 */
import type { CryptoProvider } from '../crypto/provider.js';
import type { StorageNamespace } from '../storage/index.js';
import type { SecureChannel } from '../channel/index.js';
import type { HandleTable } from './handles.js';
import type { Params } from './params.js';
import type { TaTrustedUi } from './trusted-ui.js';

export type LoginMethod = 'public' | 'user' | 'application';

/**
 * Who opened the session, as the REE's driver reports it. Like OP-TEE's TEE_LOGIN_USER/APPLICATION,
 * the identity is asserted by the rich OS: a TA may use it to separate clients, not to authenticate them.
 */
export interface ClientIdentity {
  login: LoginMethod;
  identity: string;
}

/** Services the TEE OS offers TAs. Read at call time: the trusted key may be attached later. */
export interface TaServices {
  /** The secure channel to the trusted key, once attached. */
  readonly trustedKey: SecureChannel | undefined;
}

/** What every entry point can reach, per TA instance. */
export interface TaEnv {
  readonly uuid: string;
  readonly provider: CryptoProvider;
  /** The TA's own storage namespace (named by its UUID); no TA can open another's. */
  readonly storage: StorageNamespace;
  readonly trustedUi: TaTrustedUi;
  readonly services: TaServices;
}

export interface TaSession<H = unknown> extends TaEnv {
  /** Hex of the random id the REE holds for this session. */
  readonly sessionId: string;
  readonly client: Readonly<ClientIdentity>;
  /** Handles bound to this session: dead when it closes, unknown to every other session. */
  readonly handles: HandleTable<H>;
  /** The TA's own per-session data; cleared when the session closes. */
  readonly state: Map<string, unknown>;
}

/**
 * A TA's entry points. Throw TeeError for a result the client should see (its code and message
 * cross to the REE with origin TRUSTED_APP, so they must not hold secrets); anything else thrown is
 * a panic: the client sees GENERIC 'TA panicked' and the instance is dead.
 * `onInvokeCommand` may update output params in place or return the full params list.
 */
export interface TrustedApplication<H = unknown> {
  onCreate?(env: TaEnv): Promise<void> | void;
  onOpenSession?(session: TaSession<H>, params: Params): Promise<Params | void> | Params | void;
  onInvokeCommand(session: TaSession<H>, commandId: number, params: Params): Promise<Params | void> | Params | void;
  onCloseSession?(session: TaSession<H>): Promise<void> | void;
  /** Called when the instance goes away (last session closed, or after a panic). */
  onDestroy?(env: TaEnv): Promise<void> | void;
}

/** An implementation object (shared code, state kept in sessions) or a factory giving one per instance. */
export type TaImplementation<H = unknown> = TrustedApplication<H> | (() => TrustedApplication<H>);
