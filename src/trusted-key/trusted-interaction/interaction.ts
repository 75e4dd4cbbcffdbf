/**
 * The trusted key's user interaction: it turns user operations into commands for the TEE OS's trusted
 * UI (`tui.confirm`, `tui.message`), sent through the communication agent, and owns the PIN.
 *
 * - `confirm(text)` shows exactly `text` (laid out in lines) and reports the user's answer; with
 *   `requirePin` the user also enters the PIN on the trusted UI and the key checks it.
 * - PIN: stored as a salted verifier (./pin-state.ts). Each wrong PIN takes a try (default 3); a right
 *   one restores them; at zero the PIN is blocked (PIN_BLOCKED) until `unblock` with the PUK, which
 *   has its own tries (default 10): when those run out the key is blocked for good. The PUK is made
 *   inside the key at `setInitialPin` and shown once on the trusted UI; it never goes to the REE.
 * - Counters live in the key's secure storage, so they survive restarts, and restoring an older copy
 *   of the REE-visible store is caught at open (SECURITY): a restore cannot buy more tries.
 *
 * PIN and PUK bytes arrive from the trusted UI over the secure channel and are zeroized after use.
 * The PUK is rendered as a JS string for the screen, which cannot be zeroized (best effort).
 */
import type { PinStatus } from '../../protocol/pin.js';
import { constantTimeEqual, zeroize } from '../../common/bytes.js';
import { abool, abytes, aobject } from '../../common/checks.js';
import { TeeError } from '../../common/errors.js';
import type { TraceSink } from '../../common/trace.js';
import type { CryptoProvider } from '../../crypto/provider.js';
import { Mutex } from '../../storage/mutex.js';
import type { AppStorage, TrustedKeyStorage } from '../secure-storage/index.js';
import { layoutLines } from './display.js';
import { decodePinState, encodePinState, freshSecretState, matches, type PinState } from './pin-state.js';

export const APP_ID = 'trusted-interaction';
export const DEFAULT_PIN_TRIES = 3;
export const DEFAULT_PUK_TRIES = 10;
export const PUK_DIGITS = 10;
/** How long the key waits for the user on one screen. */
export const USER_TIMEOUT_MS = 5 * 60 * 1000;
const PIN_OBJECT = 'pin';
const VERIFIER_LABEL = 'pin-verifier/v1';

/** What the interaction needs from the communication agent. */
export interface TrustedUiPort {
  request(method: string, params: unknown, options?: { timeoutMs?: number }): Promise<unknown>;
}

export type { PinStatus };

export interface TrustedInteractionOptions {
  ui: TrustedUiPort;
  storage: TrustedKeyStorage;
  provider: CryptoProvider;
  pinTries?: number;
  pukTries?: number;
  trace?: TraceSink;
}

export interface ConfirmOptions {
  title?: string;
  requirePin?: boolean;
  /** The trusted UI to ask through: the origin of the command being served (default: the agent's current channel). */
  via?: TrustedUiPort;
}

export class TrustedInteraction {
  readonly #ui: TrustedUiPort;
  readonly #storage: TrustedKeyStorage;
  readonly #store: AppStorage;
  readonly #provider: CryptoProvider;
  readonly #pinTries: number;
  readonly #pukTries: number;
  readonly #trace: TraceSink | undefined;
  /** Setting the initial PIN, one call at a time. */
  readonly #settingPin = new Mutex();

  constructor(options: TrustedInteractionOptions) {
    this.#ui = options.ui;
    this.#storage = options.storage;
    this.#store = options.storage.app(APP_ID);
    this.#provider = options.provider;
    this.#pinTries = options.pinTries ?? DEFAULT_PIN_TRIES;
    this.#pukTries = options.pukTries ?? DEFAULT_PUK_TRIES;
    this.#trace = options.trace;
  }

