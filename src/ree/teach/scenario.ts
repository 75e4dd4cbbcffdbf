/**
 * What the teaching page asks the server to run, and what it gets back. Shared by the server and
 * the page (the page imports the types only).
 */
import type { TraceEvent } from '../../common/trace.js';

/** 'channel': the payer's trusted key is power-cycled and sets up a new channel, then pays online over it. */
export const FLOWS = ['online', 'offline', 'channel'] as const;
export type Flow = (typeof FLOWS)[number];

export const FLOW_TITLES: Readonly<Record<Flow, string>> = {
  online: 'online (QR → backend)',
  offline: 'offline (phone ↔ phone)',
  channel: 'channel set-up (power-cycle the trusted key, then pay online)',
};

export const ATTACKS = ['none', 'tamper-frame', 'replay-frame', 'replay-payment', 'alter-amount', 'impersonate-tee-os'] as const;
export type Attack = (typeof ATTACKS)[number];

export const ATTACK_TITLES: Readonly<Record<Attack, string>> = {
  none: 'honest REE',
  'tamper-frame': 'flip a bit in a TEE OS ↔ trusted key channel frame',
  'replay-frame': 'replay a TEE OS → trusted key channel frame',
  'replay-payment': 'replay the signed payment',
  'alter-amount': 'alter the amount in the signed payment bytes',
  'impersonate-tee-os': 'answer the trusted key’s handshake as a fake TEE OS',
};

/** The flows each attack applies to (the others are refused with BAD_PARAMETERS). */
export const ATTACK_FLOWS: Readonly<Record<Attack, readonly Flow[]>> = {
  none: FLOWS,
  'tamper-frame': FLOWS,
  'replay-frame': FLOWS,
  'replay-payment': FLOWS,
  'alter-amount': FLOWS,
  // Only the channel flow has a handshake in it (the others run over the channel set up before).
  'impersonate-tee-os': ['channel'],
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

const RECORD_TAMPER = 'Every channel record is authenticated (AEAD tag, sequence number): the trusted key refuses the altered frame and drops the channel.';
const RECORD_REPLAY = 'Every record carries a sequence number in its authenticated header: the trusted key accepts only the next one, so it refuses the copy and drops the channel.';
const ONLINE_REPLAY = 'The backend remembers every signed nonce and order: the same signed payment settles once.';
const ONLINE_ALTER = 'The amount is inside the payer’s signature: the backend maps the payer’s public key from its ID and the signature no longer verifies.';

/** The defence that stops each attack, per flow it applies to (ATTACK_FLOWS). */
export const DEFENCES: Readonly<Record<Exclude<Attack, 'none'>, Partial<Record<Flow, string>>>> = {
  'tamper-frame': {
    online: RECORD_TAMPER,
    offline: RECORD_TAMPER,
    channel: 'The TEE OS signs the handshake so far and MACs it with a key from the new shared secret: the altered message fails the trusted key’s check, it refuses the handshake (SECURITY) and starts a fresh one, which the REE let through.',
  },
  'replay-frame': {
    online: RECORD_REPLAY,
    offline: RECORD_REPLAY,
    channel: 'A handshake message is accepted once, at its step: the copy arrives where the trusted key expects the first authenticated record, so it is refused and the channel dropped; the key starts a fresh handshake, with new ephemeral keys.',
  },
  'replay-payment': { online: ONLINE_REPLAY, offline: 'The payee’s trusted key records each payer counter in its secure storage: the same payment is accepted once.', channel: ONLINE_REPLAY },
  'alter-amount': {
    online: ONLINE_ALTER,
    offline: 'The offer is signed by the payee’s trusted key: the payer’s trusted key maps the payee’s public key from its ID and refuses the altered offer.',
    channel: ONLINE_ALTER,
  },
  'impersonate-tee-os': {
    channel: 'The trusted key accepts only a TEE OS certificate issued under the vendor root it was made with: the REE’s own certificate is refused (SECURITY) before any key is agreed with it, and the key sets up its channel with the real TEE OS.',
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
