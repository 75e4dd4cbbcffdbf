/**
 * The simulated phone as a whole: the factory's keys persist, a phone keeps its identities and its
 * provisioned state across power cycles, the wallet TA is installed signed and measured, the REE's
 * link is interceptable from the first frame, and the trace shows what each world sees without
 * showing a PIN, a PUK or key bytes.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toHex } from '../../src/common/bytes.js';
import { Trace } from '../../src/common/trace.js';
import { encodePaymentRequest } from '../../src/protocol/payment.js';
import { DEFAULT_LOG_BYTES } from '../../src/channel/index.js';
import { Factory, createPhone, MAX_KEPT_PAIRS } from '../../src/device/index.js';
import { WALLET_TA_UUID } from '../../src/tee/tas/wallet/index.js';
import { PLAIN, failure, makeWorld, provision, seatUser, Wallet, type World } from './fixtures.js';

describe('phone', () => {
  let world: World;
  beforeAll(async () => {
    world = await makeWorld({ spy: true });
  });
  afterAll(async () => {
    await world?.cleanup();
  });

  it('the factory creates its keys once and reloads the same ones', async () => {
    const again = await Factory.open(join(world.dir, 'factory'), world.provider);
    expect(again.vendorRoot).toEqual(world.factory.vendorRoot);
    expect(again.issuerRoot).toEqual(world.factory.issuerRoot);
    expect(again.taSigner).toEqual(world.factory.taSigner);
    again.close();
  });

  it('wires TEE OS, wallet TA and trusted key; keeps identities and provisioned state across power cycles', async () => {
    const phone = await world.makePhone('carol');
    expect(phone.trustedKey.peer?.subject).toBe('carol-tee-os');
    expect(phone.teeOs.trustedKey?.peer.subject).toBe('carol-trusted-key');
    const ta = phone.teeOs.installedTas.find((t) => t.uuid === WALLET_TA_UUID);
    expect(ta?.name).toBe('wallet');
    expect(ta?.measurement).toHaveLength(32);
    const id = await provision(world, phone, 'carol', { balance: 1_000 });
    const peerKey = toHex(phone.trustedKey.peer!.publicKey);
    await phone.close();

    const again = await createPhone({ dir: join(world.dir, 'carol'), factory: world.factory, provider: world.provider, name: 'carol' });
    world.phones.push(again);
    expect(toHex(again.trustedKey.peer!.publicKey)).toBe(peerKey);
    seatUser(again);
    const w = await Wallet.open(again);
    const info = await w.call('GET_INFO', {});
    expect(info.identities).toEqual([{ subdomainId: PLAIN, userId: 'carol', mode: 'plain' }]);
    expect(info.pin).toMatchObject({ set: true, triesLeft: 3 });
    const handle = (await w.call('OPEN_IDENTITY', { subdomainId: PLAIN, userId: 'carol' })).handle;
    expect((await w.call('GET_PUBLIC_KEY', {}, handle)).publicKey).toEqual(id.publicKey);
    expect((await w.call('OFFLINE_STATE', {}, handle)).balance).toBe(1_000);
    // A second identity on the same key: the PIN is already set, so no new PUK.
    const second = await provision(world, again, 'carol-2');
    expect(second.puk).toBeUndefined();
    await w.close();
  });

  it('the REE link is interceptable from the first handshake frame, and every frame is logged', async () => {
    const seen: number[] = [];
    const phone = await world.makePhone('dave', { transportHook: (frame) => void seen.push(frame.length) });
    expect(seen.length).toBeGreaterThanOrEqual(3); // msg1, msg2, msg3, ready
    expect(phone.interceptor.log.length).toBe(seen.length);
    expect(phone.interceptor.current).toBe(phone.interceptor.pairs[0]);
  });

  it('the REE keeps a bounded log of the frames it carried: a long-running phone does not keep every frame', async () => {
    const budget = 16 * 1024;
    const phone = await world.makePhone('gina', { wireLogBytes: budget });
    const w = await Wallet.open(phone);
    const log = phone.interceptor.frameLog;
    const mark = log.recorded;
    for (let i = 0; i < 200; i++) await w.call('HASH', { data: new Uint8Array(64) });
    const kept = phone.interceptor.log;
    expect(log.recorded - mark).toBeGreaterThanOrEqual(400); // a request and an answer per call
    expect(log.dropped).toBeGreaterThan(0);
    expect(kept.reduce((n, e) => n + e.frame.length + 64, 0)).toBeLessThanOrEqual(budget);
    // What is kept is the latest, in order, and marks still find it.
    expect(kept.map((e) => e.seq)).toEqual(Array.from({ length: kept.length }, (_, i) => log.recorded - kept.length + i));
    expect(log.since(log.recorded - 2)).toEqual(kept.slice(-2));
    await w.close();
    // Without the option a phone gets the default budget (the fixture asks for every frame).
    expect(world.phones.some((p) => p.interceptor.frameLog.maxBytes === Number.POSITIVE_INFINITY)).toBe(true);
    const plain = await createPhone({ dir: join(world.dir, 'gina-2'), factory: world.factory, provider: world.provider, name: 'gina-2' });
    world.phones.push(plain);
    expect(plain.interceptor.frameLog.maxBytes).toBe(DEFAULT_LOG_BYTES);
    const bad = await failure(createPhone({ dir: join(world.dir, 'gina-3'), factory: world.factory, provider: world.provider, name: 'gina-3', wireLogBytes: -1 }));
    expect(bad.code).toBe('BAD_PARAMETERS');
  });

  it('the REE keeps the latest connections only, and counts them all', async () => {
    const phone = await world.makePhone('hank');
    seatUser(phone);
    const w = await Wallet.open(phone);
    const cuts = MAX_KEPT_PAIRS + 4;
    for (let i = 0; i < cuts; i++) {
      const before = phone.interceptor.connections;
      phone.interceptor.cut();
      for (let t = 0; t < 500 && !(phone.interceptor.connections > before && phone.trustedKey.status === 'connected'); t++) await new Promise((r) => setTimeout(r, 5));
    }
    expect(phone.interceptor.connections).toBe(cuts + 1);
    expect(phone.interceptor.pairs.length).toBe(MAX_KEPT_PAIRS);
    expect(phone.interceptor.current).toBe(phone.interceptor.pairs[MAX_KEPT_PAIRS - 1]);
    expect((await w.call('HASH', { data: new Uint8Array(1) })).digest).toHaveLength(32);
    await w.close();
  });

  it('the trace shows each world\'s view of a payment, with no PIN, PUK or key bytes', async () => {
    const trace = new Trace();
    const phone = await world.makePhone('erin', { trace: trace.sink });
    const id = await provision(world, phone, 'erin', { pin: '48213957' });
    const user = seatUser(phone);
    user.then({ confirmed: true, pin: '48213957' });
    const w = await Wallet.open(phone);
    const handle = (await w.call('OPEN_IDENTITY', { subdomainId: PLAIN, userId: 'erin' })).handle;
    const request = encodePaymentRequest({
      version: 1, kind: 'online-request', payee: { subdomainId: PLAIN, userId: 'shop' }, amount: 12_345, currency: 'CNY', orderId: 'o-1', expiresAt: Date.now() + 60_000,
    });
    await w.call('SIGN_ONLINE_PAYMENT', { request }, handle);
    await w.close();

    const tk = trace.events.filter((e) => e.lane === 'TK');
    expect(tk.some((e) => e.detail?.display === 'Pay 123.45 CNY to shop@retail for order o-1 from erin')).toBe(true);
    expect(trace.events.some((e) => e.lane === 'TEE' && e.actor === 'wallet-ta')).toBe(true);
    const text = JSON.stringify(trace.events);
    expect(text).not.toContain('48213957');
    expect(text).not.toContain(id.puk!);
    expect(text).toContain('[shown to the user only]');
    for (const secret of world.secrets()) expect(text).not.toContain(toHex(secret));
  });

  it('rejects a trusted-key directory whose store was deleted by the REE (no silent reset)', async () => {
    const phone = await world.makePhone('frank');
    await provision(world, phone, 'frank');
    await phone.close();
    await rm(join(phone.paths.trustedKey, 'store'), { recursive: true, force: true });
    const err = await failure(createPhone({ dir: join(world.dir, 'frank'), factory: world.factory, provider: world.provider, name: 'frank' }));
    expect(err.code).toBe('SECURITY');
  });
});
