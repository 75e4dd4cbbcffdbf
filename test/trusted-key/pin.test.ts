/**
 * The PIN, as the user and an attacker meet it: right and wrong PINs on the trusted UI, blocking
 * after three wrong tries, unblocking with the PUK (which has its own counter), the counter surviving
 * a restart, and a rollback of the trusted key's REE-visible store being caught (SECURITY) instead of
 * handing out a fresh counter. PINs and the PUK never appear in any REE-visible byte.
 */
import { cp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { utf8 } from '../../src/common/bytes.js';
import { encodePaymentRequest, type PaymentRequest } from '../../src/protocol/payment.js';
import { ReeCapture } from '../../src/ree/client-api/index.js';
import { createPhone, type Phone } from '../../src/device/index.js';
import { PLAIN, assertNoLeaks, failure, makeWorld, provision, seatUser, Wallet, type Provisioned, type ScriptedUser, type World } from '../device/fixtures.js';

const PIN = '73925184';
const NEW_PIN = '60418273';
const WRONG = '11112222';

function request(amount: number, orderId: string): Uint8Array {
  const r: PaymentRequest = { version: 1, kind: 'online-request', payee: { subdomainId: PLAIN, userId: 'shop' }, amount, currency: 'CNY', orderId, expiresAt: Date.now() + 600_000 };
  return encodePaymentRequest(r);
}

describe('PIN and PUK', () => {
  let world: World;
  let phone: Phone;
  let id: Provisioned;
  let user: ScriptedUser;
  let w: Wallet;
  const capture = new ReeCapture();
  let order = 0;

  /** A payment above the PIN limit (10000 minor units): the PIN is asked on the trusted UI. */
  async function payWithPin(pin: string) {
    user.then({ confirmed: true, pin });
    const handle = (await w.call('OPEN_IDENTITY', { subdomainId: PLAIN, userId: 'alice' })).handle;
    return w.call('SIGN_ONLINE_PAYMENT', { request: request(20_000, `order-${++order}`) }, handle);
  }

  beforeEach(async () => {
    world = await makeWorld({ spy: true });
    phone = await world.makePhone('alice');
    id = await provision(world, phone, 'alice', { pin: PIN, capture });
    user = seatUser(phone);
    w = await Wallet.open(phone, capture);
  });

  afterEach(async () => {
    await w?.close();
    await world?.cleanup();
  });

  it('the right PIN passes and keeps the tries; the PIN screen said what is paid', async () => {
    const { signed } = await payWithPin(PIN);
    expect(signed.length).toBeGreaterThan(100);
    const screen = user.prompts[user.prompts.length - 1]!;
    expect(screen.requirePin).toBe(true);
    expect(screen.lines.join(' ')).toContain('Pay 200.00 CNY to shop@retail');
    expect(await w.call('PIN_STATUS', {})).toMatchObject({ set: true, triesLeft: 3, blocked: false, pukTriesLeft: 10 });
  });

  it('a wrong PIN costs a try and signs nothing; the right one restores the tries', async () => {
    const err = await failure(payWithPin(WRONG));
    expect(err.code).toBe('ACCESS_DENIED');
    expect(err.message).toMatch(/2 tries left/);
    expect((await w.call('PIN_STATUS', {})).triesLeft).toBe(2);
    await payWithPin(PIN);
    expect((await w.call('PIN_STATUS', {})).triesLeft).toBe(3);
  });

  it('three wrong PINs block it; then even the right PIN is refused without a screen', async () => {
    await failure(payWithPin(WRONG));
    await failure(payWithPin(WRONG));
    const third = await failure(payWithPin(WRONG));
    expect(third.code).toBe('PIN_BLOCKED');
    expect(await w.call('PIN_STATUS', {})).toMatchObject({ triesLeft: 0, blocked: true, permanentlyBlocked: false });
    const screens = user.prompts.length;
    expect((await failure(payWithPin(PIN))).code).toBe('PIN_BLOCKED');
    expect(user.prompts.length).toBe(screens);
    user.queue.length = 0;
    // Changing the PIN needs the PIN too.
    expect((await failure(w.call('CHANGE_PIN', {}))).code).toBe('PIN_BLOCKED');
  });

  it('unblock with the PUK: a wrong PUK costs a PUK try, the right one sets a new PIN', async () => {
    for (let i = 0; i < 3; i++) await failure(payWithPin(WRONG));
    user.then({ confirmed: true, pin: '0000000000' }, { confirmed: true, pin: NEW_PIN }, { confirmed: true, pin: NEW_PIN });
    const wrong = await failure(w.call('UNBLOCK_PIN', {}));
    expect(wrong.code).toBe('ACCESS_DENIED');
    expect((await w.call('PIN_STATUS', {})).pukTriesLeft).toBe(9);
    expect(user.prompts.slice(-3).map((p) => p.title)).toEqual(['Unblock PIN', 'Unblock PIN', 'Unblock PIN']);

    user.then({ confirmed: true, pin: id.puk! }, { confirmed: true, pin: NEW_PIN }, { confirmed: true, pin: NEW_PIN });
    expect(await w.call('UNBLOCK_PIN', {})).toMatchObject({ blocked: false, triesLeft: 3, pukTriesLeft: 10 });
    expect((await failure(payWithPin(PIN))).code).toBe('ACCESS_DENIED');
    await payWithPin(NEW_PIN);
  });

  it('ten wrong PUKs block the key for good: no payment of any size, no unblock', async () => {
    for (let i = 0; i < 3; i++) await failure(payWithPin(WRONG));
    for (let i = 0; i < 10; i++) {
      user.then({ confirmed: true, pin: '0000000000' }, { confirmed: true, pin: NEW_PIN }, { confirmed: true, pin: NEW_PIN });
      const err = await failure(w.call('UNBLOCK_PIN', {}));
      expect(err.code).toBe(i < 9 ? 'ACCESS_DENIED' : 'PIN_BLOCKED');
    }
    expect(await w.call('PIN_STATUS', {})).toMatchObject({ blocked: true, pukTriesLeft: 0, permanentlyBlocked: true });
    user.queue.length = 0;
    user.then({ confirmed: true, pin: id.puk! }, { confirmed: true, pin: NEW_PIN }, { confirmed: true, pin: NEW_PIN });
    expect((await failure(w.call('UNBLOCK_PIN', {}))).code).toBe('PIN_BLOCKED');
    user.queue.length = 0;
    const handle = (await w.call('OPEN_IDENTITY', { subdomainId: PLAIN, userId: 'alice' })).handle;
    expect((await failure(w.call('SIGN_ONLINE_PAYMENT', { request: request(100, 'small') }, handle))).code).toBe('PIN_BLOCKED');
  });

  it('change PIN: current PIN, then the new one twice; mismatched or malformed entries are refused', async () => {
    user.then({ confirmed: true, pin: PIN }, { confirmed: true, pin: NEW_PIN }, { confirmed: true, pin: '99999999' });
    expect((await failure(w.call('CHANGE_PIN', {}))).code).toBe('BAD_PARAMETERS');
    user.then({ confirmed: true, pin: PIN }, { confirmed: true, pin: '12a4' });
    expect((await failure(w.call('CHANGE_PIN', {}))).code).toBe('BAD_PARAMETERS');
    user.then({ confirmed: true, pin: PIN }, { confirmed: false });
    expect((await failure(w.call('CHANGE_PIN', {}))).code).toBe('CANCEL');
    user.then({ confirmed: true, pin: WRONG });
    expect((await failure(w.call('CHANGE_PIN', {}))).code).toBe('ACCESS_DENIED');
    user.then({ confirmed: true, pin: PIN }, { confirmed: true, pin: NEW_PIN }, { confirmed: true, pin: NEW_PIN });
    expect(await w.call('CHANGE_PIN', {})).toMatchObject({ triesLeft: 3 });
    await payWithPin(NEW_PIN);
    expect((await failure(payWithPin(PIN))).code).toBe('ACCESS_DENIED');
  });

  it('the initial PIN is set once: a second SET_INITIAL_PIN is refused', async () => {
    const screens = user.prompts.length;
    expect((await failure(w.call('SET_INITIAL_PIN', {}))).code).toBe('ACCESS_DENIED');
    expect(user.prompts.length).toBe(screens); // refused before the user is asked anything
    await payWithPin(PIN);
  });

  it('the try counter survives a restart of the trusted key', async () => {
    await failure(payWithPin(WRONG));
    await failure(payWithPin(WRONG));
    await phone.restartTrustedKey();
    expect(await w.call('PIN_STATUS', {})).toMatchObject({ triesLeft: 1, blocked: false });
    expect((await failure(payWithPin(WRONG))).code).toBe('PIN_BLOCKED');
    await phone.restartTrustedKey();
    expect((await w.call('PIN_STATUS', {})).blocked).toBe(true);
  });

  it('restoring an older copy of the trusted key store is caught (SECURITY), not a fresh counter', async () => {
    // The REE copies the trusted key's LevelDB directory while the PIN still has all its tries...
    await w.close();
    await phone.close();
    const store = join(phone.paths.trustedKey, 'store');
    const copy = join(world.dir, 'alice-store-copy');
    await cp(store, copy, { recursive: true });
    // ...the thief burns two tries...
    const again = await createPhone({ dir: join(world.dir, 'alice'), factory: world.factory, provider: world.provider, name: 'alice' });
    world.phones.push(again);
    phone = again;
    user = seatUser(again);
    w = await Wallet.open(again, capture);
    await failure(payWithPin(WRONG));
    await failure(payWithPin(WRONG));
    await w.close();
    await again.close();
    // ...and puts the old copy back, hoping for three fresh tries.
    await rm(store, { recursive: true, force: true });
    await cp(copy, store, { recursive: true });
    const err = await failure(createPhone({ dir: join(world.dir, 'alice'), factory: world.factory, provider: world.provider, name: 'alice' }));
    expect(err.code).toBe('SECURITY');
  });

  it('no PIN, PUK or key ever reaches the REE', async () => {
    await payWithPin(PIN);
    await failure(payWithPin(WRONG));
    user.then({ confirmed: true, pin: PIN }, { confirmed: true, pin: NEW_PIN }, { confirmed: true, pin: NEW_PIN });
    await w.call('CHANGE_PIN', {});
    await payWithPin(NEW_PIN);
    await assertNoLeaks(world, capture, [utf8(PIN), utf8(NEW_PIN), utf8(id.puk!)]);
  });
});
