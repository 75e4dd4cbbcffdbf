/**
 * Tearing: the REE cuts the trusted key's power (its thread stops at once, `crashTrustedKey`) in
 * the middle of an operation, as an attacker pulls a smart card out of its reader mid-write. The
 * phones of these scenarios run the key on its own thread. Cut points: the key's first store write
 * (the REE sees its LevelDB files change), the moment its answer leaves (the REE drops that frame,
 * or passes it on and cuts at once, the classic attack on a try counter written after the answer),
 * and times spread over the operation.
 *
 * Limit: a cut lands when the key's thread next checks for termination, tens of microseconds after
 * the REE decides, and a LevelDB write already handed to libuv's threads still completes. A key
 * that wrote its try counter within that window after answering would not be caught here; one that
 * counts a try later than that (or never, when the power goes) would. A cut can land inside a
 * native call; the key's store writes chained batches, which such a cut cannot tear (see
 * writeBatch in src/storage/engine.ts).
 */
import { watch } from 'node:fs';
import { TO_RESPONDER } from '../../../channel/index.js';
import { encodePaymentRequest } from '../../../protocol/payment.js';
import type { Adversary, HostileWallet, PhoneName } from '../adversary.js';
import { outcome, sleep, type Scenario } from '../scenario.js';
import { offerFromBob } from './payments.js';

/** Where to cut: arm() starts watching and returns how to stop; cut() stops the key once. */
type CutPoint = { label: string; arm: (cut: () => void) => () => void };

/** Cut at the key's first store write. */
function atStoreWrite(adv: Adversary, name: PhoneName): CutPoint {
  return {
    label: 'first store write',
    arm: (cut) => {
      const watcher = watch(adv.paths(name).trustedKeyStore, cut);
      return () => watcher.close();
    },
  };
}

/**
 * Cut as the key's `n`-th frame of the operation (its answer) leaves: the REE drops that frame, or
 * (`deliver`) passes it on, having seen the result, and cuts at once, before the key can write more.
 */
function atAnswer(adv: Adversary, name: PhoneName, n: number, deliver = false): CutPoint {
  return {
    label: deliver ? 'answer seen' : 'answer leaving',
    arm: (cut) => {
      let seen = 0;
      adv.link(name).setHook((_f, direction) => {
        if (direction !== TO_RESPONDER || ++seen !== n) return 'pass';
        cut();
        return deliver ? 'pass' : 'drop';
      });
      return () => adv.link(name).setHook(undefined);
    },
  };
}

/** Cut `fraction` of the way through an operation that takes `durationMs` untorn. */
function atTime(fraction: number, durationMs: number): CutPoint {
  return {
    label: `${fraction} of the way`,
    arm: (cut) => {
      const timer = setTimeout(cut, durationMs * fraction);
      return () => clearTimeout(timer);
    },
  };
}

/** Run `op` with the power cut at `point`; then wait until the key is back (powered up by hand if the phone gave up). */
async function torn<T>(adv: Adversary, name: PhoneName, w: HostileWallet, point: CutPoint, op: () => Promise<T>): Promise<{ code: string; value?: T }> {
  const phone = adv.phone(name);
  let crashed: Promise<void> | undefined;
  const disarm = point.arm(() => void (crashed ??= phone.crashTrustedKey()));
  const o = await outcome(op);
  disarm();
  await crashed;
  while (phone.trustedKeyState === 'restarting') await sleep(5);
  // Past MAX_KEY_RESTARTS cuts a minute the phone leaves the key off.
  if (phone.trustedKeyState === 'stopped') await phone.restartTrustedKey();
  for (let i = 0; i < 400 && !((await w.call('GET_INFO', {})).trustedKey as { connected: boolean }).connected; i++) await sleep(5);
  return o;
}

/** How long `op` takes untorn, and how many frames the key sends meanwhile (the last is its answer). */
async function profile(adv: Adversary, name: PhoneName, op: () => Promise<unknown>): Promise<{ durationMs: number; keyFrames: number }> {
  const log = adv.link(name).frameLog;
  const mark = log.recorded;
  const started = performance.now();
  await op();
  return { durationMs: performance.now() - started, keyFrames: log.since(mark).filter((e) => e.direction === TO_RESPONDER).length };
}

