/**
 * The secure channel between the trusted key (initiator) and the TEE OS (responder): runs the
 * handshake over a Transport, then carries request/response/notification messages in records.
 *
 * Both promises resolve only once both sides hold the same keys: after msg3 the responder sends an
 * encrypted READY record, and the initiator waits for it. Any failure closes the transport.
 * Incoming messages are held until the macrotask after the channel is handed out, so handlers
 * registered right after `await connectChannel(…)` see the peer's first requests.
 */
import { zeroize } from '../common/bytes.js';
import { abool, aint } from '../common/checks.js';
import { decodeSequence, withEncoded } from '../common/codec.js';
import { TeeError, teeErrorFromWire, toTeeError } from '../common/errors.js';
import { defaultProvider } from '../crypto/index.js';
import type { AeadAlgorithm, CryptoProvider } from '../crypto/provider.js';
import { InitiatorHandshake, ResponderHandshake, type HandshakeResult, type KeyLog } from './handshake.js';
import type { ChannelIdentity, PeerIdentity } from './identity.js';
import { RecordReceiver, RecordSender, RecordType, type RecordOptions } from './record.js';
import { checkMethod, MAX_REQUEST_ID, parseRpcMessage, type RpcMessage } from './rpc.js';
import type { Transport } from './transport.js';

export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;
export const DEFAULT_CALL_TIMEOUT_MS = 30_000;
/** Most messages one DATA record may carry (a receiver refuses more). */
export const MAX_MESSAGES_PER_RECORD = 64;
/**
 * Default for ChannelOptions.coalesceBatch. Small on purpose: when the peer runs on another thread,
 * a turn's calls split in two records let it start on the first while the second is on its way, so
 * the two threads overlap instead of taking turns (full-stack sign, trusted key on its own thread,
 * 16 sessions: ~44-47% of raw sign with records of 8, ~27% with one of 16); inline it costs nothing
 * measurable (two seals and opens per 16 calls instead of one).
 */
export const DEFAULT_COALESCE_BATCH = 8;

export interface ChannelOptions {
  provider?: CryptoProvider;
  /** Initiator: suites offered in preference order; responder: suites accepted. */
  suites?: readonly AeadAlgorithm[];
  rekeyAfterRecords?: number;
  rekeyAfterBytes?: number;
  handshakeTimeoutMs?: number;
  /** Largest record frame sent or accepted (header and tag included). */
  maxFrameBytes?: number;
  /** Default for `call` when it gives no timeoutMs. */
  callTimeoutMs?: number;
  /**
   * Send the messages of one turn of the event loop together at its end, in a few records instead
   * of one each: many calls in flight then cost one seal and one open per record. Off by default,
   * so each message is its own record (easier to follow in a trace). The receiving side accepts
   * both forms whatever this is set to.
   */
  coalesce?: boolean;
  /**
   * With `coalesce`: the smallest records a turn's messages are split into (1..MAX_MESSAGES_PER_RECORD,
   * default DEFAULT_COALESCE_BATCH; MAX_MESSAGES_PER_RECORD: never split). A turn's messages go
   * in records of half of this side's calls awaiting answers (so two records are in flight, whatever
   * the load), at least this many; a turn's answers are not split while requests of theirs are
   * still being served, so a batch of requests answered in one turn goes back in one record (no
   * answer waits for a later turn).
   */
  coalesceBatch?: number;
  /** Tests only: sees copies of every derived secret (see handshake.ts). */
  keyLog?: KeyLog;
  /** Clock for certificate expiry. */
  now?: () => number;
}

export type RequestHandler = (params: unknown) => unknown | Promise<unknown>;
export type NotificationHandler = (params: unknown) => void;

export interface ChannelStats {
  recordsSent: number;
  recordsReceived: number;
  /** Key updates in both directions. */
  rekeys: number;
}

