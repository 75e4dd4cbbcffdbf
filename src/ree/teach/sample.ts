/** A fixed stand-in story (used until the demo world is wired in, and by the page's own tests). */
import type { TraceEvent } from '../../common/trace.js';
import type { RunRequest, RunResult, TeachEvent } from './scenario.js';

export async function sampleRunner(request: RunRequest): Promise<RunResult> {
  const steps: (TraceEvent & { kind?: TeachEvent['kind'] })[] = [
    { lane: 'REE', actor: 'wallet:payee', text: 'shows a QR code: pay 12.50 EUR to bob', detail: { payee: 'bob', amount: 1250, currency: 'EUR' } },
    { lane: 'REE', actor: 'wallet:payer', text: 'scans the QR, invokes SIGN_PAYMENT with key handle', detail: { handle: '5f1c…a0 (16 B)' } },
    { lane: 'TEE', actor: 'wallet-ta', text: 'asks the trusted key to sign', detail: { amount: 1250, payee: 'bob' } },
    { lane: 'TK', actor: 'trusted-interaction', text: 'user confirms 12.50 EUR to bob on the trusted UI' },
    { lane: 'TK', actor: 'trusted-computing', text: 'signs (R, payee, payment, payer)', detail: { nonce: '9a…' } },
    { lane: 'REE', actor: 'backend', text: 'verifies and settles', detail: { orderId: 'o-1' } },
  ];
  if (request.attack !== 'none') {
    steps.splice(5, 0, { lane: 'REE', actor: 'attacker', text: `compromised REE: ${request.attack}`, kind: 'attack' });
    steps.splice(6, 1, { lane: 'REE', actor: 'backend', text: 'rejects the payment', kind: 'rejected', detail: { code: 'SECURITY', origin: 'BACKEND' } });
  }
  const events = steps.map((s, id) => ({ ...s, id, t: id, kind: s.kind ?? 'step' }));
  return {
    flow: request.flow,
    attack: request.attack,
    events,
    outcome: request.attack === 'none' ? { status: 'completed' } : { status: 'rejected', code: 'SECURITY', origin: 'BACKEND', message: 'stand-in' },
  };
}
