/** Attacks on payments: QR forgery and alteration, expiry, online replay and races, offline double spend, CPK. */
import { decodePaymentRequest, decodeSigned, encodePaymentRequest, encodeSigned, signingBytes, type OfflineOffer, type OnlinePayment } from '../../../protocol/payment.js';
import { demonstrateCollusion, encodePublicMatrix, mapPublicKey } from '../../../cpk/index.js';
import { b64, type Adversary } from '../adversary.js';
import { outcome, type Scenario } from '../scenario.js';
import { snapshotOff } from './storage.js';

/** Alice signs an online payment to bob (the user confirms); returns the signed bytes. */
export async function signOnline(adv: Adversary, amount: number): Promise<Uint8Array> {
  const w = await adv.wallet('alice');
  const id = await w.identity('alice');
  const { qr } = adv.paymentRequest(adv.party('bob'), amount);
  const request = adv.readQr(qr).body;
  return (await w.call('SIGN_ONLINE_PAYMENT', { request }, id)).signed;
}

/** Bob signs an offline offer; returns it signed. */
export async function offerFromBob(adv: Adversary, amount: number, txId = `tx-${Date.now()}-${Math.floor(performance.now() * 1000)}`): Promise<Uint8Array> {
  const w = await adv.wallet('bob');
  return (await w.call('SIGN_OFFLINE_OFFER', { txId, amount, currency: 'CNY', expiresAt: Date.now() + 600_000 }, await w.identity('bob'))).signed;
}

/** Offers the flood scenario asks for at most: far above any sensible bound on pending offers. */
const FLOOD_ATTEMPTS = 2048;

async function balance(adv: Adversary, user: string): Promise<number> {
  const r = await adv.http('GET', `/v1/accounts/retail/${user}`);
  return (r.json.balances as Record<string, number>).CNY ?? NaN;
}

