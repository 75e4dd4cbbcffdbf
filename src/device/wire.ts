/**
 * The REE-carried link between a phone's TEE OS and its trusted key. Each channel the trusted key
 * establishes runs over a fresh intercepted pair (a reconnection after a failure gets a new one); this
 * object keeps them all, so a test or the attack harness sees every frame the REE ever carried and
 * can script a hook that applies to the current and every later connection.
 */
import { createInterceptedPair, type InterceptedPair, type InterceptHook, type LoggedFrame } from '../channel/index.js';

export interface PhoneWire {
  /** One intercepted pair per connection, oldest first. */
  readonly pairs: readonly InterceptedPair[];
  /** The pair of the latest connection. */
  readonly current: InterceptedPair | undefined;
  /** Every frame of every connection, in order (each pair's own log, concatenated). */
  readonly log: LoggedFrame[];
  /** All bytes the REE carried or injected. */
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

export function createPhoneWire(initialHook?: InterceptHook): PhoneWireControl {
  const pairs: InterceptedPair[] = [];
  let hook = initialHook;
  return {
    pairs,
    get current() {
      return pairs[pairs.length - 1];
    },
    get log() {
      return pairs.flatMap((p) => p.log);
    },
    frames() {
      return pairs.flatMap((p) => p.log.map((e) => e.frame));
    },
    setHook(next) {
      hook = next;
      pairs[pairs.length - 1]?.setHook(next);
    },
    cut() {
      pairs[pairs.length - 1]?.cut();
    },
    open() {
      const pair = createInterceptedPair(hook ? { hook } : {});
      pairs.push(pair);
      return pair;
    },
  };
}
