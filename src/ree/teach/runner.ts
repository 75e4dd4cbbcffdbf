/**
 * Runs one payment for the teaching page on a fresh demo world (src/ree/demo, backend in process),
 * collecting the three-lane trace of the payment itself (world set-up is left out). With an attack,
 * the compromised REE does one thing a real rich OS could do, the run goes on until a defence
 * refuses, and the refusal is added to the trace with its error code, in the lane that refused:
 *
 *   tamper-frame    flip one bit of the next TEE OS -> trusted key channel frame (the phone's interceptor)
 *                   -> the trusted key's record layer rejects it, the call fails
 *   replay-frame    send the next TEE OS -> trusted key channel frame twice
 *                   -> the trusted key's record layer refuses the copy (out of sequence), the call fails
 *   replay-payment  online: submit the same signed payment to the backend again -> refused as a replay
 *                   offline: show the payee the same signed payment QR again -> its trusted key refuses
 *   alter-amount    online: raise the amount in the signed payment bytes (display text rewritten to
 *                   match) before they go to the backend -> the signature does not verify
 *                   offline: raise the amount in the payee's signed offer before the payer scans it
 *                   -> the payer's trusted key does not accept the offer
 *   impersonate-tee-os  (channel flow only) answer the trusted key's first handshake message with a
 *                   second one of the REE's own: a TEE OS certificate under a root the REE made
 *                   -> the trusted key refuses the certificate, and retries with the real TEE OS
 *
 * The channel flow power-cycles the payer's trusted key, so the TEE OS and the key run the handshake
 * again through the REE (each message drawn with what the carrier can read of it), then pays online.
 * A frame attack there hits the handshake: the key refuses, starts a fresh handshake that the REE
 * lets through, and the payment completes; the run still reports the refusal.
 *
 * With an honest REE the payer's user can also refuse at the trusted UI ('reject'), or confirm with
 * a wrong PIN ('wrong-pin', on an amount above PIN_ABOVE): the trusted key signs nothing, and a
 * wrong PIN takes a try.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toHex, zeroize } from '../../common/bytes.js';
import { TeeError } from '../../common/errors.js';
import type { TraceEvent, TraceLane } from '../../common/trace.js';
import { shortHex } from '../../common/trace.js';
import { defaultProvider } from '../../crypto/index.js';
import type { CryptoProvider } from '../../crypto/provider.js';
import {
  createChannelIdentity, createRoot, flipBit, peekHandshakeMessage, peekRecordHeader, TO_INITIATOR, type Direction, type HandshakeView,
} from '../../channel/index.js';
import { ResponderHandshake } from '../../channel/handshake.js';
import { loadOrIssueHardware } from '../../device/hardware.js';
import {
  decodeSigned, encodeSigned, formatAmount, onlineDisplayText, type SignedStatement,
} from '../../protocol/payment.js';
import { createDemoWorld, DEMO_CURRENCY, runOfflinePayment, runOnlinePayment, type DemoWorld } from '../demo/index.js';
import { decodeQrText, encodeQrText } from '../qr/index.js';
import {
  DEFENCES, PIN_ABOVE, USER_OUTCOMES, type Attack, type RunRequest, type RunResult, type TeachEvent, type UserChoice,
} from './scenario.js';
import type { ScenarioRunner } from './server.js';

export interface TeachRunner {
  run: ScenarioRunner;
  /** The simulated users' secrets (PIN, identity private keys as hex) so tests can scan for them; never served. */
  secrets(): string[];
  close(): Promise<void>;
}

export interface TeachRunnerOptions {
  /** Parent directory for each run's world (a fresh sub-directory per run, removed afterwards); default the OS temp dir. */
  dataDir?: string;
  provider?: CryptoProvider;
}

const PIN = '73925184';
/** What the 'wrong-pin' user types: one digit off, as a real slip would be. */
const WRONG_PIN = '73925185';
const DEFAULT_AMOUNT = { online: 2_550, offline: 1_200, channel: 2_550 } as const;
/** An amount that needs the PIN, for a 'wrong-pin' run that names none. */
const DEFAULT_PIN_AMOUNT = 15_000;

/** A compromised REE's action, drawn in the REE lane. */
function attackEvent(text: string, detail?: TraceEvent['detail']): TraceEvent & { kind: 'attack' } {
  return { lane: 'REE', actor: 'compromised REE', text, kind: 'attack', ...(detail ? { detail } : {}) };
}

