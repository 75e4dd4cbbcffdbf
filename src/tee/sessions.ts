/**
 * Client contexts, TA instances and sessions: the part of the TEE OS behind the driver (OP-TEE's
 * core/tee/entry_std.c and tee_ta_manager.c). Context and session ids are 16 random bytes; a session
 * is found only through the context that opened it, and every miss gets the same ITEM_NOT_FOUND, so
 * an id from another context is indistinguishable from a guess.
 *
 * Calls into one TA instance run one at a time. A TA that throws anything but a TeeError has
 * panicked: its instance is dead (every session on it answers BAD_STATE until closed), the client
 * sees GENERIC 'TA panicked', and the rest of the TEE carries on.
 */
import { TeeError } from '../common/errors.js';
import { toHex, zeroize } from '../common/bytes.js';
import type { TraceSink } from '../common/trace.js';
import type { CryptoProvider } from '../crypto/provider.js';
import { CONTEXT_ID_BYTES, SESSION_ID_BYTES, type TeeRequestHandler } from './driver.js';
import { HandleTable } from './handles.js';
import { collectOutputs, outputCapacities, type Params, type WireOutParam } from './params.js';
import type { TaFlags } from './ta-manifest.js';
import type { ClientIdentity, TaEnv, TaImplementation, TaSession, TrustedApplication } from './ta.js';

export interface SessionLimits {
  maxContexts: number;
  maxSessionsPerContext: number;
  maxHandlesPerSession: number;
}

export const DEFAULT_SESSION_LIMITS: SessionLimits = {
  maxContexts: 64,
  maxSessionsPerContext: 16,
  maxHandlesPerSession: 1024,
};

/** A TA the TEE may run: a verified user TA or a built-in pseudo-TA. */
export interface RegisteredTa {
  readonly uuid: string;
  readonly name: string;
  readonly flags: TaFlags;
  readonly implementation: TaImplementation<unknown>;
  /** SHA-256 of the code, for user TAs (pseudo-TAs are part of the TEE core). */
  readonly measurement?: Uint8Array;
}

export interface SessionManagerDeps {
  provider: CryptoProvider;
  /** Look up an installed, verified TA. */
  findTa(uuid: string): RegisteredTa | undefined;
  /** Build the environment a TA instance sees (storage namespace, trusted UI, services). */
  envFor(ta: RegisteredTa): TaEnv;
  limits?: Partial<SessionLimits>;
  trace?: TraceSink;
}

const CONTEXT_NOT_FOUND = 'context: not found';
const SESSION_NOT_FOUND = 'session: not found';
const TA_NOT_FOUND = 'TA: not found';

interface Context {
  readonly key: string;
  readonly name: string;
  readonly sessions: Set<Session>;
}

class Instance {
  readonly sessions = new Set<Session>();
  dead = false;
  retired = false;
  /** Why a dead instance died, when it never came up (onCreate failed). */
  death: TeeError | undefined;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(
    readonly ta: RegisteredTa,
    readonly impl: TrustedApplication<unknown>,
    readonly env: TaEnv,
  ) {}

  /** Run one entry point after every earlier one on this instance has finished. */
  run<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(fn);
    this.#queue = next.catch(() => undefined);
    return next;
  }
}

interface Session {
  readonly key: string;
  readonly context: Context;
  readonly instance: Instance;
  readonly view: TaSession<unknown>;
  readonly handles: HandleTable<unknown>;
  /** The TA accepted the session, so it is owed an onCloseSession. */
  opened: boolean;
  closed: boolean;
}

export class SessionManager implements TeeRequestHandler {
  readonly #deps: SessionManagerDeps;
  readonly #limits: SessionLimits;
  readonly #contexts = new Map<string, Context>();
  readonly #sessions = new Map<string, Session>();
  /** Live single-instance TAs by UUID. */
  readonly #singletons = new Map<string, Instance>();

  constructor(deps: SessionManagerDeps) {
    this.#deps = deps;
    this.#limits = { ...DEFAULT_SESSION_LIMITS, ...deps.limits };
  }

  get contextCount(): number {
    return this.#contexts.size;
  }

  get sessionCount(): number {
    return this.#sessions.size;
  }

  async initializeContext(name: string): Promise<Uint8Array> {
    if (this.#contexts.size >= this.#limits.maxContexts) {
      throw new TeeError('BUSY', `context: limit of ${this.#limits.maxContexts} contexts reached`, 'TEE');
    }
    const id = this.#freshId(CONTEXT_ID_BYTES, this.#contexts);
    const key = toHex(id);
    this.#contexts.set(key, { key, name, sessions: new Set() });
    this.#trace('context initialised', { name });
    return id;
  }

