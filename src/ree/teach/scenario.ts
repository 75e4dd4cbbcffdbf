/**
 * What the teaching page asks the server to run, and what it gets back. Shared by the server and
 * the page (the page imports the types only).
 */
import type { TraceEvent } from '../../common/trace.js';

export const FLOWS = ['online', 'offline'] as const;
export type Flow = (typeof FLOWS)[number];

export const ATTACKS = ['none', 'tamper-frame', 'replay-frame', 'replay-payment', 'alter-amount'] as const;
export type Attack = (typeof ATTACKS)[number];

export const ATTACK_TITLES: Readonly<Record<Attack, string>> = {
  none: 'honest REE',
  'tamper-frame': 'flip a bit in a TEE OS ↔ trusted key channel frame',
  'replay-frame': 'replay a TEE OS → trusted key channel frame',
  'replay-payment': 'replay the signed payment',
  'alter-amount': 'alter the amount in the signed payment bytes',
};

/** What the user at the payer's trusted UI does: the REE cannot see or change this (the screen is the TEE's). */
export const USER_CHOICES = ['confirm', 'reject', 'wrong-pin'] as const;
export type UserChoice = (typeof USER_CHOICES)[number];

export const USER_CHOICE_TITLES: Readonly<Record<UserChoice, string>> = {
  confirm: 'confirms (and enters the right PIN when asked)',
  reject: 'rejects the payment on the trusted UI',
  'wrong-pin': 'confirms but enters a wrong PIN',
};

/** Above this amount (minor units) the trusted keys of a teaching run ask for the PIN (the runner sets it as their limit). */
export const PIN_ABOVE = 10_000;

export interface RunRequest {
  flow: Flow;
  attack: Attack;
  /** The payer's choice on the trusted UI (default 'confirm'); other choices need an honest REE (attack 'none'). */
  user?: UserChoice;
  /**
   * Minor units (CNY fen); default 25.50 online, 12.00 offline, and 150.00 for 'wrong-pin'. Above
   * 100.00 (PIN_ABOVE) the trusted key asks for the PIN, so 'wrong-pin' needs an amount above it.
   */
  amount?: number;
}

/** One event as the page draws it: a trace event with an id and a role in the story. */
export interface TeachEvent extends TraceEvent {
  id: number;
  /** 'attack': the compromised REE acted; 'rejected': a defence refused (detail.code holds the error code). */
  kind: 'step' | 'attack' | 'rejected' | 'result';
}

export interface RunOutcome {
  /** 'completed': the payment went through; 'rejected': a defence stopped it (or the replayed copy). */
  status: 'completed' | 'rejected';
  code?: string;
  origin?: string;
  message?: string;
  /** For an attack: the defence that stopped it, in one sentence; for a user's refusal, what it meant. */
  defence?: string;
}

export const DEFENCES: Readonly<Record<Exclude<Attack, 'none'>, Record<Flow, string>>> = {
  'tamper-frame': {
    online: 'Every channel record is authenticated (AEAD tag, sequence number): the trusted key refuses the altered frame and drops the channel.',
    offline: 'Every channel record is authenticated (AEAD tag, sequence number): the trusted key refuses the altered frame and drops the channel.',
  },
  'replay-frame': {
    online: 'Every record carries a sequence number in its authenticated header: the trusted key accepts only the next one, so it refuses the copy and drops the channel.',
    offline: 'Every record carries a sequence number in its authenticated header: the trusted key accepts only the next one, so it refuses the copy and drops the channel.',
  },
  'replay-payment': {
    online: 'The backend remembers every signed nonce and order: the same signed payment settles once.',
    offline: 'The payee’s trusted key records each payer counter in its secure storage: the same payment is accepted once.',
  },
  'alter-amount': {
    online: 'The amount is inside the payer’s signature: the backend maps the payer’s public key from its ID and the signature no longer verifies.',
    offline: 'The offer is signed by the payee’s trusted key: the payer’s trusted key maps the payee’s public key from its ID and refuses the altered offer.',
  },
};

export interface RunResult {
  flow: Flow;
  attack: Attack;
  user: UserChoice;
  events: TeachEvent[];
  outcome: RunOutcome;
}

/** What a refusal at the trusted UI means, for the outcome line. */
export const USER_OUTCOMES: Readonly<Record<Exclude<UserChoice, 'confirm'>, string>> = {
  reject: 'The user rejected the payment on the trusted UI: the trusted key signs nothing, and the REE only learns that the call was cancelled.',
  'wrong-pin': 'The PIN goes from the trusted UI to the trusted key inside the encrypted channel (the REE carries only ciphertext): a wrong one takes a try from the key’s retry counter (kept in its rollback-protected storage), and nothing is signed.',
};