/** Raise the amount inside signed statement bytes, keeping the signature (and rewriting the display text to match). */
function raiseAmount<K extends 'online-payment' | 'offline-offer'>(bytes: Uint8Array, kind: K): { bytes: Uint8Array; from: number; to: number } {
  const signed = decodeSigned(bytes, kind);
  const s = signed.statement as SignedStatement & { amount: number; display?: string };
  const from = s.amount;
  const to = from * 100;
  const statement = { ...s, amount: to } as typeof s;
  if (statement.kind === 'online-payment') statement.display = onlineDisplayText(statement);
  return { bytes: encodeSigned({ ...signed, statement } as never), from, to };
}

export async function createTeachRunner(options: TeachRunnerOptions = {}): Promise<TeachRunner> {
  const provider = options.provider ?? defaultProvider();
  const base = options.dataDir ?? tmpdir();
  await mkdir(base, { recursive: true });
  const secrets = new Set<string>([PIN, WRONG_PIN]);

  const run: ScenarioRunner = async (request: RunRequest): Promise<RunResult> => {
    const user: UserChoice = request.user ?? 'confirm';
    const dir = await mkdtemp(join(base, 'teach-run-'));
    const events: TeachEvent[] = [];
    let recording = false;
    const push = (e: TraceEvent & { kind?: TeachEvent['kind'] }) => {
      if (recording) events.push({ ...e, id: events.length, kind: e.kind ?? 'step' });
    };
    const started = performance.now();
    const stamp = () => Math.round((performance.now() - started) * 10) / 10;
    const trace = (e: TraceEvent & { kind?: TeachEvent['kind'] }) => {
      // The demo's per-step summary of the frames carried; here each frame is drawn as it passes (carry below).
      if (e.lane === 'REE' && e.actor.startsWith('link:') && e.text.startsWith('carried ')) return;
      // A flipped, replayed or forged frame: the trusted key's record layer refuses it (its tag does not
      // verify, or its sequence number is not the next) and drops the channel, or its handshake fails.
      const refused = FRAME_ATTACKS.has(request.attack) && !rejected() ? channelRefusal(e) : undefined;
      if (refused) {
        const what = request.attack === 'tamper-frame' ? 'altered' : request.attack === 'replay-frame' ? 'replayed' : 'fake TEE OS’s';
        const text = `${refused.handshake ? `refused the ${what} handshake message` : `rejected the ${what} record`} (${refused.code}); ${e.text}`;
        push({ ...e, t: stamp(), kind: 'rejected', text, detail: { ...e.detail, code: refused.code } });
      } else if (user !== 'confirm' && e.lane === 'TK' && e.actor === 'trusted-interaction' && USER_REFUSALS[user].text === e.text && !rejected()) {
        // The payer said no, or typed a wrong PIN: drawn where the trusted key refuses, before its answer leaves.
        // A wrong PIN's line carries its own code (ACCESS_DENIED, or PIN_BLOCKED on the last try).
        const code = typeof e.detail?.code === 'string' ? e.detail.code : USER_REFUSALS[user].code;
        push({ ...e, t: stamp(), kind: 'rejected', text: `${e.text}: nothing is signed`, detail: { ...e.detail, code } });
      } else push({ ...e, t: stamp() });
    };
    const rejected = () => events.find((x) => x.kind === 'rejected');
    const result = (outcome: RunResult['outcome']): RunResult => ({ flow: request.flow, attack: request.attack, user, events, outcome });
    let world: DemoWorld | undefined;
    try {
      world = await createDemoWorld({ dataDir: dir, provider, trace, backend: 'in-process', pin: PIN, pinLimit: PIN_ABOVE });
      await rememberSecrets(world, secrets);
      if (user === 'reject') world.users.payer.decision = 'reject';
      if (user === 'wrong-pin') world.users.payer.pin = WRONG_PIN;
      // The REE carries every TEE OS <-> trusted key frame: draw each one as the carrier sees it, and
      // let a compromised REE alter or replay one on the payer's phone.
      let tamper: Tamper | undefined;
      for (const phone of [world.phones.payer, world.phones.payee]) {
        const payer = phone === world.phones.payer;
        phone.interceptor.setHook((frame, direction) => {
          const sent = (payer ? tamper?.(frame, direction) : undefined) ?? [frame];
          for (const f of sent) trace(carriedFrame(phone.name, f, direction));
          return sent.length === 1 && sent[0] === frame ? 'pass' : { replace: sent };
        });
      }
      recording = true;
      const amount = request.amount ?? (user === 'wrong-pin' ? DEFAULT_PIN_AMOUNT : DEFAULT_AMOUNT[request.flow]);
      const currency = DEMO_CURRENCY;
      try {
        await runFlow(world, request.flow, request.attack, { amount, currency }, (e) => trace(e), (t) => (tamper = t));
        const paid = formatAmount(amount, currency);
        const first = rejected();
        if (first) {
          // Refused in the handshake: the key set up its channel afresh (the REE let that one through) and paid.
          push({ lane: 'REE', actor: 'result', text: `after the refusal the trusted key set up a new channel with the real TEE OS; payment completed: ${paid}`, kind: 'result' });
          const code = String(first.detail?.code ?? 'SECURITY');
          return result({ status: 'rejected', code, origin: 'CHANNEL', message: `${first.text}; the key then reconnected to the real TEE OS and paid`, ...defence(request, user) });
        }
        push({ lane: 'REE', actor: 'result', text: `payment completed: ${paid}`, kind: 'result' });
        return result({ status: 'completed' });
      } catch (err) {
        if (!(err instanceof TeeError)) throw err;
        const first = rejected();
        if (first) {
          // The defence already refused (and is drawn); the REE sees its call fail.
          trace({ lane: 'REE', actor: `wallet:${world.parties.payer.userId}`, text: `the call failed: ${err.message}`, detail: { code: err.code, origin: err.origin } });
          // A frame attack's code is the record layer's reason; a user's refusal is the error the wallet got.
          const code = user === 'confirm' ? String(first.detail?.code ?? err.code) : err.code;
          return result({ status: 'rejected', code, origin: err.origin, message: first.text, ...defence(request, user) });
        }
        trace({ ...rejecter(request.flow, request.attack, err), text: `rejected: ${err.message}`, detail: { code: err.code, origin: err.origin }, kind: 'rejected' });
        return result({ status: 'rejected', code: err.code, origin: err.origin, message: err.message, ...defence(request, user) });
      }
    } finally {
      recording = false;
      for (const phone of world ? [world.phones.payer, world.phones.payee] : []) phone.interceptor.setHook(undefined);
      await world?.close().catch(() => undefined);
      await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    }
  };

  return { run, secrets: () => [...secrets], close: async () => undefined };
}