export interface SecureChannel {
  /** Call a method the peer handles. Rejects with the peer's TeeError, or COMMUNICATION on timeout or close. */
  call(method: string, params: unknown, opts?: { timeoutMs?: number }): Promise<unknown>;
  /** Fire-and-forget message. Throws COMMUNICATION if the channel is closed. */
  notify(method: string, params: unknown): void;
  /** Serve `method` (replaces an earlier handler). A thrown TeeError goes back as is; anything else as GENERIC 'internal error'. */
  handle(method: string, handler: RequestHandler): void;
  onNotification(method: string, handler: NotificationHandler): void;
  /** Send an authenticated close notice and close the transport. */
  close(): void;
  /** `err` is unset for an orderly close (either side), set when the channel failed. */
  onClose(handler: (err?: TeeError) => void): void;
  readonly closed: boolean;
  readonly peer: PeerIdentity;
  readonly suite: AeadAlgorithm;
  readonly stats: ChannelStats;
}

// ---- establishing ----

/** Collects handshake frames until the channel takes over the transport. */
class HandshakeInbox {
  private readonly frames: Uint8Array[] = [];
  private waiter: { resolve: (f: Uint8Array) => void; reject: (e: TeeError) => void; stage: number } | undefined;
  private failure: ((stage: number) => TeeError) | undefined;
  private active = true;

  constructor(transport: Transport) {
    transport.onFrame((frame) => {
      if (!this.active) return;
      const w = this.waiter;
      if (w) {
        this.waiter = undefined;
        w.resolve(frame);
      } else this.frames.push(frame);
    });
    transport.onClose((err) => {
      if (!this.active) return;
      this.abort((stage) => new TeeError('COMMUNICATION', `handshake stage ${stage}: transport closed${err ? ` (${err.message})` : ''}`, 'CHANNEL'));
    });
  }

  next(stage: number): Promise<Uint8Array> {
    const frame = this.frames.shift();
    if (frame) return Promise.resolve(frame);
    if (this.failure) return Promise.reject(this.failure(stage));
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject, stage };
    });
  }

  abort(failure: (stage: number) => TeeError): void {
    if (this.failure) return;
    this.failure = failure;
    const w = this.waiter;
    this.waiter = undefined;
    w?.reject(failure(w.stage));
  }

  /** Stop collecting; the frames that arrived after the handshake go to the channel. */
  handOff(): Uint8Array[] {
    this.active = false;
    return this.frames.splice(0);
  }
}

interface Resolved {
  provider: CryptoProvider;
  handshakeTimeoutMs: number;
  callTimeoutMs: number;
  coalesce: boolean;
  coalesceBatch: number;
  record: RecordOptions;
}

function resolveOptions(options: ChannelOptions): Resolved {
  const record: RecordOptions = {};
  if (options.rekeyAfterRecords !== undefined) record.rekeyAfterRecords = options.rekeyAfterRecords;
  if (options.rekeyAfterBytes !== undefined) record.rekeyAfterBytes = options.rekeyAfterBytes;
  if (options.maxFrameBytes !== undefined) record.maxFrameBytes = options.maxFrameBytes;
  if (options.keyLog) record.keyLog = options.keyLog;
  return {
    provider: options.provider ?? defaultProvider(),
    handshakeTimeoutMs: aint(options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS, 'handshakeTimeoutMs', 1),
    callTimeoutMs: aint(options.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS, 'callTimeoutMs', 1),
    coalesce: options.coalesce === undefined ? false : abool(options.coalesce, 'coalesce'),
    coalesceBatch: aint(options.coalesceBatch ?? DEFAULT_COALESCE_BATCH, 'coalesceBatch', 1, MAX_MESSAGES_PER_RECORD),
    record,
  };
}

function handshakeOptions(options: ChannelOptions, provider: CryptoProvider) {
  return {
    provider,
    ...(options.suites ? { suites: options.suites } : {}),
    ...(options.keyLog ? { keyLog: options.keyLog } : {}),
    ...(options.now ? { now: options.now } : {}),
  };
}

type Role = 'initiator' | 'responder';

function recordLayers(role: Role, provider: CryptoProvider, result: HandshakeResult, record: RecordOptions): { sender: RecordSender; receiver: RecordReceiver } {
  const [out, inn] = role === 'initiator' ? ['initiator->responder', 'responder->initiator'] : ['responder->initiator', 'initiator->responder'];
  const sender = new RecordSender(provider, result.suite, result.send, { ...record, direction: out });
  const receiver = new RecordReceiver(provider, result.suite, result.receive, { ...record, direction: inn });
  // The record layers hold their own copies.
  zeroize(result.send.key, result.send.iv, result.receive.key, result.receive.iv);
  return { sender, receiver };
}

