/** Attacks on the REE-carried TEE OS <-> trusted key link: tamper, replay, reorder, truncate, bad handshakes. */
import { acceptChannel, connectChannel, createChannelIdentity, createInterceptedPair, createRoot, flipBit, truncate, TO_INITIATOR, TO_RESPONDER, type ChannelIdentity, type Direction } from '../../../channel/index.js';
import type { Adversary, PhoneName } from '../adversary.js';
import { outcome, sleep, type Scenario, type ScenarioResult } from '../scenario.js';
import { offerFromBob } from './payments.js';

/** Apply `change` to the next frame the endpoints send in `direction` on the phone's link, once. */
export function tamperNext(adv: Adversary, name: PhoneName, direction: Direction, change: (f: Uint8Array) => Uint8Array | Uint8Array[]): void {
  let done = false;
  adv.link(name).setHook((frame, dir) => {
    if (done || dir !== direction) return 'pass';
    done = true;
    return { replace: change(frame) };
  });
}

/** Wait until the trusted key has re-established its channel after a reset. */
export async function linkRecovered(adv: Adversary, name: PhoneName): Promise<boolean> {
  adv.link(name).setHook(undefined);
  try {
    await adv.phone(name).trustedKey.whenConnected(5_000);
    const w = await adv.wallet(name);
    await w.call('PIN_STATUS', {});
    await w.close(); // contexts are a bounded TEE resource
    return true;
  } catch {
    return false;
  }
}

async function tamperedCall(adv: Adversary, change: (f: Uint8Array) => Uint8Array, what: string): Promise<ScenarioResult> {
  const w = await adv.wallet('alice');
  const id = await w.identity('alice');
  const connectionsBefore = adv.link('alice').connections;
  tamperNext(adv, 'alice', TO_INITIATOR, change);
  const o = await outcome(() => w.call('GET_PUBLIC_KEY', {}, id));
  const recovered = await linkRecovered(adv, 'alice');
  const reset = adv.link('alice').connections > connectionsBefore;
  return { observed: `${what}: call ${o.code}, channel reset ${reset}, reconnected ${recovered}`, defended: o.code !== 'no error' && reset && recovered };
}

/** The start of an offline payment a scenario attacks: Alice's wallet, her offline state, a fresh 100-unit offer from Bob. */
async function offlinePaymentSetUp(adv: Adversary, txPrefix: string) {
  const alice = await adv.wallet('alice');
  const aliceId = await alice.identity('alice');
  const before = await alice.call('OFFLINE_STATE', {}, aliceId);
  const offer = await offerFromBob(adv, 100, `${txPrefix}-${Date.now()}`);
  return { alice, aliceId, before, offer };
}

/** How far Alice's offline balance and counter moved since `before`, read through a new wallet. */
async function offlineMoved(adv: Adversary, before: { balance: number; counter: number }): Promise<{ debited: number; counted: number }> {
  const w = await adv.wallet('alice');
  const after = await w.call('OFFLINE_STATE', {}, await w.identity('alice'));
  return { debited: before.balance - after.balance, counted: after.counter - before.counter };
}

/** The factory's real identities, for handshakes outside a phone. */
function realIdentities(adv: Adversary): { teeOs: ChannelIdentity; trustedKey: ChannelIdentity } {
  const teeOs = adv.factory.issueTeeOsIdentity('tee-os-test');
  const tk = adv.factory.issueTrustedKeyIdentity('tk-test');
  return { teeOs, trustedKey: { role: 'trusted-key', ...tk, trustedRoots: [adv.factory.vendorRoot], expectedPeerRole: 'tee-os' } };
}

async function handshake(adv: Adversary, initiator: ChannelIdentity, responder: ChannelIdentity, hook?: (f: Uint8Array, d: Direction, i: number) => 'pass' | { replace: Uint8Array }): Promise<string> {
  const wire = createInterceptedPair(hook ? { hook } : {});
  const opts = { provider: adv.provider, handshakeTimeoutMs: 2_000 };
  const [a, b] = await Promise.allSettled([connectChannel(wire.initiator, initiator, opts), acceptChannel(wire.responder, responder, opts)]);
  for (const r of [a, b]) if (r.status === 'fulfilled') r.value.close();
  const code = (r: PromiseSettledResult<unknown>) => (r.status === 'fulfilled' ? 'established' : ((r.reason as { code?: string }).code ?? 'error'));
  return `initiator ${code(a)}, responder ${code(b)}`;
}