  /** Like a client process exiting: every session it left open is closed. */
  async finalizeContext(context: Uint8Array): Promise<void> {
    const ctx = this.#context(context);
    for (const s of [...ctx.sessions]) await this.#close(s);
    this.#contexts.delete(ctx.key);
    this.#trace('context finalised', { name: ctx.name });
  }

  async openSession(context: Uint8Array, uuid: string, login: ClientIdentity, params: Params): Promise<{ session: Uint8Array; params: WireOutParam[] }> {
    const ctx = this.#context(context);
    const ta = this.#deps.findTa(uuid);
    if (!ta) throw new TeeError('ITEM_NOT_FOUND', TA_NOT_FOUND, 'TEE');
    if (ctx.sessions.size >= this.#limits.maxSessionsPerContext) {
      throw new TeeError('BUSY', `session: limit of ${this.#limits.maxSessionsPerContext} sessions per context reached`, 'TEE');
    }
    const instance = this.#instanceFor(ta);
    const id = this.#freshId(SESSION_ID_BYTES, this.#sessions);
    const key = toHex(id);
    const handles = new HandleTable<unknown>(this.#deps.provider, this.#limits.maxHandlesPerSession);
    const view: TaSession<unknown> = Object.freeze({
      uuid: instance.env.uuid,
      provider: instance.env.provider,
      get storage() {
        return instance.env.storage;
      },
      trustedUi: instance.env.trustedUi,
      services: instance.env.services,
      sessionId: key,
      client: Object.freeze({ ...login }),
      handles,
      state: new Map<string, unknown>(),
    });
    const session: Session = { key, context: ctx, instance, view, handles, opened: false, closed: false };
    // Reserve the slot before the TA runs, so concurrent opens respect the limits.
    instance.sessions.add(session);
    ctx.sessions.add(session);
    try {
      const out = await this.#enter(instance, async () => {
        const capacities = outputCapacities(params);
        const returned = instance.impl.onOpenSession ? await instance.impl.onOpenSession(view, params) : undefined;
        session.opened = true;
        return collectOutputs(params, returned ?? params, capacities);
      });
      // The context was finalized (or the TEE shut down) while the TA was opening the session.
      if (session.closed) throw new TeeError('BAD_STATE', 'session: closed while opening', 'TEE');
      this.#sessions.set(key, session);
      this.#trace('session opened', { ta: ta.name, login: login.login });
      return { session: id, params: out };
    } catch (err) {
      // Closed meanwhile (context finalized): #close owns the teardown, including onCloseSession.
      if (session.closed) throw err;
      session.closed = true;
      if (session.opened && !instance.dead && instance.impl.onCloseSession) {
        // The TA accepted the session but its answer could not be delivered (e.g. OVERFLOW): close it.
        await this.#enter(instance, async () => instance.impl.onCloseSession?.(view)).catch(() => undefined);
      }
      ctx.sessions.delete(session);
      instance.sessions.delete(session);
      this.#dropSessionData(session);
      await this.#retireIfIdle(instance);
      throw err;
    }
  }

  async invokeCommand(context: Uint8Array, session: Uint8Array, commandId: number, params: Params): Promise<WireOutParam[]> {
    const s = this.#session(context, session);
    const instance = s.instance;
    return this.#enter(
      instance,
      async () => {
        const capacities = outputCapacities(params);
        const returned = await instance.impl.onInvokeCommand(s.view, commandId, params);
        return collectOutputs(params, returned ?? params, capacities);
      },
      () => {
        // Closed while this call waited for an earlier one on the same instance.
        if (s.closed) throw new TeeError('BAD_STATE', 'session: closed', 'TEE');
      },
    );
  }

  async closeSession(context: Uint8Array, session: Uint8Array): Promise<void> {
    await this.#close(this.#session(context, session));
  }

  /** Close everything (TEE OS shutdown). */
  async closeAll(): Promise<void> {
    for (const ctx of [...this.#contexts.values()]) {
      for (const s of [...ctx.sessions]) await this.#close(s);
      this.#contexts.delete(ctx.key);
    }
  }

  // ---- internals ----

  #context(id: Uint8Array): Context {
    const ctx = this.#contexts.get(toHex(id));
    if (!ctx) throw new TeeError('ITEM_NOT_FOUND', CONTEXT_NOT_FOUND, 'TEE');
    return ctx;
  }

  #session(context: Uint8Array, id: Uint8Array): Session {
    const ctx = this.#context(context);
    const s = this.#sessions.get(toHex(id));
    // Another context's session is answered exactly like a session that does not exist.
    if (!s || s.context !== ctx) throw new TeeError('ITEM_NOT_FOUND', SESSION_NOT_FOUND, 'TEE');
    return s;
  }

  #freshId(length: number, taken: Map<string, unknown>): Uint8Array {
    for (;;) {
      const id = this.#deps.provider.randomBytes(length);
      if (!taken.has(toHex(id))) return id;
    }
  }

  /** Synchronous, so that the new session is registered before anything else can interleave. */
  #instanceFor(ta: RegisteredTa): Instance {
    if (ta.flags.singleInstance) {
      const live = this.#singletons.get(ta.uuid);
      if (live && !live.dead) {
        if (!ta.flags.multiSession && live.sessions.size > 0) {
          throw new TeeError('BUSY', 'TA: single-instance TA already has a session', 'TEE');
        }
        return live;
      }
    }
    const impl = typeof ta.implementation === 'function' ? ta.implementation() : ta.implementation;
    const instance = new Instance(ta, impl, this.#deps.envFor(ta));
    if (ta.flags.singleInstance) this.#singletons.set(ta.uuid, instance);
    if (impl.onCreate) {
      // Queued first on the instance: every entry point runs after it; if it fails, they all see why.
      void instance.run(async () => {
        try {
          await impl.onCreate?.(instance.env);
        } catch (err) {
          instance.death = err instanceof TeeError ? new TeeError(err.code, err.message, 'TRUSTED_APP') : new TeeError('GENERIC', 'TA panicked', 'TEE');
          instance.dead = true;
        }
      });
    }
    return instance;
  }

  /**
   * Enter the TA: serialised per instance. `guard` runs first, as TEE core, and its refusals keep
   * their origin; inside the TA, a TeeError is the TA's answer (origin TRUSTED_APP) and anything
   * else is a panic that kills the instance.
   */
  #enter<T>(instance: Instance, fn: () => Promise<T>, guard?: () => void): Promise<T> {
    return instance.run(async () => {
      if (instance.dead) throw instance.death ?? new TeeError('BAD_STATE', 'session: TA panicked earlier; close the session', 'TEE');
      guard?.();
      try {
        return await fn();
      } catch (err) {
        if (err instanceof TeeError) throw new TeeError(err.code, err.message, 'TRUSTED_APP');
        this.#panic(instance);
        throw new TeeError('GENERIC', 'TA panicked', 'TEE');
      }
    });
  }

  #panic(instance: Instance): void {
    instance.dead = true;
    this.#trace('TA panicked', { ta: instance.ta.name });
    for (const s of instance.sessions) this.#dropSessionData(s);
    if (this.#singletons.get(instance.ta.uuid) === instance) this.#singletons.delete(instance.ta.uuid);
  }

  async #close(s: Session): Promise<void> {
    if (s.closed) return;
    s.closed = true;
    this.#sessions.delete(s.key);
    s.context.sessions.delete(s);
    const instance = s.instance;
    if (!instance.dead && instance.impl.onCloseSession) {
      try {
        await this.#enter(instance, async () => {
          // Runs after any pending open: a session the TA never accepted gets no close.
          if (s.opened) await instance.impl.onCloseSession?.(s.view);
        });
      } catch {
        // The client asked to close; a failing close handler cannot keep the session alive.
      }
    }
    this.#dropSessionData(s);
    instance.sessions.delete(s);
    this.#trace('session closed', { ta: instance.ta.name });
    await this.#retireIfIdle(instance);
  }

  #dropSessionData(s: Session): void {
    // Handle values that are raw bytes are secrets by convention (keys): zero them.
    s.handles.close((v) => {
      if (v instanceof Uint8Array) zeroize(v);
    });
    s.view.state.clear();
  }

  async #retireIfIdle(instance: Instance): Promise<void> {
    if (instance.sessions.size > 0 || instance.retired) return;
    instance.retired = true;
    if (this.#singletons.get(instance.ta.uuid) === instance) this.#singletons.delete(instance.ta.uuid);
    if (!instance.dead && instance.impl.onDestroy) {
      try {
        await instance.run(async () => instance.impl.onDestroy?.(instance.env));
      } catch {
        // Nothing to report to: the instance is gone either way.
      }
    }
    instance.dead = true;
  }

  #trace(text: string, detail: Record<string, string>): void {
    this.#deps.trace?.({ lane: 'TEE', actor: 'tee-os', text, detail });
  }
}
