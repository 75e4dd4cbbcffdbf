/**
 * A phone whose trusted key runs on its own worker thread: the same wallet, payments and defences as
 * with the key inline, its frames still carried (and attackable) by the REE's interceptor, typed
 * errors crossing the thread, and a rolled-back store still refused.
 */
import { watch } from 'node:fs';
import { cp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { utf8 } from '../../src/common/bytes.js';
import { flipBit, TO_RESPONDER } from '../../src/channel/index.js';
import { createPhone, MAX_KEY_RESTARTS, type Phone } from '../../src/device/index.js';
import { PLAIN, failure, makeWorld, provision, seatUser, Wallet, type World } from './fixtures.js';

describe('trusted key on its own thread', () => {
  let world: World;
  let phone: Phone;
  const options = (name: string) => ({ dir: join(world.dir, name), factory: world.factory, provider: world.provider, name, trustedKeyThread: 'worker' as const });

  beforeAll(async () => {
    world = await makeWorld();
    phone = await createPhone({ ...options('walt'), kmcPublicKey: world.kmc.kmcPublicKey });
    world.phones.push(phone);
  });
  afterAll(async () => {
    await world?.cleanup();
  });

  it('serves the wallet: keys, signatures, an identity and a confirmed payment signature', async () => {
    expect(phone.trustedKeyThread).toBe('worker');
    expect((await failure(Promise.resolve().then(() => phone.trustedKey))).code).toBe('BAD_STATE');
    const id = await provision(world, phone, 'walt', { balance: 500 });
    seatUser(phone).then({ confirmed: true, pin: id.pin });
    const w = await Wallet.open(phone);
    try {
      const info = await w.call('GET_INFO', {});
      expect(info.trustedKey).toMatchObject({ connected: true, subject: 'walt-trusted-key' });
      expect(info.identities).toEqual([{ subdomainId: PLAIN, userId: 'walt', mode: 'plain' }]);
      const key = await w.call('GENERATE_KEY', { algorithm: 'p256', usage: 'sign', label: 'thread-key' });
      const sigs = await Promise.all(Array.from({ length: 8 }, (_, i) => w.call('SIGN', { message: utf8(`m${i}`) }, key.handle)));
      sigs.forEach(({ signature }, i) => expect(world.provider.verify('p256', key.publicKey!, utf8(`m${i}`), signature)).toBe(true));
      // The key's refusal comes back typed across the thread.
      const agree = await w.call('GENERATE_KEY', { algorithm: 'x25519', usage: 'agree' });
      expect((await failure(w.call('SIGN', { message: utf8('m') }, agree.handle))).code).toBe('ACCESS_DENIED');
      const handle = (await w.call('OPEN_IDENTITY', { subdomainId: PLAIN, userId: 'walt' })).handle;
      expect((await w.call('OFFLINE_STATE', {}, handle)).balance).toBe(500);
    } finally {
      await w.close();
    }
  });

  it('a tampered frame on the REE link is refused, and the key reconnects by itself', async () => {
    const w = await Wallet.open(phone);
    try {
      const key = await w.call('GENERATE_KEY', { algorithm: 'ed25519', usage: 'sign' });
      const connections = phone.interceptor.connections;
      let armed = true;
      phone.interceptor.setHook((frame, direction) => {
        if (armed && direction === TO_RESPONDER) {
          armed = false;
          return { replace: flipBit(frame, 8 * 20) };
        }
        return 'pass';
      });
      expect((await failure(w.call('SIGN', { message: utf8('x') }, key.handle))).code).toMatch(/COMMUNICATION|SECURITY/);
      phone.interceptor.setHook(undefined);
      // A new connection (a new REE-carried pair) serves the next calls.
      for (let i = 0; i < 200 && phone.interceptor.connections === connections; i++) await new Promise((r) => setTimeout(r, 10));
      expect(phone.interceptor.connections).toBeGreaterThan(connections);
      let info;
      for (let i = 0; i < 200; i++) {
        info = await w.call('GET_INFO', {});
        if ((info.trustedKey as { connected: boolean }).connected) break;
        await new Promise((r) => setTimeout(r, 10));
      }
      expect(info?.trustedKey).toMatchObject({ connected: true });
    } finally {
      await w.close();
    }
  });

  it('restarts from its directory; a rolled-back store is refused with SECURITY across the thread', async () => {
    const store = phone.paths.reeVisible[1]!;
    const saved = join(world.dir, 'walt-store-copy');
    await cp(store, saved, { recursive: true });
    const w = await Wallet.open(phone);
    await w.call('GENERATE_KEY', { algorithm: 'p256', usage: 'sign', label: 'after-copy' });
    await w.close();
    await phone.restartTrustedKey();
    const again = await Wallet.open(phone);
    const opened = await again.call('OPEN_KEY', { label: 'after-copy' });
    expect(opened.publicKey).toHaveLength(33);
    await again.close();
    await phone.close();

    await rm(store, { recursive: true, force: true });
    await cp(saved, store, { recursive: true });
    const err = await failure(createPhone({ ...options('walt'), kmcPublicKey: world.kmc.kmcPublicKey }));
    expect({ code: err.code, origin: err.origin }).toEqual({ code: 'SECURITY', origin: 'TRUSTED_KEY' });
  });

  it('refuses a clock option it cannot take across the thread, and an unknown thread', async () => {
    const err = await failure(createPhone({ ...options('nora'), now: () => 0 }));
    expect(err.code).toBe('BAD_PARAMETERS');
    const bad = await failure(createPhone({ ...options('nora'), trustedKeyThread: 'gpu' as 'worker' }));
    expect({ code: bad.code, origin: bad.origin }).toEqual({ code: 'BAD_PARAMETERS', origin: 'API' });
    expect(bad.message).toMatch(/trustedKeyThread: expected one of inline, worker/);
  });
});

describe('a trusted key thread that stops unasked', () => {
  let world: World;
  const options = (name: string) => ({ dir: join(world.dir, name), factory: world.factory, provider: world.provider, name, trustedKeyThread: 'worker' as const });
  const until = async (what: string, cond: () => boolean | Promise<boolean>): Promise<void> => {
    for (let i = 0; i < 400; i++) {
      if (await cond()) return;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(`timed out waiting for ${what}`);
  };
  const connected = async (w: Wallet) => ((await w.call('GET_INFO', {})).trustedKey as { connected: boolean }).connected;

  beforeAll(async () => {
    world = await makeWorld();
  });
  afterAll(async () => {
    await world?.cleanup();
  });

  it('is restarted from its directory after a crash mid-work, and what it stored survives', async () => {
    const phone = await createPhone(options('cora'));
    world.phones.push(phone);
    const w = await Wallet.open(phone);
    const key = await w.call('GENERATE_KEY', { algorithm: 'p256', usage: 'sign', label: 'survivor' });
    // Signatures in flight when the chip loses power: each either completes or fails with a code.
    const inFlight = Array.from({ length: 16 }, (_, i) => w.call('SIGN', { message: utf8(`m${i}`) }, key.handle).then(() => 'ok', (e: { code: string }) => e.code));
    await phone.crashTrustedKey();
    const outcomes = await Promise.all(inFlight);
    for (const o of outcomes) expect(['ok', 'COMMUNICATION']).toContain(o);
    await until('the key to be back', async () => phone.trustedKeyState === 'running' && (await connected(w)));
    expect(phone.trustedKeyRestarts).toBe(1);
    // Handles die with the key that issued them; the stored key opens again and signs.
    const opened = await w.call('OPEN_KEY', { label: 'survivor' });
    expect(opened.publicKey).toEqual(key.publicKey);
    const { signature } = await w.call('SIGN', { message: utf8('after') }, opened.handle);
    expect(world.provider.verify('p256', key.publicKey!, utf8('after'), signature)).toBe(true);
    await w.close();
  });

  it(`gives up after ${MAX_KEY_RESTARTS} restarts in a row and stays stopped until restartTrustedKey`, async () => {
    const phone = await createPhone(options('dora'));
    world.phones.push(phone);
    const w = await Wallet.open(phone);
    for (let i = 1; i <= MAX_KEY_RESTARTS; i++) {
      await phone.crashTrustedKey();
      await until(`restart ${i}`, () => phone.trustedKeyState === 'running' && phone.trustedKeyRestarts === i);
    }
    await phone.crashTrustedKey();
    await until('the phone to give up', () => phone.trustedKeyState === 'stopped');
    expect(phone.trustedKeyRestarts).toBe(MAX_KEY_RESTARTS);
    expect((await failure(w.call('HASH', { data: utf8('x') }))).code).toBe('COMMUNICATION');
    await phone.restartTrustedKey();
    expect(phone.trustedKeyState).toBe('running');
    await until('the key to connect', () => connected(w));
    expect((await w.call('HASH', { data: utf8('x') })).digest).toEqual(world.provider.sha256(utf8('x')));
    // A key closed on purpose is not restarted.
    await w.close();
    await phone.close();
    expect(phone.trustedKeyRestarts).toBe(MAX_KEY_RESTARTS);
  });

  it('an offline payment torn by a crash is all or nothing: never a debit without its signed payment', async () => {
    const payer = await createPhone({ ...options('tess'), kmcPublicKey: world.kmc.kmcPublicKey });
    world.phones.push(payer);
    const payee = await world.makePhone('tom');
    await provision(world, payer, 'tess', { balance: 10_000 });
    await provision(world, payee, 'tom');
    seatUser(payer);
    seatUser(payee);
    const bob = await Wallet.open(payee);
    const bobId = (await bob.call('OPEN_IDENTITY', { subdomainId: PLAIN, userId: 'tom' })).handle;
    const offer = async (txId: string) => (await bob.call('SIGN_OFFLINE_OFFER', { txId, amount: 100, currency: 'CNY', expiresAt: Date.now() + 600_000 }, bobId)).signed;
    // How long one payment takes here, untorn: the rounds cut the power at points spread over it.
    const timed = await Wallet.open(payer);
    const timedId = (await timed.call('OPEN_IDENTITY', { subdomainId: PLAIN, userId: 'tess' })).handle;
    const untornOffer = await offer('untorn');
    const mark = payer.interceptor.frameLog.recorded;
    const started = performance.now();
    await timed.call('PAY_OFFLINE', { offer: untornOffer }, timedId);
    const duration = performance.now() - started;
    // The key's frames of one payment: the last one carries its answer.
    const keyFrames = payer.interceptor.frameLog.since(mark).filter((e) => e.direction === TO_RESPONDER).length;
    await timed.close();
    const rounds = 12;
    const seen = new Set<string>();
    let recovered: Uint8Array | undefined;
    for (let round = 0; round < rounds; round++) {
      const signedOffer = await offer(`tear-${round}`);
      const w = await Wallet.open(payer);
      const id = (await w.call('OPEN_IDENTITY', { subdomainId: PLAIN, userId: 'tess' })).handle;
      const before = await w.call('OFFLINE_STATE', {}, id);
      let crashed: Promise<void> | undefined;
      // The REE sees the key's store change on disk: one round cuts the power at its first write.
      const watcher = round === rounds - 2 ? watch(payer.paths.reeVisible[1]!, () => void (crashed ??= payer.crashTrustedKey())) : undefined;
      if (round === rounds - 1) {
        // The last round for certain: the REE drops the key's answer and the power goes at once.
        let n = 0;
        payer.interceptor.setHook((_frame, direction) => {
          if (direction !== TO_RESPONDER || ++n !== keyFrames) return 'pass';
          crashed = payer.crashTrustedKey();
          return 'drop';
        });
      }
      const paying = w.call('PAY_OFFLINE', { offer: signedOffer }, id).then((r) => r.signed, (e: { code: string }) => e.code);
      if (round < rounds - 2) {
        // Each round cuts the power at another point, most of them late, where the key writes.
        await new Promise((r) => setTimeout(r, duration * (0.3 + (0.8 * round) / rounds)));
        crashed = payer.crashTrustedKey();
      }
      const out = await paying;
      await crashed;
      watcher?.close();
      payer.interceptor.setHook(undefined);
      await w.close();
      // Past MAX_KEY_RESTARTS crashes a minute the phone stops restarting it: power it up by hand.
      await until('the key to be back', () => payer.trustedKeyState !== 'restarting');
      if (payer.trustedKeyState === 'stopped') await payer.restartTrustedKey();
      const w2 = await Wallet.open(payer);
      await until('the key to connect', () => connected(w2));
      const after = await w2.call('OFFLINE_STATE', {}, (await w2.call('OPEN_IDENTITY', { subdomainId: PLAIN, userId: 'tess' })).handle);
      await w2.close();
      const step = after.counter - before.counter;
      expect([0, 1]).toContain(step);
      expect(before.balance - after.balance).toBe(100 * step);
      // Every debit has its signed payment in the key, for the wallet to recover after a lost answer.
      expect(after.spent).toHaveLength(after.counter);
      if (out instanceof Uint8Array) {
        expect(step).toBe(1);
        expect(after.spent[after.spent.length - 1]).toEqual(out);
        seen.add('answered');
      } else {
        expect(out).toBe('COMMUNICATION');
        seen.add(step === 1 ? 'torn after the change' : 'torn before the change');
        if (step === 1) recovered ??= after.spent[after.spent.length - 1];
      }
    }
    expect(seen.has('torn after the change')).toBe(true);
    // A payment whose answer was lost is recovered from the key and accepted by the payee as usual.
    expect((await bob.call('ACCEPT_OFFLINE_PAYMENT', { payment: recovered! }, bobId)).amount).toBe(100);
    await bob.close();
  });

  it('a PIN set torn by a crash at its store write is never a PIN whose PUK the user did not see', async () => {
    const phone = await createPhone(options('pia'));
    world.phones.push(phone);
    const user = seatUser(phone);
    user.queue.push({ confirmed: true, pin: '52819374' }, { confirmed: true, pin: '52819374' });
    const w = await Wallet.open(phone);
    let crashed: Promise<void> | undefined;
    const watcher = watch(phone.paths.reeVisible[1]!, () => void (crashed ??= phone.crashTrustedKey()));
    const out = await w.call('SET_INITIAL_PIN', {}).then(() => 'set', (e: { code: string }) => e.code);
    expect(['set', 'COMMUNICATION']).toContain(out);
    // The answer can reach this thread before the watcher's event does (both wait in one poll of
    // the loop): then the cut lands just after the call, which must leave the same invariant.
    await until('the store write to be seen', () => crashed !== undefined);
    await crashed;
    watcher.close();
    await until('the key to be back', async () => phone.trustedKeyState === 'running' && (await connected(w)));
    const status = await w.call('PIN_STATUS', {});
    const pukShown = phone.trustedUi.log.some((e) => e.kind === 'message' && /PUK/.test(e.text));
    // Set only if its PUK was shown first; if not set, provisioning can simply run again.
    if (status.set) expect(pukShown).toBe(true);
    if (!status.set) {
      user.queue.push({ confirmed: true, pin: '52819374' }, { confirmed: true, pin: '52819374' });
      expect((await w.call('SET_INITIAL_PIN', {})).set).toBe(true);
    }
    await w.close();
  });

  it('refuses to crash a key that runs inline (it shares the thread)', async () => {
    const phone = await world.makePhone('ivy');
    expect((await failure(phone.crashTrustedKey())).code).toBe('BAD_STATE');
    expect(phone.trustedKeyState).toBe('running');
  });
});