async function establish(role: Role, transport: Transport, identity: ChannelIdentity, options: ChannelOptions): Promise<SecureChannel> {
  const opts = resolveOptions(options);
  const { provider } = opts;
  if (transport.closed) throw new TeeError('COMMUNICATION', 'handshake stage 1: transport is closed', 'CHANNEL');
  const inbox = new HandshakeInbox(transport);
  let stage = 1;
  let handshake: InitiatorHandshake | ResponderHandshake | undefined;
  let layers: { sender: RecordSender; receiver: RecordReceiver } | undefined;
  const timer = setTimeout(() => {
    inbox.abort((s) => new TeeError('COMMUNICATION', `handshake stage ${s}: timed out after ${opts.handshakeTimeoutMs} ms`, 'CHANNEL'));
  }, opts.handshakeTimeoutMs);
  try {
    let result: HandshakeResult;
    if (role === 'initiator') {
      const hs = (handshake = new InitiatorHandshake(identity, handshakeOptions(options, provider)));
      transport.send(hs.start());
      stage = 2;
      const { message, result: r } = hs.finish(await inbox.next(stage));
      result = r;
      transport.send(message);
      layers = recordLayers(role, provider, result, opts.record);
      // Until the responder's READY record opens under the new keys, the initiator is not sure the
      // responder accepted msg3; a rejection shows up here as a closed transport.
      stage = 3;
      const confirmation = await inbox.next(stage);
      stage = 4;
      let ready;
      try {
        ready = layers.receiver.open(confirmation);
      } catch (err) {
        throw new TeeError('SECURITY', `handshake stage 4: confirmation ${toTeeError(err).message}`, 'CHANNEL');
      }
      if (ready.type !== RecordType.READY || ready.payload.length !== 0) throw new TeeError('SECURITY', 'handshake stage 4: expected a confirmation record', 'CHANNEL');
    } else {
      const hs = (handshake = new ResponderHandshake(identity, handshakeOptions(options, provider)));
      transport.send(hs.respond(await inbox.next(stage)));
      stage = 3;
      result = hs.finish(await inbox.next(stage));
      layers = recordLayers(role, provider, result, opts.record);
      transport.send(layers.sender.seal(RecordType.READY, new Uint8Array(0)));
    }
    return new Channel(transport, result, layers.sender, layers.receiver, inbox.handOff(), opts);
  } catch (err) {
    handshake?.destroy();
    layers?.sender.destroy();
    layers?.receiver.destroy();
    inbox.abort(() => new TeeError('COMMUNICATION', 'handshake abandoned', 'CHANNEL'));
    transport.close();
    throw toTeeError(err, 'SECURITY', 'CHANNEL');
  } finally {
    clearTimeout(timer);
  }
}

/** Initiator (the trusted key): run the handshake over `transport` and return the open channel. */
export function connectChannel(transport: Transport, identity: ChannelIdentity, options: ChannelOptions = {}): Promise<SecureChannel> {
  return establish('initiator', transport, identity, options);
}

/** Responder (the TEE OS): answer the handshake arriving on `transport` and return the open channel. */
export function acceptChannel(transport: Transport, identity: ChannelIdentity, options: ChannelOptions = {}): Promise<SecureChannel> {
  return establish('responder', transport, identity, options);
}

// ---- the open channel ----

interface PendingCall {
  resolve: (value: unknown) => void;
  reject: (err: TeeError) => void;
  timer: ReturnType<typeof setTimeout>;
}

const EMPTY = new Uint8Array(0);
/** The outbox's usual size; one grown for a large record goes back to this after it is sent. */
const OUTBOX_START_BYTES = 16 * 1024;

