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

export interface RunRequest {
  flow: Flow;
  attack: Attack;
  /** Minor units (CNY fen); default 25.50 online, 12.00 offline. Above 100.00 the trusted key asks for the PIN. */
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
  /** For an attack: the defence that stopped it, in one sentence. */
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
  events: TeachEvent[];
  outcome: RunOutcome;
}
