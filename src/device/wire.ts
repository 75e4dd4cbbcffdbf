/**
 * The REE-carried link between a phone's TEE OS and its trusted key. Each channel the trusted key
 * establishes runs over a fresh intercepted pair (a reconnection after a failure gets a new one); this
 * object keeps the latest of them and one frame log for all, so a test or the attack harness sees the
 * frames the REE carried and can script a hook that applies to the current and every later connection.
 *
 * Bounded: the log keeps the latest frames within its byte budget (PhoneOptions.wireLogBytes) and
 * `pairs` the latest MAX_KEPT_PAIRS connections, so a phone that runs for long, or whose link the
 * REE cuts again and again, does not keep every frame and connection it ever had.
 */
import { createInterceptedPair, FrameLog, type InterceptedPair, type InterceptHook, type LoggedFrame } from '../channel/index.js';

/** Connections whose pair stays reachable through `pairs` (older ones are only counted). */
export const MAX_KEPT_PAIRS = 16;

export interface PhoneWire {
  /** The pairs of the latest connections (at most MAX_KEPT_PAIRS), oldest first; they share `frameLog`. */
  readonly pairs: readonly InterceptedPair[];
  /** Connections opened so far (each one a pair). */
  readonly connections: number;
  /** The pair of the latest connection. */
  readonly current: InterceptedPair | undefined;
  /** The latest frames of all connections, in order, within the log's byte budget. */
  readonly log: readonly LoggedFrame[];
  /** The log shared by every connection: marks (`recorded`, `since`) and what was dropped. */
  readonly frameLog: FrameLog;
  /** The bytes of the logged frames (carried or injected). */
  frames(): Uint8Array[];
  /** The hook for the current and every later connection (undefined: pass everything). */
  setHook(hook: InterceptHook | undefined): void;
  /** Cut the current connection, as a dropped link would; the trusted key reconnects. */
  cut(): void;
}

export interface PhoneWireControl extends PhoneWire {
  /** A new connection's pair (the phone's transport factory calls this). */
  open(): InterceptedPair;
}

export function createPhoneWire(initialHook?: InterceptHook, logBytes?: number): PhoneWireControl {
  const pairs: InterceptedPair[] = [];
  const frameLog = new FrameLog(logBytes);
  let connections = 0;
  let hook = initialHook;
  return {
    pairs,
    frameLog,
    get connections() {
      return connections;
    },
    get current() {
      return pairs[pairs.length - 1];
    },
    get log() {
      return frameLog.entries;
    },
    frames() {
      return frameLog.entries.map((e) => e.frame);
    },
    setHook(next) {
      hook = next;
      pairs[pairs.length - 1]?.setHook(next);
    },
    cut() {
      pairs[pairs.length - 1]?.cut();
    },
    open() {
      const pair = createInterceptedPair({ log: frameLog, ...(hook ? { hook } : {}) });
      pairs.push(pair);
      if (pairs.length > MAX_KEPT_PAIRS) pairs.shift();
      connections++;
      return pair;
    },
  };
}