  /**
   * Show `text` on the trusted UI and return whether the user confirmed. With `requirePin`, a
   * confirmation also needs the right PIN: a wrong one is ACCESS_DENIED (or PIN_BLOCKED when it
   * used the last try), and a blocked PIN is refused before anything is shown.
   */
  async confirm(text: string, options: ConfirmOptions = {}): Promise<boolean> {
    const requirePin = options.requirePin ?? false;
    if (requirePin) this.#assertUsable(await this.#state());
    const title = options.title ?? 'Confirm';
    this.#trace?.({ lane: 'TK', actor: 'trusted-interaction', text: `asking the user: ${title}`, detail: { display: text, pinRequired: requirePin } });
    const answer = await this.#ask(title, layoutLines(text), requirePin, options.via);
    if (!answer.confirmed) {
      this.#trace?.({ lane: 'TK', actor: 'trusted-interaction', text: 'user declined' });
      return false;
    }
    if (requirePin) await this.#verify('pin', answer.pin!);
    this.#trace?.({ lane: 'TK', actor: 'trusted-interaction', text: requirePin ? 'user confirmed with the right PIN' : 'user confirmed' });
    return true;
  }

  /** Show a message on the trusted UI (through `via`, the command's origin, when given). */
  async message(text: string, via?: TrustedUiPort): Promise<void> {
    await (via ?? this.#ui).request('tui.message', { text }, { timeoutMs: USER_TIMEOUT_MS });
  }

  async pinStatus(): Promise<PinStatus> {
    const state = await this.#state();
    if (!state) {
      return { set: false, triesLeft: 0, maxTries: this.#pinTries, blocked: false, pukTriesLeft: 0, permanentlyBlocked: false };
    }
    return {
      set: true,
      triesLeft: state.pin.tries,
      maxTries: state.pin.maxTries,
      blocked: state.pin.tries === 0,
      pukTriesLeft: state.puk.tries,
      permanentlyBlocked: state.puk.tries === 0,
    };
  }

  /**
   * Provisioning: the user chooses a PIN on the trusted UI (entered twice); the key makes a PUK and
   * shows it once. ACCESS_DENIED if a PIN is already set.
   */
  async setInitialPin(via?: TrustedUiPort): Promise<PinStatus> {
    // One at a time: the PUK is shown before the PIN is stored (below), so two racing calls must
    // not both show one.
    return this.#settingPin.run(async () => {
      if (await this.#state()) throw new TeeError('ACCESS_DENIED', 'PIN: already set; use change PIN', 'TRUSTED_KEY');
      const pin = await this.#askNewPin('Set PIN', via);
      const puk = this.#makePuk();
      const key = this.#storage.deriveKey(VERIFIER_LABEL);
      const pukBytes = new TextEncoder().encode(puk);
      let state: PinState;
      try {
        state = {
          pin: freshSecretState(this.#provider, key, pin, this.#pinTries),
          puk: freshSecretState(this.#provider, key, pukBytes, this.#pukTries),
        };
      } finally {
        zeroize(key, pin, pukBytes);
      }
      // Shown first, stored second: a crash or a cut of power in between leaves no PIN set (the
      // provisioning runs again, with a new PUK), never a PIN whose PUK the user did not see. If the
      // user does not see it (the trusted UI fails), nothing is stored.
      await this.message(`Your PUK is ${puk}. Write it down: it unblocks your PIN and is shown only this once.`, via);
      await this.#store.put(PIN_OBJECT, encodePinState(state), { exclusive: true });
      this.#trace?.({ lane: 'TK', actor: 'trusted-interaction', text: 'PIN set; PUK generated inside the key and shown once on the trusted UI' });
      return this.pinStatus();
    });
  }

  /** The user enters the current PIN, then the new one twice. */
  async changePin(via?: TrustedUiPort): Promise<PinStatus> {
    this.#assertUsable(await this.#state());
    const answer = await this.#ask('Change PIN', ['Enter your current PIN'], true, via);
    if (!answer.confirmed) throw new TeeError('CANCEL', 'change PIN: cancelled by the user', 'TRUSTED_KEY');
    await this.#verify('pin', answer.pin!);
    const pin = await this.#askNewPin('Change PIN', via);
    await this.#replacePin(pin);
    this.#trace?.({ lane: 'TK', actor: 'trusted-interaction', text: 'PIN changed' });
    return this.pinStatus();
  }

  /**
   * Unblock with the PUK: the user enters the PUK and a new PIN (twice) on the trusted UI. A wrong PUK
   * takes a PUK try; the last one blocks the key for good.
   */
  async unblock(via?: TrustedUiPort): Promise<PinStatus> {
    const state = await this.#state();
    if (!state) throw new TeeError('BAD_STATE', 'PIN: not set', 'TRUSTED_KEY');
    if (state.puk.tries === 0) throw new TeeError('PIN_BLOCKED', 'PUK: no tries left; the key is blocked for good', 'TRUSTED_KEY');
    const answer = await this.#ask('Unblock PIN', ['Enter your PUK'], true, via);
    if (!answer.confirmed) throw new TeeError('CANCEL', 'unblock: cancelled by the user', 'TRUSTED_KEY');
    const puk = answer.pin!;
    let pin: Uint8Array;
    try {
      pin = await this.#askNewPin('Unblock PIN', via);
    } catch (err) {
      zeroize(puk);
      throw err;
    }
    try {
      await this.#verify('puk', puk, pin);
    } finally {
      zeroize(puk, pin);
    }
    this.#trace?.({ lane: 'TK', actor: 'trusted-interaction', text: 'PIN unblocked with the PUK' });
    return this.pinStatus();
  }

  // ---- inside ----

  async #state(): Promise<PinState | undefined> {
    if (!(await this.#store.has(PIN_OBJECT))) return undefined;
    return decodePinState(await this.#store.get(PIN_OBJECT));
  }

  #assertUsable(state: PinState | undefined): void {
    if (!state) throw new TeeError('BAD_STATE', 'PIN: not set', 'TRUSTED_KEY');
    if (state.puk.tries === 0) throw new TeeError('PIN_BLOCKED', 'PIN: the key is blocked for good (PUK exhausted)', 'TRUSTED_KEY');
    if (state.pin.tries === 0) throw new TeeError('PIN_BLOCKED', 'PIN: blocked; unblock it with the PUK', 'TRUSTED_KEY');
  }

  /**
   * Check a PIN (or the PUK) and update its counter in one atomic write: the outcome is known to the
   * caller only after the write is durable, so cutting power at the right moment buys no free try.
   * For the PUK, `newPin` replaces the PIN when the PUK is right.
   */
  async #verify(kind: 'pin' | 'puk', secret: Uint8Array, newPin?: Uint8Array): Promise<void> {
    const key = this.#storage.deriveKey(VERIFIER_LABEL);
    let outcome: { ok: boolean; left: number } = { ok: false, left: 0 };
    try {
      await this.#store.update(PIN_OBJECT, (old) => {
        if (!old) throw new TeeError('BAD_STATE', 'PIN: not set', 'TRUSTED_KEY');
        const state = decodePinState(old);
        if (kind === 'pin') this.#assertUsable(state);
        else if (state.puk.tries === 0) throw new TeeError('PIN_BLOCKED', 'PUK: no tries left; the key is blocked for good', 'TRUSTED_KEY');
        const target = kind === 'pin' ? state.pin : state.puk;
        const ok = matches(this.#provider, key, target, secret);
        if (ok) {
          target.tries = target.maxTries;
          if (kind === 'puk' && newPin) state.pin = freshSecretState(this.#provider, key, newPin, state.pin.maxTries);
        } else target.tries -= 1;
        outcome = { ok, left: target.tries };
        return encodePinState(state);
      });
    } finally {
      zeroize(key);
      if (kind === 'pin') zeroize(secret);
    }
    const name = kind.toUpperCase();
    if (outcome.ok) {
      this.#trace?.({ lane: 'TK', actor: 'trusted-interaction', text: `${name} verified` });
      return;
    }
    const err = outcome.left === 0
      ? new TeeError('PIN_BLOCKED', kind === 'pin' ? 'PIN: wrong; no tries left, the PIN is now blocked' : 'PUK: wrong; no tries left, the key is now blocked for good', 'TRUSTED_KEY')
      : new TeeError('ACCESS_DENIED', `${name}: wrong, ${outcome.left} ${outcome.left === 1 ? 'try' : 'tries'} left`, 'TRUSTED_KEY');
    this.#trace?.({ lane: 'TK', actor: 'trusted-interaction', text: `wrong ${name}`, detail: { triesLeft: outcome.left, code: err.code } });
    throw err;
  }

  async #replacePin(pin: Uint8Array): Promise<void> {
    const key = this.#storage.deriveKey(VERIFIER_LABEL);
    try {
      await this.#store.update(PIN_OBJECT, (old) => {
        if (!old) throw new TeeError('BAD_STATE', 'PIN: not set', 'TRUSTED_KEY');
        const state = decodePinState(old);
        state.pin = freshSecretState(this.#provider, key, pin, state.pin.maxTries);
        return encodePinState(state);
      });
    } finally {
      zeroize(key, pin);
    }
  }

  /** Ask for a new PIN twice; both entries must match and be 4-12 digits. */
  async #askNewPin(title: string, via: TrustedUiPort | undefined): Promise<Uint8Array> {
    const first = await this.#ask(title, ['Enter a new PIN (4 to 12 digits)'], true, via);
    if (!first.confirmed) throw new TeeError('CANCEL', `${title}: cancelled by the user`, 'TRUSTED_KEY');
    const pin = first.pin!;
    let second: Uint8Array | undefined;
    try {
      if (!isPinFormat(pin)) throw new TeeError('BAD_PARAMETERS', `${title}: a PIN is 4 to 12 digits`, 'TRUSTED_KEY');
      const again = await this.#ask(title, ['Enter the new PIN again'], true, via);
      if (!again.confirmed) throw new TeeError('CANCEL', `${title}: cancelled by the user`, 'TRUSTED_KEY');
      second = again.pin!;
      if (!this.#sameBytes(pin, second)) {
        throw new TeeError('BAD_PARAMETERS', `${title}: the two entries differ`, 'TRUSTED_KEY');
      }
      return pin;
    } catch (err) {
      zeroize(pin);
      throw err;
    } finally {
      zeroize(second);
    }
  }

