/**
 * The hostile REE in the middle of a channel. It forwards frames between the initiator's and the
 * responder's transports and can do everything a real carrier can: read and log every frame, drop,
 * replace, hold back (to reorder), replay or insert frames. Tests and the attack harness script it.
 *
 *   const wire = createInterceptedPair();
 *   wire.setHook((frame, dir, i) => (dir === TO_RESPONDER && i === 3 ? { replace: flipBit(frame, 100) } : 'pass'));
 *   connectChannel(wire.initiator, …); acceptChannel(wire.responder, …);
 *
 * A hook that throws is a bug in the script: the exception is not caught.
 *
 * The log is bounded (FrameLog: the latest frames up to a byte budget, oldest dropped first), so a
 * wire that carries a long-lived channel does not keep every frame it ever carried.
 */
import { TeeError } from '../common/errors.js';
import { createMemoryTransportPair, forwardFrame, type Transport } from './transport.js';

export type Direction = 'initiator->responder' | 'responder->initiator';
export const TO_RESPONDER: Direction = 'initiator->responder';
export const TO_INITIATOR: Direction = 'responder->initiator';

/** What to do with one frame: forward it, drop it, hold it back for `release()`, or send other bytes instead. */
export type InterceptAction = 'pass' | 'drop' | 'hold' | { replace: Uint8Array | readonly Uint8Array[] };

/** `index` counts the frames the endpoint sent in this direction, from 0. Returning nothing means 'pass'. */
export type InterceptHook = (frame: Uint8Array, direction: Direction, index: number) => InterceptAction | undefined | void;

export interface LoggedFrame {
  /** Position in the REE's view of the whole conversation (counts dropped entries too). */
  seq: number;
  direction: Direction;
  /** Per-direction index of an endpoint's frame; -1 for frames the REE injected. */
  index: number;
  /** The bytes the endpoint sent (or the REE injected or released). */
  frame: Uint8Array;
  action: 'pass' | 'drop' | 'hold' | 'replace' | 'inject' | 'release';
}

/** Default byte budget of a FrameLog: room for thousands of typical frames. */
export const DEFAULT_LOG_BYTES = 1024 * 1024;
/** What an entry costs beyond its frame's bytes (the entry object, the view), so empty frames count too. */
const ENTRY_OVERHEAD_BYTES = 64;

/**
 * The frames a wire has seen, oldest first, within a byte budget: past it the oldest entries are
 * dropped. `recorded` is a mark that stays valid as entries drop: `since(mark)` returns what was
 * logged after it (and is still kept). One log may be shared by the pairs of successive connections.
 */
export class FrameLog {
  /** The kept entries, oldest first (trimmed in place). */
  readonly entries: LoggedFrame[] = [];
  private count = 0;
  private bytes = 0;
  private droppedCount = 0;
  readonly maxBytes: number;

  constructor(maxBytes: number = DEFAULT_LOG_BYTES) {
    if (!(maxBytes === Number.POSITIVE_INFINITY || (Number.isSafeInteger(maxBytes) && maxBytes >= 0))) {
      throw new TeeError('BAD_PARAMETERS', 'frame log: the byte budget must be a non-negative integer or Infinity', 'API');
    }
    this.maxBytes = maxBytes;
  }

  /** Entries ever logged, kept or dropped: the seq the next entry gets. */
  get recorded(): number {
    return this.count;
  }

  /** Entries dropped to stay within the budget. */
  get dropped(): number {
    return this.droppedCount;
  }

  add(direction: Direction, index: number, frame: Uint8Array, action: LoggedFrame['action']): void {
    const seq = this.count++;
    const size = frame.length + ENTRY_OVERHEAD_BYTES;
    if (size > this.maxBytes) {
      // Larger than the whole budget: nothing older can stay either.
      this.droppedCount += this.entries.length + 1;
      this.entries.length = 0;
      this.bytes = 0;
      return;
    }
    this.entries.push({ seq, direction, index, frame, action });
    this.bytes += size;
    while (this.bytes > this.maxBytes) {
      const old = this.entries.shift()!;
      this.bytes -= old.frame.length + ENTRY_OVERHEAD_BYTES;
      this.droppedCount++;
    }
  }

  /** The kept entries logged at or after `mark` (a value of `recorded`). */
  since(mark: number): LoggedFrame[] {
    const first = this.entries[0];
    if (!first) return [];
    return this.entries.slice(Math.max(0, mark - first.seq));
  }
}

export interface HeldFrame {
  direction: Direction;
  index: number;
  frame: Uint8Array;
}

export interface Interceptor {
  /** The latest frames the REE saw or produced, in order (`frameLog.entries`). */
  readonly log: readonly LoggedFrame[];
  /** The log itself: its byte budget, marks, what was dropped. */
  readonly frameLog: FrameLog;
  /** Frames held back by a 'hold' action, oldest first. */
  readonly held: readonly HeldFrame[];
  /** The logged frames the endpoints sent (not the injected ones), optionally in one direction. */
  sent(direction?: Direction): Uint8Array[];
  setHook(hook: InterceptHook | undefined): void;
  /** Deliver bytes to the endpoint the direction points at, as if the other endpoint had sent them. */
  inject(direction: Direction, frame: Uint8Array): void;
  /** Forward held frames (all, or those matching `filter`) in the order they were held; returns how many. */
  release(filter?: (held: HeldFrame) => boolean): number;
  /** Resolve once the endpoints have sent at least `count` frames in `direction`. */
  waitFor(direction: Direction, count: number): Promise<void>;
  /** Cut the wire: close both sides. */
  cut(): void;
}