export const paymentScenarios: Scenario[] = [
  {
    name: 'forged-payee-qr',
    attack: 'replace the payee in the online QR with mallory; forge an offline offer for bob signed by a non-CPK key',
    expectedDefence: 'the trusted UI shows the real payee (the user declines: CANCEL); the forged offer fails CPK verification: SECURITY',
    run: async (ctx) => {
      const adv = await ctx.adv();
      const w = await adv.wallet('alice');
      const id = await w.identity('alice');
      const { qr } = adv.paymentRequest(adv.party('bob'), 300);
      // The REE rewrites the unsigned QR the payee showed.
      const forged = adv.alterQr(qr, (e) => ({ ...e, body: encodePaymentRequest({ ...decodePaymentRequest(e.body), payee: { subdomainId: 'retail', userId: 'mallory' } }) }));
      const request = adv.readQr(forged).body;
      const user = adv.user('alice');
      // The user checks the payee on the trusted screen (which the REE cannot draw).
      user.queue.push({ confirmed: false });
      const online = await outcome(() => w.call('SIGN_ONLINE_PAYMENT', { request }, id));
      const screenShowsMallory = /mallory/.test(user.lastScreen);
      const real = decodeSigned(await offerFromBob(adv, 300), 'offline-offer');
      const rogue = adv.provider.generateKeyPair('p256');
      const fake = encodeSigned<OfflineOffer>({ statement: real.statement, signature: adv.provider.sign('p256', rogue.secretKey, signingBytes(real.statement)) });
      const offline = await outcome(() => w.call('PAY_OFFLINE', { offer: fake }, id));
      return {
        observed: `online: screen shows mallory ${screenShowsMallory}, user declined -> ${online.code}; forged offer -> ${offline.code}`,
        defended: screenShowsMallory && online.code === 'CANCEL' && offline.code === 'SECURITY',
      };
    },
  },
  {
    name: 'altered-amount',
    attack: 'lower the amount in bob\'s signed offer; raise the amount of alice\'s signed online payment before submitting',
    expectedDefence: 'signatures cover the amount: the key refuses the offer (SECURITY), the backend the payment (4xx)',
    run: async (ctx) => {
      const adv = await ctx.adv();
      const w = await adv.wallet('alice');
      const id = await w.identity('alice');
      const offer = decodeSigned(await offerFromBob(adv, 4_000), 'offline-offer');
      const cheap = encodeSigned<OfflineOffer>({ ...offer, statement: { ...offer.statement, amount: 1 } });
      const offline = await outcome(() => w.call('PAY_OFFLINE', { offer: cheap }, id));
      const signed = decodeSigned(await signOnline(adv, 200), 'online-payment');
      const more = encodeSigned<OnlinePayment>({ ...signed, statement: { ...signed.statement, amount: 200_000 } });
      const r = await adv.http('POST', '/v1/payments', { payment: b64(more) });
      return { observed: `altered offer -> ${offline.code}; altered online payment -> HTTP ${r.status} ${String((r.json.error as { code?: string } | undefined)?.code)}`, defended: offline.code === 'SECURITY' && r.status >= 400 && r.status < 500 };
    },
  },
  {
    name: 'expired-qr',
    attack: 'present an expired QR code, and an online request whose expiry has passed',
    expectedDefence: 'the QR decoder refuses it (EXPIRED) and so does the trusted key',
    run: async (ctx) => {
      const adv = await ctx.adv();
      const w = await adv.wallet('alice');
      const id = await w.identity('alice');
      const past = Date.now() - 1_000;
      const { request, qr } = adv.paymentRequest(adv.party('bob'), 100, { expiresAt: past });
      const q = await outcome(async () => adv.readQr(qr));
      const k = await outcome(() => w.call('SIGN_ONLINE_PAYMENT', { request: encodePaymentRequest(request) }, id));
      return { observed: `QR decode ${q.code}; trusted key ${k.code}`, defended: q.code === 'EXPIRED' && k.code === 'EXPIRED' };
    },
  },
  {
    name: 'online-replay',
    attack: 'replay a settled online payment HTTP request (also after a backend restart)',
    expectedDefence: 'nonce and order id are remembered in the ledger: 409/4xx, the payer is debited once',
    run: async (ctx) => {
      const adv = await ctx.adv();
      const before = await balance(adv, 'alice');
      const first = await adv.http('POST', '/v1/payments', { payment: b64(await signOnline(adv, 700)) });
      const replay = await adv.replayHttp(first);
      await adv.restartBackend();
      const replay2 = await adv.replayHttp(first);
      const after = await balance(adv, 'alice');
      return {
        observed: `first ${first.status}, replay ${replay.status}, replay after restart ${replay2.status}; debited ${before - after}`,
        defended: first.status === 200 && replay.status >= 400 && replay2.status >= 400 && before - after === 700,
      };
    },
  },
  {
    name: 'concurrent-double-settlement',
    attack: 'submit one signed payment 12 times concurrently',
    expectedDefence: 'the ledger serialises settlement: exactly one succeeds, the payer is debited once',
    run: async (ctx) => {
      const adv = await ctx.adv();
      const before = await balance(adv, 'alice');
      const payment = b64(await signOnline(adv, 300));
      const rs = await Promise.all(Array.from({ length: 12 }, () => adv.http('POST', '/v1/payments', { payment })));
      const ok = rs.filter((r) => r.status === 200).length;
      const after = await balance(adv, 'alice');
      return { observed: `${ok} of 12 settled; debited ${before - after}`, defended: ok === 1 && before - after === 300 };
    },
  },
  {
    name: 'offline-double-spend',
    attack: 'present one offline payment (same payer counter) twice to the payee key, and reconcile it twice at the backend',
    expectedDefence: 'the payee key refuses the repeat; the backend settles once (already-reconciled), a different tx reusing the counter is flagged duplicate',
    run: async (ctx) => {
      const adv = await ctx.adv();
      const alice = await adv.wallet('alice');
      const bob = await adv.wallet('bob');
      const aliceId = await alice.identity('alice');
      const bobId = await bob.identity('bob');
      const offer = await offerFromBob(adv, 250);
      const { signed: payment } = await alice.call('PAY_OFFLINE', { offer }, aliceId);
      await bob.call('ACCEPT_OFFLINE_PAYMENT', { payment }, bobId);
      const again = await outcome(() => bob.call('ACCEPT_OFFLINE_PAYMENT', { payment }, bobId));
      const before = await balance(adv, 'alice');
      const r1 = await adv.http('POST', '/v1/offline/reconcile', { offer: b64(offer), payment: b64(payment) });
      const r2 = await adv.replayHttp(r1);
      const after = await balance(adv, 'alice');
      return {
        observed: `payee repeat -> ${again.code}; reconcile ${String(r1.json.status)}, again ${String(r2.json.status)}; debited ${before - after}`,
        defended: again.code !== 'no error' && r1.json.status === 'settled' && r2.json.status !== 'settled' && before - after === 250,
      };
    },
  },
  {
    name: 'offline-offer-flood',
    attack: 'ask the payee key for offline offers without end, to fill its storage with pending offers',
    expectedDefence: 'the key keeps a bounded number of pending offers and refuses more (OUT_OF_MEMORY); its offers still work',
    run: async (ctx) => {
      const adv = await ctx.fresh();
      const bob = await adv.wallet('bob');
      const bobId = await bob.identity('bob');
      // One session for the whole flood (a session per offer would hit the TEE's session limit first).
      const ask = async (txId: string) => (await bob.call('SIGN_OFFLINE_OFFER', { txId, amount: 100, currency: 'CNY', expiresAt: Date.now() + 600_000 }, bobId)).signed;
      const first = await ask('flood-0');
      let made = 1;
      const refusal = await outcome(async () => {
        for (; made < FLOOD_ATTEMPTS; made++) await ask(`flood-${made}`);
      });
      const pending = (await bob.call('OFFLINE_STATE', {}, bobId)).pendingOffers;
      // The first offer is still good: paying it works, and frees a place.
      const alice = await adv.wallet('alice');
      const { signed: payment } = await alice.call('PAY_OFFLINE', { offer: first }, await alice.identity('alice'));
      const accepted = await outcome(() => bob.call('ACCEPT_OFFLINE_PAYMENT', { payment }, bobId));
      const after = await outcome(() => ask('after-payment'));
      return {
        observed: `${made} offers made, then ${refusal.code}; ${pending} pending; paying the first -> ${accepted.code}; one more offer -> ${after.code}`,
        defended: refusal.code === 'OUT_OF_MEMORY' && made < FLOOD_ATTEMPTS && pending === made && accepted.code === 'no error' && after.code === 'no error',
      };
    },
  },
  {
    name: 'offline-restored-balance',
    attack: 'pay offline, then restore the payer key\'s store from before the payment to get the balance back',
    expectedDefence: 'the trusted key\'s private counter exposes the rollback: SECURITY, no second spend',
    run: async (ctx) => {
      const adv = await ctx.fresh();
      const snap = await snapshotOff(adv, 'alice', 'trustedKeyStore');
      const alice = await adv.wallet('alice');
      await alice.call('PAY_OFFLINE', { offer: await offerFromBob(adv, 5_000) }, await alice.identity('alice'));
      const open = await outcome(() => adv.restartPhone('alice', () => snap.restore()));
      if (open.code !== 'no error') return { observed: `reopen with the old store: ${open.code}`, defended: open.code === 'SECURITY' };
      const w = await adv.wallet('alice');
      const st = await w.call('OFFLINE_STATE', {}, await w.identity('alice'));
      return { observed: `reopened; balance ${st.balance}`, defended: st.balance <= 45_000 };
    },
  },
  {
    name: 'cpk-wrong-subdomain',
    attack: 'claim alice\'s signed payment comes from alice in another subdomain',
    expectedDefence: 'the other subdomain maps alice to a different key: the signature fails (backend 4xx SECURITY)',
    run: async (ctx) => {
      const adv = await ctx.adv();
      const other = await adv.kmc.createSubdomain(`wholesale${Date.now() % 100000}`, { rows: 8, cols: 8 });
      await adv.http('POST', '/v1/subdomains', { matrix: b64(encodePublicMatrix(other)) });
      const signed = decodeSigned(await signOnline(adv, 100), 'online-payment');
      const moved = { ...signed.statement, payer: { subdomainId: other.subdomainId, userId: 'alice' } };
      const verifies = adv.provider.verify('p256', mapPublicKey(adv.provider, other, other.subdomainId, 'alice'), signingBytes(moved), signed.signature);
      const r = await adv.http('POST', '/v1/payments', { payment: b64(encodeSigned<OnlinePayment>({ ...signed, statement: moved })) });
      return { observed: `signature under the other subdomain's key: ${verifies}; backend HTTP ${r.status}`, defended: !verifies && r.status >= 400 && r.status < 500 };
    },
  },
  {
    name: 'cpk-collusion-plain',
    attack: 'colluders pool rows*cols-cols+1 plain CPK keys of a 4x4 subdomain and forge a victim\'s key',
    expectedDefence: 'KNOWN LIMIT of plain CPK (linear): the forgery succeeds; use hardened mode',
    run: async (ctx) => {
      const adv = await ctx.adv();
      const id = `collude-p${Date.now() % 100000}`;
      await adv.kmc.createSubdomain(id, { rows: 4, cols: 4 });
      const r = await demonstrateCollusion(adv.provider, adv.kmc, id);
      return { observed: `${r.keysUsed} keys, recovered ${r.recovered}, forged victim key matches ${r.forgedMatchesVictim}`, defended: r.forgedMatchesVictim, knownLimit: true };
    },
  },
  {
    name: 'cpk-collusion-hardened',
    attack: 'the same collusion against a hardened 4x4 subdomain (per-user separating keys)',
    expectedDefence: 'the forged key does not match the victim\'s',
    run: async (ctx) => {
      const adv = await ctx.adv();
      const id = `collude-h${Date.now() % 100000}`;
      await adv.kmc.createSubdomain(id, { rows: 4, cols: 4, mode: 'hardened' });
      const r = await demonstrateCollusion(adv.provider, adv.kmc, id);
      return { observed: `${r.keysUsed} keys, forged victim key matches ${r.forgedMatchesVictim}`, defended: !r.forgedMatchesVictim };
    },
  },
  {
    name: 'backend-malformed-signature',
    attack: 'submit a payment whose signature bytes are flipped',
    expectedDefence: '4xx SECURITY, no settlement',
    run: async (ctx) => {
      const adv = await ctx.adv();
      const signed = decodeSigned(await signOnline(adv, 100), 'online-payment');
      const sig = new Uint8Array(signed.signature);
      sig[5] ^= 0x40;
      const r = await adv.http('POST', '/v1/payments', { payment: b64(encodeSigned<OnlinePayment>({ ...signed, signature: sig })) });
      return { observed: `HTTP ${r.status} ${r.responseBody.slice(0, 80)}`, defended: r.status >= 400 && r.status < 500 };
    },
  },
];