class Channel implements SecureChannel {
  readonly peer: PeerIdentity;
  readonly suite: AeadAlgorithm;
  private readonly pending = new Map<number, PendingCall>();
  private readonly handlers = new Map<string, RequestHandler>();
  private readonly noteHandlers = new Map<string, NotificationHandler>();
  private readonly closeHandlers: ((err?: TeeError) => void)[] = [];
  private nextId = 0;
  private isClosed = false;
  private closeError: TeeError | undefined;
  /** Frames (and a transport close) held until handlers can be registered; undefined once open. */
  private gate: { frames: Uint8Array[]; transportClosed?: { err: TeeError | undefined } } | undefined;
  private readonly maxMessageBytes: number;
  /**
   * Encoded messages waiting for this turn's record (coalescing only), back to back in one buffer
   * kept from record to record: a message is packed straight into it instead of into a fresh array
   * of its own that the record would then copy again. Cleared as soon as its record is sealed.
   */
  private outbox = new Uint8Array(OUTBOX_START_BYTES);
  private outboxBytes = 0;
  private outboxCount = 0;
  /** Where each outbox message ends, so a turn's messages can be split into records. */
  private readonly outboxEnds = new Uint32Array(MAX_MESSAGES_PER_RECORD);
  /** Answers among the outbox's messages. */
  private outboxAnswers = 0;
  /** The peer's requests whose answers have not left in a record yet. */
  private serving = 0;
  private flushScheduled = false;

  constructor(
    private readonly transport: Transport,
    result: HandshakeResult,
    private readonly sender: RecordSender,
    private readonly receiver: RecordReceiver,
    early: Uint8Array[],
    private readonly opts: Resolved,
  ) {
    this.peer = Object.freeze({ ...result.peer, publicKey: new Uint8Array(result.peer.publicKey) });
    this.suite = result.suite;
    this.maxMessageBytes = sender.maxPlaintextBytes;
    this.gate = { frames: early };
    transport.onFrame((frame) => {
      if (this.gate) this.gate.frames.push(frame);
      else this.receive(frame);
    });
    transport.onClose((err) => {
      if (this.gate) this.gate.transportClosed = { err };
      else this.transportClosed(err);
    });
    setImmediate(() => this.openGate());
  }

  get closed(): boolean {
    return this.isClosed;
  }

  get stats(): ChannelStats {
    return {
      recordsSent: this.sender.recordsSent,
      recordsReceived: this.receiver.recordsReceived,
      rekeys: this.sender.rekeys + this.receiver.rekeys,
    };
  }