export const tearingScenarios: Scenario[] = [
  {
    name: 'offline-payment-tearing',
    attack: 'cut the payer key\'s power during offline payments: at its first store write, which the REE sees on disk, as its answer leaves, and at points spread over a payment',
    expectedDefence: 'every payment is all or nothing: a debit always comes with its signed payment, which the wallet recovers from OFFLINE_STATE and the payee accepts; the key restarts with its state intact',
    run: async (ctx) => {
      const adv = await ctx.fresh({ trustedKeyThread: 'worker' });
      // One session throughout (it outlives key restarts); identity handles die with the key.
      const w = await adv.wallet('alice');
      const state = async () => w.call('OFFLINE_STATE', {}, await w.identity('alice'));
      const pay = async (offer: Uint8Array) => w.call('PAY_OFFLINE', { offer }, await w.identity('alice'));
      const offer0 = await offerFromBob(adv, 100);
      const { durationMs, keyFrames } = await profile(adv, 'alice', () => pay(offer0));
      const points = [atStoreWrite(adv, 'alice'), atAnswer(adv, 'alice', keyFrames), atAnswer(adv, 'alice', keyFrames, true), ...[0.3, 0.6, 0.9, 1.1].map((f) => atTime(f, durationMs))];
      const broken: string[] = [];
      const lost: Uint8Array[] = [];
      let answered = 0;
      for (const point of points) {
        const offer = await offerFromBob(adv, 100);
        const before = await state();
        const o = await torn(adv, 'alice', w, point, () => pay(offer));
        const after = await state();
        const step = after.counter - before.counter;
        const debit = before.balance - after.balance;
        if (!(step === 0 || step === 1) || debit !== 100 * step || after.spent.length !== after.counter) {
          broken.push(`${point.label}: step ${step}, debit ${debit}, ${after.spent.length} payments for counter ${after.counter}`);
        }
        if (o.code === 'no error') answered++;
        else if (step === 1) lost.push(after.spent[after.spent.length - 1]!);
      }
      // Payments whose answer was lost, recovered from the key, are accepted by the payee.
      const bob = await adv.wallet('bob');
      const bobId = await bob.identity('bob');
      let accepted = 0;
      for (const payment of lost) if ((await outcome(() => bob.call('ACCEPT_OFFLINE_PAYMENT', { payment }, bobId))).code === 'no error') accepted++;
      return {
        observed: `${points.length} cuts: ${answered} answered, ${lost.length} debited with the answer lost (${accepted} recovered and accepted), ${points.length - answered - lost.length} left no trace; ${broken.length ? `inconsistent: ${broken.join('; ')}` : 'every one all or nothing'}`,
        defended: broken.length === 0 && accepted === lost.length && lost.length > 0,
      };
    },
  },
  {
    name: 'pin-tearing',
    attack: 'guess PINs and cut the key\'s power as each guess is checked (at its store write, as its answer leaves, at points spread over the check), to learn results without the tries being counted',
    expectedDefence: 'a result reaches the REE only once its try is counted: every wrong answer seen has taken a try, no cut gives a try back, and the key blocks at its limit',
    run: async (ctx) => {
      const adv = await ctx.fresh({ pinLimit: 100, trustedKeyThread: 'worker' });
      const w = await adv.wallet('alice');
      const triesLeft = async () => (await w.call('PIN_STATUS', {})).triesLeft;
      // A cut before the key asked leaves the answer queued: each step starts from an empty queue.
      const answers = (...pins: string[]) => {
        const user = adv.user('alice');
        user.queue.length = 0;
        for (const pin of pins) user.queue.push({ confirmed: true, pin });
      };
      const guess = async (pin: string) => {
        answers(pin);
        const { request } = adv.paymentRequest(adv.party('bob'), 1_000);
        return w.call('SIGN_ONLINE_PAYMENT', { request: encodePaymentRequest(request) }, await w.identity('alice'));
      };
      // The PUK the user was shown at provisioning, to unblock between runs of guesses.
      const puk = [...adv.phone('alice').trustedUi.log].reverse().map((e) => (e.kind === 'message' ? /PUK is ([0-9]+)/.exec(e.text)?.[1] : undefined)).find(Boolean);
      const { durationMs, keyFrames } = await profile(adv, 'alice', () => outcome(() => guess('10000000')));
      const points = [atStoreWrite(adv, 'alice'), atAnswer(adv, 'alice', keyFrames), atAnswer(adv, 'alice', keyFrames, true), ...[0.5, 0.8, 0.95, 1.05].map((f) => atTime(f, durationMs))];
      const broken: string[] = [];
      let wrongSeen = 0;
      let triesTaken = 0;
      let blocks = 0;
      let round = 0;
      // Every cut point twice; when the PIN blocks, the right PIN must be refused, then the user
      // unblocks with the PUK (setting the same PIN again) and the guessing goes on.
      while (round < 2 * points.length) {
        const point = points[round % points.length]!;
        const before = await triesLeft();
        const o = await torn(adv, 'alice', w, point, () => guess(String(10_000_001 + round)));
        const after = await triesLeft();
        round++;
        triesTaken += before - after;
        const answeredWrong = o.code === 'ACCESS_DENIED' || o.code === 'PIN_BLOCKED';
        if (answeredWrong) wrongSeen++;
        if (after > before || before - after > 1 || (answeredWrong && after !== before - 1)) broken.push(`${point.label}: ${o.code}, tries ${before} -> ${after}`);
        if (after > 0) continue;
        blocks++;
        const right = await outcome(() => guess(adv.user('alice').pin));
        if (right.code !== 'PIN_BLOCKED') broken.push(`blocked, yet the right PIN gave ${right.code}`);
        if (!puk) break;
        const pin = adv.user('alice').pin;
        answers(puk, pin, pin);
        await w.call('UNBLOCK_PIN', {});
      }
      return {
        observed: `${round} torn guesses: ${wrongSeen} wrong answers seen, ${triesTaken} tries taken, ${blocks} blocks (the right PIN refused each time); ${broken.length ? `inconsistent: ${broken.join('; ')}` : 'every answer counted'}`,
        defended: broken.length === 0 && wrongSeen <= triesTaken && blocks > 0,
      };
    },
  },
];