  #sameBytes(a: Uint8Array, b: Uint8Array): boolean {
    const key = this.#provider.randomBytes(32);
    try {
      // Compare MACs under a one-time key, in constant time: equal-length or not, nothing about the PINs leaks.
      return constantTimeEqual(this.#provider.hmacSha256(key, a), this.#provider.hmacSha256(key, b));
    } finally {
      zeroize(key);
    }
  }

  /** A PUK of PUK_DIGITS uniform decimal digits (rejection sampling: no modulo bias). */
  #makePuk(): string {
    let out = '';
    while (out.length < PUK_DIGITS) {
      const bytes = this.#provider.randomBytes(16);
      for (const b of bytes) if (b < 250 && out.length < PUK_DIGITS) out += String(b % 10);
      zeroize(bytes);
    }
    return out;
  }

  async #ask(title: string, lines: string[], requirePin: boolean, via: TrustedUiPort | undefined): Promise<{ confirmed: boolean; pin?: Uint8Array }> {
    const raw = await (via ?? this.#ui).request('tui.confirm', { title, lines, requirePin }, { timeoutMs: USER_TIMEOUT_MS });
    let confirmed: boolean;
    let pin: Uint8Array | undefined;
    try {
      const r = aobject(raw, 'tui.confirm answer');
      confirmed = abool(r.confirmed, 'tui.confirm answer.confirmed');
      if (r.pin !== undefined) pin = abytes(r.pin, 'tui.confirm answer.pin', { min: 1, max: 64 });
    } catch {
      throw new TeeError('COMMUNICATION', 'trusted UI: malformed answer', 'TRUSTED_KEY');
    }
    if (!confirmed) {
      zeroize(pin);
      return { confirmed };
    }
    if (requirePin && !pin) throw new TeeError('CANCEL', 'trusted UI: no PIN entered', 'TRUSTED_KEY');
    if (!requirePin) zeroize(pin);
    return requirePin ? { confirmed, pin: pin! } : { confirmed };
  }
}

/** 4 to 12 ASCII digits, checked on the bytes (a JS string of the PIN could not be zeroized). */
function isPinFormat(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes.length <= 12 && bytes.every((b) => b >= 0x30 && b <= 0x39);
}