function defence(request: RunRequest, user: UserChoice): { defence?: string } {
  if (request.attack !== 'none') return { defence: DEFENCES[request.attack][request.flow] };
  return user === 'confirm' ? {} : { defence: USER_OUTCOMES[user] };
}

/** Where a defence refuses each attack (the error itself surfaces in the wallet that made the call). */
function rejecter(flow: RunRequest['flow'], attack: Attack, err: TeeError): { lane: TraceLane; actor: string } {
  if (attack === 'none') {
    // An honest run can be refused too (over the balance, for instance): place it by the error's origin.
    if (err.origin === 'BACKEND') return { lane: 'REE', actor: 'backend' };
    if (err.origin === 'TRUSTED_APP' || err.origin === 'TRUSTED_KEY' || err.origin === 'CHANNEL') return { lane: 'TK', actor: 'trusted key' };
    if (err.origin === 'TEE') return { lane: 'TEE', actor: 'tee-os' };
    return { lane: 'REE', actor: 'wallet' };
  }
  if (FRAME_ATTACKS.has(attack)) return { lane: 'TK', actor: 'communication-agent' };
  if (flow !== 'offline') return { lane: 'REE', actor: 'backend' };
  if (attack === 'alter-amount') return { lane: 'TK', actor: 'trusted-computing (payer)' };
  return { lane: 'TK', actor: 'trusted-computing (payee)' };
}

/**
 * The trusted key's trace line for each refusal a user can make (src/trusted-key/trusted-interaction),
 * and the code to show when the line has none (a decline: the payment service turns it into CANCEL).
 */
const USER_REFUSALS: Readonly<Record<Exclude<UserChoice, 'confirm'>, { text: string; code: string }>> = {
  reject: { text: 'user declined', code: 'CANCEL' },
  'wrong-pin': { text: 'wrong PIN', code: 'ACCESS_DENIED' },
};

type Emit = (e: TraceEvent & { kind?: TeachEvent['kind'] }) => void;
/** A compromised REE's change to a frame it carries on the payer's phone: the frames to send instead, or undefined to pass it. */
type Tamper = (frame: Uint8Array, direction: Direction) => Uint8Array[] | undefined;
/** The attacks on the frames the REE carries between the TEE OS and the trusted key. */
const FRAME_ATTACKS: ReadonlySet<Attack> = new Set(['tamper-frame', 'replay-frame', 'impersonate-tee-os']);

