/**
 * The teaching page: asks the local server to run a payment (optionally with a compromised REE) and
 * draws the returned trace as a sequence diagram in three lanes. Everything is built with DOM calls
 * and textContent (no HTML from the server is ever parsed).
 */
import type { TraceLane } from '../../../common/trace.js';
import type { Attack, Flow, RunResult, TeachEvent, UserChoice } from '../scenario.js';
import { doc, formData, type PageControl, type PageElement, type PageNode } from './dom.js';

const LANES: readonly TraceLane[] = ['REE', 'TEE', 'TK'];
const SEES: Readonly<Record<TraceLane, { title: string; note: string }>> = {
  REE: {
    title: 'The REE (rich OS) sees',
    note: 'Public data (QR codes, the handshake’s certificates and ephemeral public keys), opaque handles and ciphertext: every byte it carries, nothing it can open. A compromised REE can change these bytes, but not make them verify.',
  },
  TEE: {
    title: 'Inside the TEE OS',
    note: 'Plaintext of the wallet TA’s commands and the trusted UI. Private keys stay in the trusted key; the channel to it is encrypted and authenticated.',
  },
  TK: {
    title: 'Inside the trusted key',
    note: 'Plaintext of the payment it signs and the checks it makes. Its private keys, PIN and channel keys never leave it and are never shown here.',
  },
};

const $ = (id: string): PageControl => {
  const found = doc.getElementById(id);
  if (!found) throw new Error(`missing #${id}`);
  return found as PageControl;
};

function el(tag: string, props: { className?: string; text?: string } = {}, ...children: PageNode[]): PageControl {
  const node = doc.createElement(tag);
  if (props.className) node.className = props.className;
  if (props.text !== undefined) node.textContent = props.text;
  node.append(...children);
  return node;
}

const form = $('controls');
const attackSelect = $('attack');
const compromised = $('compromised');
const amountInput = $('amount');
const runButton = $('run');
const statusEl = $('status');
const list = $('events');
const empty = $('empty');
const detail = $('detail');
const defenceEl = $('defence');
const userSelect = $('user');
const noteEl = $('note');
const flowsEl = $('flows');
const stepwise = $('stepwise');
const nextButton = $('next');
const allButton = $('all');
const progressEl = $('progress');
/** The flows each attack applies to, from the server. */
const attackFlows = new Map<string, readonly Flow[]>();
/** Above this amount (minor units) the trusted key asks for the PIN; the server says which. */
let pinAbove = Infinity;

async function loadScenarios(): Promise<void> {
  const res = await fetch('/api/scenarios');
  const body = (await res.json()) as {
    flows: { id: Flow; title: string }[];
    attacks: { id: Attack; title: string; flows: Flow[] }[];
    users: { id: UserChoice; title: string }[];
    pinAbove: number;
  };
  for (const f of body.flows) {
    const radio = el('input');
    radio.type = 'radio';
    radio.name = 'flow';
    radio.value = f.id;
    radio.checked = f.id === body.flows[0]?.id;
    radio.addEventListener('change', offerAttacks);
    flowsEl.append(el('label', {}, radio, doc.createTextNode(` ${f.title}`)));
  }
  for (const a of body.attacks) {
    if (a.id === 'none') continue;
    attackFlows.set(a.id, a.flows);
    const option = el('option', { text: a.title });
    option.value = a.id;
    attackSelect.append(option);
  }
  offerAttacks();
  for (const u of body.users) {
    const option = el('option', { text: u.title });
    option.value = u.id;
    userSelect.append(option);
  }
  pinAbove = body.pinAbove;
}

function chosenFlow(): Flow {
  return String(formData(form).get('flow') ?? 'online') as Flow;
}

/** Offer only the attacks that apply to the chosen flow (impersonating the TEE OS needs a handshake). */
function offerAttacks(): void {
  const flow = chosenFlow();
  const options = Array.from(attackSelect.querySelectorAll('option')) as PageControl[];
  for (const option of options) option.disabled = !(attackFlows.get(option.value) ?? []).includes(flow);
  if (options.find((o) => o.value === attackSelect.value)?.disabled !== false) {
    const first = options.find((o) => !o.disabled);
    if (first) attackSelect.value = first.value;
  }
}

function say(text: string): void {
  noteEl.hidden = text === '';
  noteEl.textContent = text;
}

// One lesson at a time: a compromised REE meets a payer who confirms, and a refusing payer an honest REE.
compromised.addEventListener('change', () => {
  attackSelect.disabled = !compromised.checked;
  if (compromised.checked) userSelect.value = 'confirm';
  userSelect.disabled = compromised.checked;
  say(compromised.checked ? 'With a compromised REE the payer confirms: the attack is the lesson.' : '');
});

userSelect.addEventListener('change', () => {
  // The trusted key asks for the PIN only above its limit, so a wrong PIN needs a larger amount.
  if (userSelect.value === 'wrong-pin' && Math.round(Number(amountInput.value) * 100) <= pinAbove) {
    amountInput.value = ((pinAbove + 5_000) / 100).toFixed(2);
    say(`The trusted key asks for the PIN only above ${(pinAbove / 100).toFixed(2)} CNY, so the amount is now ${amountInput.value}.`);
  } else say('');
});