export const channelScenarios: Scenario[] = [
  {
    name: 'channel-tamper',
    attack: 'flip one bit of a TEE OS -> trusted key record on the phone link',
    expectedDefence: 'AEAD rejects the record, the channel closes, the call fails, the key reconnects',
    run: async (ctx) => tamperedCall(await ctx.adv(), (f) => flipBit(f, f.length * 4), 'bit flip'),
  },
  {
    name: 'channel-truncation',
    attack: 'cut a record in half on the phone link',
    expectedDefence: 'the truncated record is rejected, the channel closes, the call fails',
    run: async (ctx) => tamperedCall(await ctx.adv(), (f) => truncate(f, Math.floor(f.length / 2)), 'truncated record'),
  },
  {
    name: 'channel-replay',
    attack: 'record the frames of an offline payment (tk.payOffline) and replay them into the trusted key',
    expectedDefence: 'sequence numbers reject the replay; the balance is debited once',
    run: async (ctx) => {
      const adv = await ctx.adv();
      const { alice, aliceId, before, offer } = await offlinePaymentSetUp(adv, 'replay');
      const link = adv.link('alice');
      const mark = link.frameLog.recorded;
      await alice.call('PAY_OFFLINE', { offer }, aliceId);
      const requests = link.frameLog.since(mark).filter((e) => e.direction === TO_INITIATOR && e.index >= 0).map((e) => e.frame);
      const connectionsBefore = link.connections;
      for (const f of requests) link.current?.inject(TO_INITIATOR, f);
      await sleep(50);
      const recovered = await linkRecovered(adv, 'alice');
      const { debited, counted } = await offlineMoved(adv, before);
      return {
        observed: `replayed ${requests.length} frames; channel reset ${link.connections > connectionsBefore}; debited ${debited} (expected 100), counter +${counted}`,
        defended: debited === 100 && counted === 1 && recovered,
      };
    },
  },
  {
    name: 'channel-replay-mid-payment',
    attack: 'send the record carrying an offline payment request (tk.payOffline) twice in a row, so the key reads the request and then loses its channel',
    expectedDefence: 'the copy is refused (out of sequence) and the call fails; the request read before it dies with its channel: no confirmation over the next channel, nothing debited',
    run: async (ctx) => {
      const adv = await ctx.adv();
      const { alice, aliceId, before, offer } = await offlinePaymentSetUp(adv, 'replay-mid');
      const link = adv.link('alice');
      const connectionsBefore = link.connections;
      tamperNext(adv, 'alice', TO_INITIATOR, (frame) => [frame, frame.slice()]);
      const o = await outcome(() => alice.call('PAY_OFFLINE', { offer }, aliceId));
      const recovered = await linkRecovered(adv, 'alice');
      await sleep(200); // the request read before the copy has run its course by now
      const { debited, counted } = await offlineMoved(adv, before);
      return {
        observed: `call ${o.code}; channel reset ${link.connections > connectionsBefore}; reconnected ${recovered}; debited ${debited}, counter +${counted}`,
        defended: o.code !== 'no error' && recovered && debited === 0 && counted === 0,
      };
    },
  },
  {
    name: 'channel-reorder',
    attack: 'hold two TEE OS -> trusted key records of concurrent calls and deliver them in reverse order',
    expectedDefence: 'the out-of-order record is rejected and the channel closes (no call is answered out of order)',
    run: async (ctx) => {
      const adv = await ctx.adv();
      const w = await adv.wallet('alice');
      const id = await w.identity('alice');
      const link = adv.link('alice');
      const connectionsBefore = link.connections;
      let held = 0;
      link.setHook((_f, dir) => (dir === TO_INITIATOR && held < 2 ? (held++, 'hold') : 'pass'));
      const calls = Promise.allSettled([w.call('GET_PUBLIC_KEY', {}, id), w.call('PIN_STATUS', {})]);
      const pair = link.current!;
      while (pair.held.length < 2) await sleep(2);
      const first = pair.held[0]!;
      const second = pair.held[1]!;
      pair.release((h) => h.index === second.index);
      pair.release((h) => h.index === first.index);
      const results = await calls;
      const recovered = await linkRecovered(adv, 'alice');
      const reset = link.connections > connectionsBefore;
      return { observed: `calls: ${results.map((r) => r.status).join('/')}; channel reset ${reset}; reconnected ${recovered}`, defended: reset && recovered };
    },
  },
  {
    name: 'handshake-downgrade',
    attack: 'rewrite the initiator hello in flight (suite list / key share), the way a downgrade would',
    expectedDefence: 'the transcript hash no longer matches: both ends abort the handshake',
    run: async (ctx) => {
      const adv = await ctx.adv();
      const ids = realIdentities(adv);
      const observed = await handshake(adv, ids.trustedKey, ids.teeOs, (f, d, i) => (d === TO_RESPONDER && i === 0 ? { replace: flipBit(f, f.length * 8 - 20) } : 'pass'));
      return { observed, defended: !observed.includes('established') };
    },
  },
  {
    name: 'impersonated-trusted-key',
    attack: 'a rogue trusted key with a certificate from a self-made root connects to a TEE OS',
    expectedDefence: 'the TEE OS refuses the certificate (not the issuer root): SECURITY',
    run: async (ctx) => {
      const adv = await ctx.adv();
      const ids = realIdentities(adv);
      const rogue = createRoot(adv.provider, 'issuer-root', 'p256');
      const fake = createChannelIdentity(adv.provider, rogue.issuer, {
        role: 'trusted-key', subject: 'tk-rogue', algorithm: 'p256', trustedRoots: [adv.factory.vendorRoot], expectedPeerRole: 'tee-os',
      });
      const observed = await handshake(adv, fake, ids.teeOs);
      return { observed, defended: !observed.includes('responder established') };
    },
  },
  {
    name: 'impersonated-tee-os',
    attack: 'the REE answers the trusted key itself with a TEE OS certificate from a self-made vendor root',
    expectedDefence: 'the trusted key refuses the certificate (wrong root): no channel',
    run: async (ctx) => {
      const adv = await ctx.adv();
      const ids = realIdentities(adv);
      const rogue = createRoot(adv.provider, 'vendor-root', 'ed25519');
      const fake = createChannelIdentity(adv.provider, rogue.issuer, {
        role: 'tee-os', subject: 'tee-rogue', algorithm: 'ed25519', trustedRoots: [adv.factory.issuerRoot], expectedPeerRole: 'trusted-key',
      });
      const observed = await handshake(adv, ids.trustedKey, fake);
      return { observed, defended: !observed.includes('initiator established') };
    },
  },
];