/** The trusted key's communication agent refusing a frame: a channel dropped on a bad record, or a failed handshake. */
function channelRefusal(e: TraceEvent): { code: string; handshake: boolean } | undefined {
  if (e.lane !== 'TK' || e.actor !== 'communication-agent') return undefined;
  if (typeof e.detail?.reason === 'string') return { code: e.detail.reason, handshake: false };
  if (/^handshake attempt \d+ failed$/.test(e.text) && typeof e.detail?.code === 'string') return { code: e.detail.code, handshake: true };
  return undefined;
}

/** One frame as the REE carrying it sees it: a record's plaintext header and its ciphertext, or a handshake message. */
function carriedFrame(phone: string, frame: Uint8Array, direction: Direction): TraceEvent {
  const route = direction === TO_INITIATOR ? 'TEE OS -> trusted key' : 'trusted key -> TEE OS';
  const header = peekRecordHeader(frame);
  if (!header) {
    const hs = peekHandshakeMessage(frame);
    if (!hs) return { lane: 'REE', actor: `link:${phone}`, text: `carries a frame it cannot parse ${route} (${frame.length} B)`, detail: { route, bytes: frame.length, frame: shortHex(frame) } };
    return { lane: 'REE', actor: `link:${phone}`, text: `carries handshake message ${hs.stage} ${route}: ${handshakeSummary(hs)} (${frame.length} B)`, detail: { route, bytes: frame.length, ...handshakeFields(hs) } };
  }
  return {
    lane: 'REE',
    actor: `link:${phone}`,
    text: `carries record ${header.seq} ${route}: ${frame.length} B of ciphertext`,
    detail: {
      route,
      bytes: frame.length,
      header: `type ${header.type}, epoch ${header.epoch}, seq ${header.seq} (readable, but authenticated: a change is refused)`,
      ciphertext: shortHex(frame.subarray(frame.length - header.sealedBytes)),
    },
  };
}

/** One line per handshake message: what it carries. */
function handshakeSummary(m: HandshakeView): string {
  if (m.stage === 1) return 'hello with an ephemeral X25519 key';
  return `${m.stage === 2 ? 'ephemeral key, ' : ''}certificate of ${m.certificate.subject}, signature, finished MAC`;
}

/** Everything in a handshake message is readable by the carrier (identities are not hidden); none of it is a key. */
function handshakeFields(m: HandshakeView): Record<string, string | number> {
  const cert = (c: { role: string; subject: string; issuer: string; algorithm: string }) => `${c.role} ${c.subject}, ${c.algorithm}, issued by ${c.issuer}`;
  const seen = 'public; the shared secret needs an ephemeral private key, which never leaves either end';
  if (m.stage === 1) return { version: m.version, offers: m.suites.join(', '), ephemeral: shortHex(m.ephemeral), random: shortHex(m.random), note: seen };
  if (m.stage === 2) {
    return { suite: m.suite, ephemeral: shortHex(m.ephemeral), random: shortHex(m.random), certificate: cert(m.certificate), signature: shortHex(m.signature), finished: shortHex(m.finished), note: seen };
  }
  return { certificate: cert(m.certificate), signature: shortHex(m.signature), finished: shortHex(m.finished) };
}

/**
 * What a compromised REE can send in place of the TEE OS's second handshake message: its own answer
 * to the trusted key's hello, signed by a TEE OS identity under a root of its own making (named like
 * the real one: a name proves nothing). Its keys are the REE's and are discarded at once.
 */
function forgeTeeOsAnswer(provider: CryptoProvider, hello: Uint8Array, like: Extract<HandshakeView, { stage: 2 }>['certificate']): Uint8Array {
  const rogue = createRoot(provider, like.issuer, 'p256');
  const identity = createChannelIdentity(provider, rogue.issuer, { role: like.role, subject: like.subject, algorithm: 'p256', trustedRoots: [rogue.root], expectedPeerRole: 'trusted-key' });
  const responder = new ResponderHandshake(identity, { provider });
  try {
    return responder.respond(hello);
  } finally {
    responder.destroy();
    zeroize(rogue.secretKey, identity.secretKey);
  }
}

/**
 * The compromised REE's change to the next frame the TEE OS sends the payer's trusted key: one bit
 * flipped, sent twice, or (impersonate-tee-os) the TEE OS's second handshake message replaced by the
 * REE's own answer to the key's hello. Once per run; every other frame passes.
 */