export interface InterceptedPair extends Interceptor {
  /** Give this to the initiator (connectChannel). */
  readonly initiator: Transport;
  /** Give this to the responder (acceptChannel). */
  readonly responder: Transport;
}

/**
 * Sit between two transports the REE holds: `initiatorSide` is connected to the initiator,
 * `responderSide` to the responder (for example an accepted and an outgoing TCP connection).
 */
export interface InterceptOptions {
  hook?: InterceptHook;
  /** Where to log (default: a FrameLog of its own with the default budget). */
  log?: FrameLog;
}

export function interceptTransports(initiatorSide: Transport, responderSide: Transport, opts: InterceptOptions = {}): Interceptor {
  let hook = opts.hook;
  const frameLog = opts.log ?? new FrameLog();
  const log = frameLog.entries;
  const held: HeldFrame[] = [];
  const counts: Record<Direction, number> = { 'initiator->responder': 0, 'responder->initiator': 0 };
  const waiters: { direction: Direction; count: number; resolve: () => void }[] = [];

  const target = (direction: Direction): Transport => (direction === TO_RESPONDER ? responderSide : initiatorSide);
  const forward = (direction: Direction, frame: Uint8Array): void => forwardFrame(target(direction), frame);
  const record = (direction: Direction, index: number, frame: Uint8Array, action: LoggedFrame['action']): void => frameLog.add(direction, index, frame, action);

  const onEndpointFrame = (direction: Direction) => (frame: Uint8Array) => {
    const index = counts[direction]++;
    const action = hook?.(frame, direction, index) ?? 'pass';
    if (action === 'pass') {
      record(direction, index, frame, 'pass');
      forward(direction, frame);
    } else if (action === 'drop') {
      record(direction, index, frame, 'drop');
    } else if (action === 'hold') {
      record(direction, index, frame, 'hold');
      held.push({ direction, index, frame });
    } else {
      record(direction, index, frame, 'replace');
      const replacements = action.replace instanceof Uint8Array ? [action.replace] : action.replace;
      for (const r of replacements) forward(direction, r);
    }
    for (let i = waiters.length - 1; i >= 0; i--) {
      const w = waiters[i]!;
      if (w.direction === direction && counts[direction] >= w.count) {
        waiters.splice(i, 1);
        w.resolve();
      }
    }
  };

  initiatorSide.onFrame(onEndpointFrame(TO_RESPONDER));
  responderSide.onFrame(onEndpointFrame(TO_INITIATOR));
  // One side hanging up hangs up the other, as a real carrier would.
  initiatorSide.onClose(() => responderSide.close());
  responderSide.onClose(() => initiatorSide.close());

  return {
    log,
    frameLog,
    held,
    sent(direction) {
      return log.filter((e) => e.index >= 0 && e.action !== 'release' && (!direction || e.direction === direction)).map((e) => e.frame);
    },
    setHook(next) {
      hook = next;
    },
    inject(direction, frame) {
      record(direction, -1, frame, 'inject');
      forward(direction, frame);
    },
    release(filter) {
      let n = 0;
      for (let i = 0; i < held.length; ) {
        const h = held[i]!;
        if (!filter || filter(h)) {
          held.splice(i, 1);
          record(h.direction, h.index, h.frame, 'release');
          forward(h.direction, h.frame);
          n++;
        } else i++;
      }
      return n;
    },
    waitFor(direction, count) {
      if (counts[direction] >= count) return Promise.resolve();
      return new Promise((resolve) => waiters.push({ direction, count, resolve }));
    },
    cut() {
      initiatorSide.close();
      responderSide.close();
    },
  };
}

/** Two in-memory transports with the REE in the middle. */
export function createInterceptedPair(opts: InterceptOptions = {}): InterceptedPair {
  const [initiator, reeFacingInitiator] = createMemoryTransportPair();
  const [reeFacingResponder, responder] = createMemoryTransportPair();
  const interceptor = interceptTransports(reeFacingInitiator, reeFacingResponder, opts);
  return { ...interceptor, initiator, responder, log: interceptor.log, held: interceptor.held };
}

/** A copy of `frame` with one bit flipped (bit 0 is the low bit of byte 0; wraps around the length). */
export function flipBit(frame: Uint8Array, bit: number): Uint8Array {
  const out = new Uint8Array(frame);
  if (out.length === 0) return out;
  const i = Math.floor(bit / 8) % out.length;
  out[i] = out[i]! ^ (1 << (bit % 8));
  return out;
}

/** A copy of the first `length` bytes of `frame`. */
export function truncate(frame: Uint8Array, length: number): Uint8Array {
  return frame.slice(0, Math.max(0, length));
}
