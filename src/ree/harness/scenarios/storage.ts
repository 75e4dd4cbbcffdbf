/** Attacks on REE-visible storage and on the PIN: bit flips, swapped records, rollbacks, brute force, confirmation bypass. */
import { Level } from 'level';
import { utf8 } from '../../../common/bytes.js';
import { encodePaymentRequest } from '../../../protocol/payment.js';
import type { Adversary, PhoneName, Snapshot } from '../adversary.js';
import { expectRefused, outcome, type Scenario, type ScenarioResult } from '../scenario.js';

/** Take a consistent copy of a store: the phone is switched off while its files are copied. */
export async function snapshotOff(adv: Adversary, name: PhoneName, which: 'teeStore' | 'trustedKeyStore'): Promise<Snapshot> {
  let snap: Snapshot | undefined;
  await adv.restartPhone(name, async () => {
    snap = await adv.snapshot(adv.paths(name)[which]);
  });
  return snap!;
}

/** Restart with `whileOff` applied; report whether the damage was refused (on open or on first use) or harmless. */
async function afterDamage(adv: Adversary, whileOff: () => Promise<void>, what: string): Promise<ScenarioResult> {
  const w0 = await adv.wallet('alice');
  const before = await w0.call('OFFLINE_STATE', {}, await w0.identity('alice'));
  const open = await outcome(() => adv.restartPhone('alice', whileOff));
  if (open.code !== 'no error') return { observed: `${what}: reopen refused ${open.code}`, defended: ['SECURITY', 'CORRUPT_OBJECT'].includes(open.code) };
  let state: typeof before | undefined;
  const use = await outcome(async () => {
    const w = await adv.wallet('alice');
    state = await w.call('OFFLINE_STATE', {}, await w.identity('alice'));
    await w.call('PIN_STATUS', {});
  });
  if (use.code !== 'no error') return { observed: `${what}: reopened, first use refused ${use.code}`, defended: ['SECURITY', 'CORRUPT_OBJECT'].includes(use.code) };
  const same = state !== undefined && state.balance === before.balance && state.counter === before.counter;
  return { observed: `${what}: reopened, state ${same ? 'unchanged (damage hit no live record)' : 'CHANGED undetected'}`, defended: same };
}

/** A payment big enough to need the PIN on a phone made with pinLimit 100. */
async function pinPayment(adv: Adversary, pin: string): Promise<string> {
  adv.user('alice').queue.push({ confirmed: true, pin });
  const w = await adv.wallet('alice');
  const id = await w.identity('alice');
  const { request } = adv.paymentRequest(adv.party('bob'), 1_000);
  return (await outcome(() => w.call('SIGN_ONLINE_PAYMENT', { request: encodePaymentRequest(request) }, id))).code;
}

