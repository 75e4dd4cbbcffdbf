/**
 * A simulated secure display and input (GP's Trusted User Interface). Only TEE-side code reaches it:
 * TAs through `TaTrustedUi`, the trusted key through its channel, and the test or demo that plays the
 * user through `setUser`. Nothing the REE sends can draw on it, read it or answer it: the driver has
 * no command for it. The log keeps what was shown and what the user did, never a PIN.
 */
import { TeeError } from '../common/errors.js';
import { aarray, abool, abytes, aobject, astring } from '../common/checks.js';

export const TUI_MAX_TITLE = 64;
export const TUI_MAX_LINE = 80;
export const TUI_MAX_LINES = 12;
export const TUI_MAX_PIN_BYTES = 64;
const LOG_LIMIT = 256;

export interface TrustedUiConfirmRequest {
  title: string;
  lines: string[];
  requirePin: boolean;
}

export interface TrustedUiConfirmResult {
  confirmed: boolean;
  /** Present only when a PIN was required and the user confirmed; the receiver zeroizes it. */
  pin?: Uint8Array;
}

/** What the simulated screen shows the user when asking. */
export interface TrustedUiPrompt extends TrustedUiConfirmRequest {
  kind: 'confirm';
}

/** The user: the test or demo answers prompts on the TEE side. */
export type TrustedUiUser = (prompt: Readonly<TrustedUiPrompt>) => Promise<TrustedUiConfirmResult> | TrustedUiConfirmResult;

export type TrustedUiLogEntry =
  | {
      seq: number;
      kind: 'confirm';
      title: string;
      lines: string[];
      requirePin: boolean;
      outcome: 'confirmed' | 'declined' | 'cancelled';
      pinEntered: boolean;
    }
  | { seq: number; kind: 'message'; text: string };

/** The part a TA (or the trusted key, via the TEE OS) uses. */
export interface TaTrustedUi {
  confirm(request: TrustedUiConfirmRequest): Promise<TrustedUiConfirmResult>;
  message(text: string): Promise<void>;
}

// Control characters, and bidi overrides that reorder what is shown, would let a caller forge
// a screen that reads differently from the text that was approved.
const UNSAFE_TEXT = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/;

function displayText(value: unknown, title: string, max: number, min = 0): string {
  const text = astring(value, title, { min, max });
  if (UNSAFE_TEXT.test(text)) throw new TeeError('BAD_PARAMETERS', `${title}: control or bidi characters cannot be displayed`, 'TEE');
  return text;
}

/** Validate a confirm request from any caller (TA or trusted key). */
export function parseConfirmRequest(raw: unknown): TrustedUiConfirmRequest {
  const r = aobject(raw, 'tui.confirm');
  const lines = aarray(r.lines, 'tui.confirm.lines', TUI_MAX_LINES).map((l, i) => displayText(l, `tui.confirm.lines[${i}]`, TUI_MAX_LINE));
  return {
    title: displayText(r.title, 'tui.confirm.title', TUI_MAX_TITLE, 1),
    lines,
    requirePin: abool(r.requirePin, 'tui.confirm.requirePin'),
  };
}

export class TrustedUi implements TaTrustedUi {
  #user: TrustedUiUser | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  #seq = 0;
  readonly #log: TrustedUiLogEntry[] = [];
  readonly #listeners = new Set<(entry: Readonly<TrustedUiLogEntry>) => void>();

  /** Install (or remove, with undefined) the simulated user. TEE side only. */
  setUser(user: TrustedUiUser | undefined): void {
    this.#user = user;
  }

  /** Screens shown so far, oldest first (bounded). */
  get log(): readonly Readonly<TrustedUiLogEntry>[] {
    return this.#log.slice();
  }

  /** Follow the screens as they are shown (the demo's TEE lane). Returns an unsubscribe function. */
  onScreen(listener: (entry: Readonly<TrustedUiLogEntry>) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Ask the user; one screen at a time. No user, or a user who walks away (throws) -> CANCEL. */
  confirm(request: TrustedUiConfirmRequest): Promise<TrustedUiConfirmResult> {
    let req: TrustedUiConfirmRequest;
    try {
      req = parseConfirmRequest(request);
    } catch (err) {
      return Promise.reject(err);
    }
    const run = this.#queue.then(() => this.#ask(req));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async message(text: string): Promise<void> {
    const checked = displayText(text, 'tui.message.text', TUI_MAX_LINE * TUI_MAX_LINES, 1);
    this.#record({ seq: ++this.#seq, kind: 'message', text: checked });
  }

  async #ask(req: TrustedUiConfirmRequest): Promise<TrustedUiConfirmResult> {
    const base = { seq: ++this.#seq, kind: 'confirm' as const, title: req.title, lines: req.lines.slice(), requirePin: req.requirePin };
    const user = this.#user;
    if (!user) {
      this.#record({ ...base, outcome: 'cancelled', pinEntered: false });
      throw new TeeError('CANCEL', 'trusted UI: no user present', 'TEE');
    }
    let answer: TrustedUiConfirmResult;
    try {
      answer = await user({ kind: 'confirm', ...req, lines: req.lines.slice() });
      aobject(answer, 'trusted UI answer');
      abool(answer.confirmed, 'trusted UI answer.confirmed');
    } catch {
      this.#record({ ...base, outcome: 'cancelled', pinEntered: false });
      throw new TeeError('CANCEL', 'trusted UI: user cancelled', 'TEE');
    }
    const pin = answer.pin;
    if (!answer.confirmed) {
      pin?.fill(0);
      this.#record({ ...base, outcome: 'declined', pinEntered: false });
      return { confirmed: false };
    }
    if (!req.requirePin) {
      pin?.fill(0);
      this.#record({ ...base, outcome: 'confirmed', pinEntered: false });
      return { confirmed: true };
    }
    try {
      abytes(pin, 'trusted UI PIN', { min: 1, max: TUI_MAX_PIN_BYTES });
    } catch {
      this.#record({ ...base, outcome: 'cancelled', pinEntered: false });
      throw new TeeError('CANCEL', 'trusted UI: no PIN entered', 'TEE');
    }
    this.#record({ ...base, outcome: 'confirmed', pinEntered: true });
    return { confirmed: true, pin: pin as Uint8Array };
  }

  #record(entry: TrustedUiLogEntry): void {
    this.#log.push(entry);
    if (this.#log.length > LOG_LIMIT) this.#log.shift();
    for (const l of this.#listeners) {
      try {
        l(entry);
      } catch {
        // A broken observer must not break the screen.
      }
    }
  }
}