  call(method: string, params: unknown, opts: { timeoutMs?: number } = {}): Promise<unknown> {
    if (this.isClosed) return Promise.reject(this.closedError());
    let timeoutMs: number;
    try {
      checkMethod(method);
      timeoutMs = aint(opts.timeoutMs ?? this.opts.callTimeoutMs, 'timeoutMs', 1);
    } catch (err) {
      return Promise.reject(err);
    }
    const id = this.allocateId();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new TeeError('COMMUNICATION', `call "${method}": no response within ${timeoutMs} ms`, 'CHANNEL'));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      try {
        this.send({ t: 'req', id, m: method, p: params });
      } catch (err) {
        clearTimeout(timer);
        this.pending.delete(id);
        reject(toTeeError(err, 'BAD_PARAMETERS', 'CHANNEL'));
      }
    });
  }

  notify(method: string, params: unknown): void {
    if (this.isClosed) throw this.closedError();
    checkMethod(method);
    this.send({ t: 'note', m: method, p: params });
  }

  handle(method: string, handler: RequestHandler): void {
    this.handlers.set(checkMethod(method), handler);
  }

  onNotification(method: string, handler: NotificationHandler): void {
    this.noteHandlers.set(checkMethod(method), handler);
  }

  onClose(handler: (err?: TeeError) => void): void {
    if (this.isClosed) {
      const err = this.closeError;
      queueMicrotask(() => handler(err));
    } else this.closeHandlers.push(handler);
  }

  close(): void {
    if (this.isClosed) return;
    this.flush();
    if (this.isClosed) return;
    try {
      this.transport.send(this.sender.seal(RecordType.CLOSE, EMPTY));
    } catch {
      // the transport is already gone: closing is all that is left
    }
    this.terminate(undefined);
  }

  // ---- inside ----

  private closedError(): TeeError {
    const why = this.closeError ? `: ${this.closeError.message}` : '';
    return new TeeError('COMMUNICATION', `channel closed${why}`, 'CHANNEL');
  }

  private allocateId(): number {
    let id = this.nextId;
    while (this.pending.has(id)) id = id >= MAX_REQUEST_ID ? 0 : id + 1;
    this.nextId = id >= MAX_REQUEST_ID ? 0 : id + 1;
    return id;
  }

  /**
   * Encode one message and seal it (or queue it for this turn's record when coalescing); throws
   * (without closing) if it cannot be encoded or is too large.
   */
  private send(message: RpcMessage): void {
    let encoded = false;
    try {
      withEncoded(message, (bytes) => {
        encoded = true;
        this.post(bytes, message.t === 'res');
      });
    } catch (err) {
      if (!encoded) throw new TeeError('BAD_PARAMETERS', 'message: value cannot be encoded', 'CHANNEL');
      throw err;
    }
  }

  /** `bytes` is one encoded message, valid only during this call (see withEncoded). */
  private post(bytes: Uint8Array, answer: boolean): void {
    if (bytes.length > this.maxMessageBytes) {
      throw new TeeError('BAD_PARAMETERS', `record: ${bytes.length} bytes exceeds limit ${this.maxMessageBytes}`, 'CHANNEL');
    }
    if (this.transport.closed) {
      // The transport closed and its close report is still on the way to us.
      this.transportClosed(undefined);
      throw this.closedError();
    }
    if (!this.opts.coalesce) {
      this.sendRecord(bytes);
      if (answer) this.serving--;
      return;
    }
    if (this.outboxBytes + bytes.length > this.maxMessageBytes) this.flush();
    if (this.outboxBytes + bytes.length > this.outbox.length) this.growOutbox(this.outboxBytes + bytes.length);
    this.outbox.set(bytes, this.outboxBytes);
    this.outboxBytes += bytes.length;
    this.outboxEnds[this.outboxCount] = this.outboxBytes;
    this.outboxCount++;
    if (answer) this.outboxAnswers++;
    if (this.outboxCount === MAX_MESSAGES_PER_RECORD) {
      this.flush(); // as many as a record may carry: no splitting to decide
      return;
    }
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      // At the end of this burst of microtasks: calls started together (and answers computed
      // together) reach this point in the same burst, and a lone message waits for nothing.
      queueMicrotask(() => {
        this.flushScheduled = false;
        try {
          this.flush();
        } catch {
          // the channel has terminated: pending calls already failed with it
        }
      });
    }
  }

  private growOutbox(needed: number): void {
    const grown = new Uint8Array(Math.max(needed, this.outbox.length * 2));
    grown.set(this.outbox.subarray(0, this.outboxBytes));
    this.outbox.fill(0, 0, this.outboxBytes);
    this.outbox = grown;
  }

  /** Zero what the outbox holds, and give back a buffer grown for a large record. */
  private clearOutbox(): void {
    this.outbox.fill(0, 0, this.outboxBytes);
    this.outboxBytes = 0;
    this.outboxCount = 0;
    this.outboxAnswers = 0;
    if (this.outbox.length > OUTBOX_START_BYTES) this.outbox = new Uint8Array(OUTBOX_START_BYTES);
  }

  /**
   * Seal what the outbox holds (messages back to back) in as few records as keep two in flight:
   * records of half the calls awaiting answers, at least `coalesceBatch`, and a turn's answers not
   * split while requests are still being served. Decided here, at the end of the turn, when the whole burst is
   * known: cut as it grows, a first burst of 64 calls went as records of 8, 8, 16 and 32, and each
   * answer record then brings a burst of its own size back, so that pattern stayed (full-stack sign,
   * key on its own thread, 64 sessions: ~55-60% of raw sign with records of 8, ~62-70% with 32).
   */
  private flush(): void {
    const count = this.outboxCount;
    if (count === 0) return;
    try {
      if (this.isClosed) return;
      const limit = Math.max(this.opts.coalesceBatch, Math.ceil(this.pending.size / 2), this.serving);
      const per = Math.ceil(count / Math.ceil(count / limit)); // even records, not 32 + 1
      let start = 0;
      for (let i = per; start < this.outboxBytes; i += per) {
        const end = this.outboxEnds[Math.min(count, i) - 1]!;
        this.sendRecord(this.outbox.subarray(start, end));
        start = end;
      }
    } finally {
      this.serving -= this.outboxAnswers;
      this.clearOutbox();
    }
  }

  private sendRecord(payload: Uint8Array): void {
    const frame = this.sender.seal(RecordType.DATA, payload);
    try {
      this.transport.send(frame);
    } catch (err) {
      this.terminate(toTeeError(err, 'COMMUNICATION', 'CHANNEL'));
      throw this.closedError();
    }
  }

  private openGate(): void {
    const gate = this.gate;
    this.gate = undefined;
    if (!gate) return;
    for (const frame of gate.frames) this.receive(frame);
    if (gate.transportClosed) this.transportClosed(gate.transportClosed.err);
  }

  private receive(frame: Uint8Array): void {
    if (this.isClosed) return;
    let record;
    try {
      record = this.receiver.open(frame);
    } catch (err) {
      this.terminate(toTeeError(err, 'SECURITY', 'CHANNEL'));
      return;
    }
    if (record.type === RecordType.CLOSE) {
      this.terminate(undefined);
      return;
    }
    if (record.type !== RecordType.DATA) {
      this.terminate(new TeeError('SECURITY', `record ${this.receiver.recordsReceived - 1}: unexpected record type`, 'CHANNEL'));
      return;
    }
    let messages: RpcMessage[];
    try {
      // All of a record's messages are checked before any is acted on.
      messages = decodeSequence(record.payload, MAX_MESSAGES_PER_RECORD, this.maxMessageBytes, 'CHANNEL').map(parseRpcMessage);
    } catch (err) {
      this.terminate(new TeeError('SECURITY', `channel: malformed message from peer (${toTeeError(err).message})`, 'CHANNEL'));
      return;
    }
    for (const message of messages) {
      if (this.isClosed) return;
      this.dispatch(message);
    }
  }

  private dispatch(message: RpcMessage): void {
    switch (message.t) {
      case 'req':
        this.serve(message.id, message.m, message.p);
        return;
      case 'res': {
        const call = this.pending.get(message.id);
        if (!call) return; // late answer to a call that timed out
        this.pending.delete(message.id);
        clearTimeout(call.timer);
        if (message.ok) call.resolve(message.r);
        else call.reject(teeErrorFromWire(message.e, 'CHANNEL'));
        return;
      }
      case 'note': {
        const handler = this.noteHandlers.get(message.m);
        if (!handler) return;
        try {
          handler(message.p);
        } catch {
          // a notification has nobody to report to
        }
        return;
      }
    }
  }

  private serve(id: number, method: string, params: unknown): void {
    this.serving++; // until its answer leaves in a record (flush), or cannot be sent (respondError)
    const handler = this.handlers.get(method);
    if (!handler) {
      this.respondError(id, new TeeError('NOT_SUPPORTED', `method "${method}" is not supported`, 'CHANNEL'));
      return;
    }
    let result: unknown;
    try {
      result = handler(params);
    } catch (err) {
      this.respondError(id, err);
      return;
    }
    if (result instanceof Promise) {
      result.then(
        (value) => this.respond(id, value),
        (err) => this.respondError(id, err),
      );
    } else this.respond(id, result);
  }

  private respond(id: number, value: unknown): void {
    if (this.isClosed) return;
    try {
      this.send({ t: 'res', id, ok: true, r: value });
    } catch (err) {
      this.respondError(id, err);
    }
  }

  /** Only a TeeError keeps its message: anything else may quote what it choked on. */
  private respondError(id: number, err: unknown): void {
    if (this.isClosed) return;
    const e = toTeeError(err, 'GENERIC', 'CHANNEL');
    try {
      this.send({ t: 'res', id, ok: false, e: e.toWire() });
    } catch {
      // closed meanwhile: the caller's pending call fails with the channel
      if (!this.isClosed) this.serving--; // could not be encoded: it will not leave
    }
  }

  private transportClosed(err: TeeError | undefined): void {
    if (this.isClosed) return;
    this.terminate(err ?? new TeeError('COMMUNICATION', 'channel: transport closed without a close notice', 'CHANNEL'));
  }

  private terminate(err: TeeError | undefined): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.closeError = err;
    this.gate = undefined;
    this.clearOutbox();
    this.serving = 0;
    this.sender.destroy();
    this.receiver.destroy();
    this.transport.close();
    const reason = this.closedError();
    for (const call of this.pending.values()) {
      clearTimeout(call.timer);
      call.reject(reason);
    }
    this.pending.clear();
    const handlers = this.closeHandlers.splice(0);
    for (const h of handlers) queueMicrotask(() => h(err));
  }
}

