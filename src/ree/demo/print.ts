/**
 * Printing the three-lane trace for a terminal: one line per event, prefixed by its lane, so the
 * reader sees which world saw what; details go on an indented line, everything clipped to `width`.
 */
import type { TraceEvent } from '../../common/trace.js';
import { formatAmount } from '../../protocol/payment.js';
import type { DemoSummary } from './world.js';

const LANE_LABEL = { REE: 'REE     ', TEE: 'TEE OS  ', TK: 'TRUSTED ' } as const;
const ACTOR_WIDTH = 18;

function clip(line: string, width: number): string {
  return line.length <= width ? line : `${line.slice(0, width - 1)}…`;
}

export function formatTraceEvent(event: TraceEvent, width = 100): string[] {
  const actor = event.actor.length > ACTOR_WIDTH ? event.actor.slice(0, ACTOR_WIDTH) : event.actor.padEnd(ACTOR_WIDTH);
  const prefix = `${LANE_LABEL[event.lane]}│ ${actor} │ `;
  const lines = [clip(prefix + event.text, width)];
  if (event.detail && Object.keys(event.detail).length > 0) {
    const pad = `${' '.repeat(LANE_LABEL[event.lane].length)}│ ${' '.repeat(ACTOR_WIDTH)} │   `;
    const text = Object.entries(event.detail).map(([k, v]) => `${k}=${String(v)}`).join('  ');
    lines.push(clip(pad + text, width));
  }
  return lines;
}

export function formatSummary(s: DemoSummary): string[] {
  const line = (who: 'payer' | 'payee') => {
    const b = s.balances[who];
    const account = Object.entries(b.account).map(([c, a]) => formatAmount(a, c)).join(', ') || '-';
    const offline = b.offline.currency ? formatAmount(b.offline.balance, b.offline.currency) : '-';
    return `  ${who} ${b.party.userId}@${b.party.subdomainId}: account ${account}; offline balance ${offline} (counter ${b.offline.counter})`;
  };
  return [
    'Summary',
    `  payments made: ${s.onlinePayments} online, ${s.offlinePayments} offline`,
    `  signatures verified: ${s.signaturesVerified}`,
    line('payer'),
    line('payee'),
  ];
}