export const storageScenarios: Scenario[] = [
  {
    name: 'storage-bit-flip',
    attack: 'flip a bit in every LevelDB table and log file of the trusted key and TEE stores while the phone is off',
    expectedDefence: 'SECURITY / CORRUPT_OBJECT on reopen or first use; never altered data',
    run: async (ctx) => {
      const adv = await ctx.fresh();
      let n = 0;
      return afterDamage(adv, async () => {
        n += await adv.flipFileBits(adv.paths('alice').trustedKeyStore);
        n += await adv.flipFileBits(adv.paths('alice').teeStore);
      }, 'bit flips').then((r) => ({ ...r, observed: `${n} files flipped; ${r.observed}` }));
    },
  },
  {
    name: 'storage-swapped-records',
    attack: 'swap the values of two records in the trusted key LevelDB (phone off)',
    expectedDefence: 'object ids are bound into the AEAD data: CORRUPT_OBJECT / SECURITY',
    run: async (ctx) => {
      const adv = await ctx.fresh();
      let swapped = '';
      return afterDamage(adv, async () => {
        const db = new Level<string, Uint8Array>(adv.paths('alice').trustedKeyStore, { valueEncoding: 'view' });
        const entries: [string, Uint8Array][] = [];
        for await (const [k, v] of db.iterator()) entries.push([k, v]);
        // The two largest records are encrypted objects (keys, offline state).
        entries.sort((a, b) => b[1].length - a[1].length);
        const [a, b] = entries as [[string, Uint8Array], [string, Uint8Array]];
        await db.batch([{ type: 'put', key: a[0], value: b[1] }, { type: 'put', key: b[0], value: a[1] }]);
        swapped = `${entries.length} records, swapped 2`;
        await db.close();
      }, 'swapped').then((r) => ({ ...r, observed: `${swapped}; ${r.observed}` }));
    },
  },
  {
    name: 'tee-storage-rollback',
    attack: 'restore an older copy of the TEE OS REE-visible store (a TA object written since is rolled back)',
    expectedDefence: 'the TEE-private monotonic counter exposes the rollback: SECURITY',
    run: async (ctx) => {
      const adv = await ctx.fresh();
      const w = await adv.wallet('alice');
      await w.call('GENERATE_KEY', { algorithm: 'p256', usage: 'sign', label: 'before' });
      const snap = await snapshotOff(adv, 'alice', 'teeStore');
      const w2 = await adv.wallet('alice');
      await w2.call('GENERATE_KEY', { algorithm: 'p256', usage: 'sign', label: 'after' });
      const open = await outcome(() => adv.restartPhone('alice', () => snap.restore()));
      if (open.code !== 'no error') return { observed: `reopen after rollback: ${open.code}`, defended: open.code === 'SECURITY' };
      const w3 = await adv.wallet('alice');
      const o = await outcome(() => w3.call('OPEN_KEY', { label: 'after' }));
      return { observed: `reopened; OPEN_KEY of the rolled-back label: ${o.code}`, defended: o.code === 'SECURITY' || o.code === 'CORRUPT_OBJECT' };
    },
  },
  {
    name: 'pin-counter-rollback',
    attack: 'spend PIN tries, then restore the trusted key store from before to reset the try counter',
    expectedDefence: 'the key\'s private counter exposes the rollback: SECURITY, not fresh tries',
    run: async (ctx) => {
      const adv = await ctx.fresh({ pinLimit: 100 });
      const snap = await snapshotOff(adv, 'alice', 'trustedKeyStore');
      const wrong = [await pinPayment(adv, '00000000'), await pinPayment(adv, '00000000')];
      const open = await outcome(() => adv.restartPhone('alice', () => snap.restore()));
      if (open.code !== 'no error') return { observed: `wrong PIN x2 (${wrong.join(',')}); reopen after rollback: ${open.code}`, defended: open.code === 'SECURITY' };
      const w = await adv.wallet('alice');
      const st = await w.call('PIN_STATUS', {});
      return { observed: `reopened; tries left ${st.triesLeft}/${st.maxTries}`, defended: st.triesLeft <= st.maxTries - 2 };
    },
  },
  {
    name: 'pin-brute-force',
    attack: 'try 20 wrong PINs on a payment that needs the PIN, then the right one',
    expectedDefence: 'the key blocks after its try limit (PIN_BLOCKED) and stays blocked for the right PIN',
    run: async (ctx) => {
      const adv = await ctx.fresh({ pinLimit: 100 });
      const codes: string[] = [];
      for (let i = 0; i < 20; i++) codes.push(await pinPayment(adv, String(10_000_000 + i)));
      const right = await pinPayment(adv, adv.user('alice').pin);
      const firstBlock = codes.indexOf('PIN_BLOCKED');
      return {
        observed: `wrong PINs: ${[...new Set(codes)].join('/')}; blocked after ${firstBlock} tries; right PIN then: ${right}`,
        defended: firstBlock > 0 && firstBlock <= 10 && right === 'PIN_BLOCKED' && !codes.includes('no error'),
      };
    },
  },
  {
    name: 'confirmation-bypass',
    attack: 'raw SIGN of a chosen message with the payment identity key (skipping the trusted UI)',
    expectedDefence: 'ACCESS_DENIED: the identity key signs only confirmed payment statements',
    run: async (ctx) => {
      const adv = await ctx.adv();
      const w = await adv.wallet('alice');
      const id = await w.identity('alice');
      const prompts = adv.user('alice').prompts.length;
      const r = await expectRefused(() => w.call('SIGN', { message: utf8('pay mallory 1000000') }, id), ['ACCESS_DENIED'], 'raw SIGN');
      return { ...r, defended: r.defended && adv.user('alice').prompts.length === prompts };
    },
  },
  {
    name: 'display-mismatch',
    attack: 'ask the key to sign a request while supplying a display text that says something else',
    expectedDefence: 'the key builds its own display text and refuses a caller text that differs',
    run: async (ctx) => {
      const adv = await ctx.adv();
      const w = await adv.wallet('alice');
      const id = await w.identity('alice');
      const { request } = adv.paymentRequest(adv.party('bob'), 9_999);
      return expectRefused(() => w.call('SIGN_ONLINE_PAYMENT', { request: encodePaymentRequest(request), display: 'Pay 0.01 CNY to bob@retail' }, id), ['BAD_PARAMETERS', 'SECURITY', 'ACCESS_DENIED'], 'mismatched display');
    },
  },
  {
    name: 'user-rejects',
    attack: 'the REE submits a payment the user declines on the trusted UI',
    expectedDefence: 'CANCEL and no signature',
    run: async (ctx) => {
      const adv = await ctx.adv();
      const w = await adv.wallet('alice');
      const id = await w.identity('alice');
      adv.user('alice').queue.push({ confirmed: false });
      const { request } = adv.paymentRequest(adv.party('bob'), 50);
      return expectRefused(() => w.call('SIGN_ONLINE_PAYMENT', { request: encodePaymentRequest(request) }, id), ['CANCEL'], 'declined');
    },
  },
];