function showDetail(event: TeachEvent, button: PageElement): void {
  for (const b of Array.from(list.querySelectorAll('.msg.selected'))) b.classList.remove('selected');
  button.classList.add('selected');
  const sees = SEES[event.lane];
  const rows = el('dl');
  const add = (k: string, v: string) => rows.append(el('dt', { text: k }), el('dd', { text: v }));
  add('actor', event.actor);
  add('step', event.text);
  if (event.t !== undefined) add('time', `${event.t} ms`);
  for (const [k, v] of Object.entries(event.detail ?? {})) add(k, String(v));
  detail.replaceChildren(
    el('h2', { text: sees.title }),
    el('p', { className: 'who', text: sees.note }),
    ...(event.kind === 'rejected' ? [el('h3', { className: 'rejected', text: `Rejected: ${String(event.detail?.code ?? 'error')}` })] : []),
    ...(event.kind === 'attack' ? [el('h3', { text: 'The compromised REE acted here' })] : []),
    rows,
  );
  detail.dataset.lane = event.lane;
  detail.dataset.eventId = String(event.id);
}

/**
 * One step at a time (for a class): the diagram grows by one message per "Next step" (or the right
 * arrow key), the detail panel follows it, and the outcome is told only once the last step is shown.
 */
interface DrawnEvent {
  event: TeachEvent;
  row: PageElement;
  button: PageElement;
}

let steps: { drawn: DrawnEvent[]; shown: number; finish: () => void } | undefined;

function showStep(): void {
  if (!steps) return;
  const { event, row, button } = steps.drawn[steps.shown++]!;
  row.hidden = false;
  showDetail(event, button);
  button.scrollIntoView({ block: 'nearest' });
  progressEl.textContent = `step ${steps.shown} of ${steps.drawn.length}`;
  if (steps.shown === steps.drawn.length) endSteps();
}

/** Show the rest and tell the outcome. */
function endSteps(): void {
  if (!steps) return;
  for (const { row } of steps.drawn) row.hidden = false;
  const finish = steps.finish;
  cancelSteps();
  finish();
}

/** Leave step mode without telling anything (a new run replaces the diagram). */
function cancelSteps(): void {
  steps = undefined;
  nextButton.hidden = allButton.hidden = true;
  progressEl.textContent = '';
}

nextButton.addEventListener('click', showStep);
allButton.addEventListener('click', endSteps);
doc.addEventListener('keydown', (e) => {
  if (steps && e.key === 'ArrowRight' && !['INPUT', 'SELECT'].includes(e.target?.tagName ?? '')) {
    e.preventDefault();
    showStep();
  }
});

function draw(result: RunResult): void {
  cancelSteps();
  list.replaceChildren();
  empty.hidden = result.events.length > 0;
  let previous: TraceLane | undefined;
  const drawn: DrawnEvent[] = [];
  for (const event of result.events) {
    const col = LANES.indexOf(event.lane);
    const row = el('li', { className: `event ${event.kind}` });
    row.dataset.lane = event.lane;
    row.dataset.kind = event.kind;
    if (previous !== undefined && previous !== event.lane) {
      const from = LANES.indexOf(previous);
      const lo = Math.min(from, col);
      const span = Math.abs(from - col) + 1;
      const arrow = el('div', { className: `arrow ${col > from ? 'right' : 'left'}` });
      arrow.style.gridColumn = `${lo + 1} / span ${span}`;
      arrow.style.margin = `0 calc(100% / ${2 * span})`;
      row.append(arrow);
    }
    const button = el('button', { className: `msg lane-${event.lane}` });
    button.type = 'button';
    button.dataset.id = String(event.id);
    button.style.gridColumn = String(col + 1);
    if (event.kind === 'rejected') button.append(el('span', { className: 'code', text: String(event.detail?.code ?? 'ERROR') }));
    button.append(el('span', { className: 'actor', text: event.actor }), doc.createTextNode(event.text));
    button.addEventListener('click', () => showDetail(event, button));
    row.append(button);
    list.append(row);
    drawn.push({ event, row, button });
    previous = event.lane;
  }
  const o = result.outcome;
  const tell = () => {
    statusEl.className = o.status;
    defenceEl.hidden = !o.defence;
    defenceEl.textContent = o.defence ? `${result.attack === 'none' ? 'What happened' : 'Defence'}: ${o.defence}` : '';
    statusEl.textContent = o.status === 'completed' ? 'Payment completed.' : `Rejected: ${o.code ?? 'error'}${o.message ? ` (${o.message})` : ''}`;
  };
  if (!stepwise.checked || drawn.length === 0) return tell();
  for (const { row } of drawn) row.hidden = true;
  statusEl.className = '';
  statusEl.textContent = '';
  steps = { drawn, shown: 0, finish: tell };
  nextButton.hidden = allButton.hidden = false;
  showStep();
  nextButton.focus();
}

form.addEventListener('submit', (e) => {
  e.preventDefault();
  const flow = chosenFlow();
  const attack = compromised.checked ? attackSelect.value : 'none';
  const user = compromised.checked ? 'confirm' : userSelect.value || 'confirm';
  const major = Number(amountInput.value);
  const amount = Number.isFinite(major) && major > 0 ? Math.round(major * 100) : undefined;
  runButton.disabled = true;
  cancelSteps();
  statusEl.className = '';
  statusEl.textContent = 'Running…';
  defenceEl.hidden = true;
  detail.replaceChildren(el('h2', { text: 'What this side sees' }), el('p', { className: 'hint', text: 'Click a message in the diagram.' }));
  void (async () => {
    try {
      const res = await fetch('/api/run', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ flow, attack, user, ...(amount ? { amount } : {}) }) });
      const body = (await res.json()) as RunResult | { error: { code: string; message: string } };
      if ('error' in body) {
        statusEl.className = 'rejected';
        statusEl.textContent = `Server error: ${body.error.code} ${body.error.message}`;
      } else draw(body);
    } catch {
      statusEl.textContent = 'The server did not answer.';
    } finally {
      runButton.disabled = false;
    }
  })();
});

void loadScenarios();