function frameAttack(world: DemoWorld, attack: Attack, emit: Emit): Tamper {
  let done = false;
  let hello: Uint8Array | undefined;
  return (frame, direction) => {
    if (done) return undefined;
    if (attack === 'impersonate-tee-os') {
      const view = peekHandshakeMessage(frame);
      if (view?.stage === 1) hello = frame.slice();
      if (view?.stage !== 2 || !hello) return undefined;
      done = true;
      const forged = forgeTeeOsAnswer(world.provider, hello, view.certificate);
      emit(attackEvent(`answers the trusted key's hello itself: a TEE OS certificate for ${view.certificate.subject}, issued by a '${view.certificate.issuer}' root of its own`, {
        dropped: shortHex(frame), sent: shortHex(forged),
      }));
      return [forged];
    }
    if (direction !== TO_INITIATOR) return undefined;
    done = true;
    const header = peekRecordHeader(frame);
    const what = header ? `record ${header.seq}` : `handshake message ${peekHandshakeMessage(frame)?.stage ?? '?'}`;
    if (attack === 'replay-frame') {
      emit(attackEvent(`sends a ${frame.length}-byte TEE OS -> trusted key frame (${what}) twice`, { frame: shortHex(frame) }));
      return [frame, frame.slice()];
    }
    const bit = frame.length * 8 - 3; // inside a record's authentication tag, or a handshake message's finished MAC
    const altered = flipBit(frame, bit);
    emit(attackEvent(`flipped bit ${bit} of a ${frame.length}-byte TEE OS -> trusted key frame (${what})`, { before: shortHex(frame), after: shortHex(altered) }));
    return [altered];
  };
}

async function runFlow(
  world: DemoWorld, flow: RunRequest['flow'], attack: Attack, input: { amount: number; currency?: string }, emit: Emit, setTamper: (t: Tamper) => void,
): Promise<void> {
  if (FRAME_ATTACKS.has(attack)) setTamper(frameAttack(world, attack, emit));
  if (flow === 'channel') {
    // Power-cycling the key ends its channel; on start it runs the handshake again, through the REE.
    emit({ lane: 'REE', actor: `phone:${world.parties.payer.userId}`, text: 'power-cycles its trusted key: the key and the TEE OS set up a new channel, through the REE' });
    await world.phones.payer.restartTrustedKey();
    flow = 'online';
  }
  if (attack === 'none' || FRAME_ATTACKS.has(attack)) {
    if (flow === 'online') await runOnlinePayment(world, input);
    else await runOfflinePayment(world, input);
    return;
  }
  const { payer, payee } = world.wallets;
  const currency = input.currency ?? DEMO_CURRENCY;
  if (flow === 'online') {
    const { qrText } = payee.requestPayment({ amount: input.amount, currency });
    const signed = await payer.signOnline(qrText);
    if (attack === 'replay-payment') {
      await payer.submitOnline(signed);
      emit(attackEvent('sends the same signed payment to the backend again', { signedPayment: shortHex(signed) }));
      await world.backend.client.submitPayment(signed);
    } else {
      const altered = raiseAmount(signed, 'online-payment');
      emit(attackEvent(`changes the amount in the signed payment from ${altered.from} to ${altered.to} (signature kept)`, { before: shortHex(signed), after: shortHex(altered.bytes) }));
      await world.backend.client.submitPayment(altered.bytes);
    }
    return;
  }
  // offline
  const offer = await payee.offerOffline({ amount: input.amount, currency });
  if (attack === 'alter-amount') {
    const env = decodeQrText(offer.qrText);
    const altered = raiseAmount(env.body, 'offline-offer');
    emit(attackEvent(`changes the amount in the payee's signed offer QR from ${altered.from} to ${altered.to} (signature kept)`, { before: shortHex(env.body), after: shortHex(altered.bytes) }));
    await payer.payOffline(encodeQrText({ ...env, body: altered.bytes }));
    return;
  }
  const paid = await payer.payOffline(offer.qrText);
  await payee.acceptOffline(paid.qrText);
  emit(attackEvent('shows the payee the same signed offline payment QR again', { signedPayment: shortHex(paid.payment) }));
  await payee.acceptOffline(paid.qrText);
}

/** The secrets a leak check should look for: the PIN and every identity private key of both phones. */
async function rememberSecrets(world: DemoWorld, secrets: Set<string>): Promise<void> {
  for (const phone of [world.phones.payer, world.phones.payee]) {
    const hw = await loadOrIssueHardware(join(phone.paths.tee, '..', 'hardware'), world.factory, phone.name, 'p256');
    for (const key of [hw.teeOs.secretKey, hw.device.secretKey, hw.trustedKey.secretKey]) secrets.add(toHex(key));
  }
}
