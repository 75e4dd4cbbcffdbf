/**
 * The wallet TA through the TEE Client API only, as the REE wallet uses it: key life cycle, crypto
 * round trips, ECDH between two phones, usage-flag refusals, and the handle attacks (closed, foreign,
 * forged handles; wrong parameter types; malformed arguments). Every REE-visible byte is captured
 * and scanned for secrets at the end.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { utf8 } from '../../../src/common/bytes.js';
import { encode } from '../../../src/common/codec.js';
import { ReeCapture, type Param } from '../../../src/ree/client-api/index.js';
import { FIXED_RESULT_BYTES, RESULT_BUFFER_BYTES, resultCapacity, SMALL_RESULT_BYTES, WALLET_CMD } from '../../../src/tee/tas/wallet/index.js';
import type { Phone } from '../../../src/device/index.js';
import { MAX_PERSISTENT_KEYS } from '../../../src/trusted-key/index.js';
import { PLAIN, assertNoLeaks, failure, makeWorld, provision, seatUser, Wallet, type World } from '../../device/fixtures.js';

describe('wallet TA through the Client API', () => {
  let world: World;
  let alice: Phone;
  let bob: Phone;
  const capture = new ReeCapture();
  let w: Wallet;

  beforeAll(async () => {
    world = await makeWorld({ spy: true });
    alice = await world.makePhone('alice');
    bob = await world.makePhone('bob');
    await provision(world, alice, 'alice', { capture });
    seatUser(alice);
    seatUser(bob);
    w = await Wallet.open(alice, capture);
  });

  afterAll(async () => {
    await w?.close();
    await world?.cleanup();
  });

  it('GET_INFO reports the connected trusted key and the identity, never a key id', async () => {
    const info = await w.call('GET_INFO', {});
    expect(info.trustedKey.connected).toBe(true);
    expect(info.trustedKey.subject).toBe('alice-trusted-key');
    expect(info.identities).toEqual([{ subdomainId: PLAIN, userId: 'alice', mode: 'plain' }]);
    expect(info.kmcPinned).toBe(true);
    expect(JSON.stringify(info)).not.toMatch(/keyId/);
  });

  it.each(['p256', 'ed25519'] as const)('generates a %s key, signs and verifies', async (algorithm) => {
    const key = await w.call('GENERATE_KEY', { algorithm, usage: 'sign' });
    expect(key.handle).toHaveLength(16);
    expect(key).not.toHaveProperty('keyId');
    const message = utf8('hello from the REE');
    const { signature } = await w.call('SIGN', { message }, key.handle);
    expect(world.provider.verify(algorithm, key.publicKey!, message, signature)).toBe(true);
    expect((await w.call('VERIFY', { message, signature }, key.handle)).valid).toBe(true);
    expect((await w.call('VERIFY', { message: utf8('other'), signature }, key.handle)).valid).toBe(false);
    // Without a handle: verify against a public key given in the arguments.
    expect((await w.call('VERIFY', { message, signature, algorithm, publicKey: key.publicKey! })).valid).toBe(true);
    const { publicKey } = await w.call('GET_PUBLIC_KEY', {}, key.handle);
    expect(publicKey).toEqual(key.publicKey);
  });

  it.each(['chacha20-poly1305', 'aes-256-gcm'] as const)('encrypts and decrypts with a %s key; a changed byte is refused', async (algorithm) => {
    const key = await w.call('GENERATE_KEY', { algorithm, usage: 'encrypt' });
    expect(key.publicKey).toBeUndefined();
    const plaintext = utf8('secret note');
    const aad = utf8('header');
    const { ciphertext } = await w.call('ENCRYPT', { plaintext, aad }, key.handle);
    expect((await w.call('DECRYPT', { ciphertext, aad }, key.handle)).plaintext).toEqual(plaintext);
    const tampered = new Uint8Array(ciphertext);
    tampered[tampered.length - 1]! ^= 1;
    expect((await failure(w.call('DECRYPT', { ciphertext: tampered, aad }, key.handle))).code).toBe('SECURITY');
    expect((await failure(w.call('DECRYPT', { ciphertext, aad: utf8('other') }, key.handle))).code).toBe('SECURITY');
    // Random nonces: the same plaintext never encrypts the same way twice.
    expect((await w.call('ENCRYPT', { plaintext, aad }, key.handle)).ciphertext).not.toEqual(ciphertext);
  });

  it('offers room for what a command can return: a 300 KiB ENCRYPT/DECRYPT round trip fits, small results get small buffers', async () => {
    const key = await w.call('GENERATE_KEY', { algorithm: 'aes-256-gcm', usage: 'encrypt' });
    const plaintext = new Uint8Array(300 * 1024).fill(7);
    const { ciphertext } = await w.call('ENCRYPT', { plaintext }, key.handle);
    expect((await w.call('DECRYPT', { ciphertext }, key.handle)).plaintext).toEqual(plaintext);
    expect(resultCapacity('SIGN', { message: plaintext })).toBe(FIXED_RESULT_BYTES);
    expect(resultCapacity('PIN_STATUS', {})).toBe(SMALL_RESULT_BYTES);
    expect(resultCapacity('OFFLINE_STATE', {})).toBe(RESULT_BUFFER_BYTES);
    // A result larger than what the caller offered is OVERFLOW (GP's SHORT_BUFFER), never truncated.
    const args = encode({ plaintext: new Uint8Array(64) });
    const tight: Param[] = [{ type: 'memref_input', buffer: args }, { type: 'memref_output', buffer: new Uint8Array(16) }, { type: 'handle_input', handle: key.handle }];
    expect((await failure(w.invoke(WALLET_CMD.ENCRYPT, tight))).code).toBe('OVERFLOW');
  });

  it('the tiny fixed-size results fit the tiny buffer they are offered, for every algorithm', async () => {
    // The largest each can be: a 64-byte signature, a 32-byte digest, a verdict, nothing.
    for (const [command, result] of [
      ['SIGN', { signature: new Uint8Array(64).fill(0xff) }],
      ['HASH', { digest: new Uint8Array(32).fill(0xff) }],
      ['VERIFY', { valid: false }],
      ['CLOSE_HANDLE', {}],
      ['DELETE_KEY', {}],
    ] as const) {
      expect(encode(result).length).toBeLessThanOrEqual(resultCapacity(command, {}));
    }
    // And through the stack, with each signature algorithm and a large message.
    const message = new Uint8Array(64 * 1024).fill(3);
    for (const algorithm of ['p256', 'ed25519'] as const) {
      const key = await w.call('GENERATE_KEY', { algorithm, usage: 'sign' });
      const { signature } = await w.call('SIGN', { message }, key.handle);
      expect(signature.length).toBe(64);
      expect((await w.call('VERIFY', { message, signature }, key.handle)).valid).toBe(true);
      expect(await w.call('CLOSE_HANDLE', {}, key.handle)).toEqual({});
    }
    expect((await w.call('HASH', { data: message })).digest.length).toBe(32);
  });

  it('results stay intact when many later calls follow at once', async () => {
    const key = await w.call('GENERATE_KEY', { algorithm: 'p256', usage: 'sign' });
    const first = await w.call('SIGN', { message: utf8('first') }, key.handle);
    const kept = new Uint8Array(first.signature);
    const others = await Promise.all(Array.from({ length: 20 }, (_, i) => w.call('SIGN', { message: utf8(`later ${i}`) }, key.handle)));
    expect(first.signature).toEqual(kept);
    const distinct = new Set([kept, ...others.map((o) => o.signature)].map((s) => Buffer.from(s).toString('hex')));
    expect(distinct.size).toBe(21);
  });

  it.each(['x25519', 'p256'] as const)('ECDH (%s): keys derived on two phones agree, and the shared secret stays inside', async (algorithm) => {
    const wb = await Wallet.open(bob, capture);
    try {
      const a = await w.call('GENERATE_KEY', { algorithm, usage: 'agree' });
      const b = await wb.call('GENERATE_KEY', { algorithm, usage: 'agree' });
      const info = utf8('chat v1');
      const ka = await w.call('DERIVE_SHARED_KEY', { peerPublicKey: b.publicKey!, info }, a.handle);
      const kb = await wb.call('DERIVE_SHARED_KEY', { peerPublicKey: a.publicKey!, info }, b.handle);
      expect(ka.usage).toBe('encrypt');
      expect(ka.publicKey).toBeUndefined();
      const { ciphertext } = await w.call('ENCRYPT', { plaintext: utf8('to bob') }, ka.handle);
      expect((await wb.call('DECRYPT', { ciphertext }, kb.handle)).plaintext).toEqual(utf8('to bob'));
      // A different context derives a different key.
      const other = await wb.call('DERIVE_SHARED_KEY', { peerPublicKey: a.publicKey!, info: utf8('chat v2') }, b.handle);
      expect((await failure(wb.call('DECRYPT', { ciphertext }, other.handle))).code).toBe('SECURITY');
    } finally {
      await wb.close();
    }
  });

  it('HASH and RANDOM', async () => {
    const data = utf8('abc');
    expect((await w.call('HASH', { data })).digest).toEqual(world.provider.sha256(data));
    const r1 = (await w.call('RANDOM', { length: 32 })).bytes;
    const r2 = (await w.call('RANDOM', { length: 32 })).bytes;
    expect(r1).toHaveLength(32);
    expect(r1).not.toEqual(r2);
    expect((await failure(w.call('RANDOM', { length: 0 }))).code).toBe('BAD_PARAMETERS');
    expect((await failure(w.call('RANDOM', { length: 1 << 20 }))).code).toBe('BAD_PARAMETERS');
  });

  it('usage flags: sign with an agree key, encrypt with a sign key, derive with a sign key -> ACCESS_DENIED', async () => {
    const agree = await w.call('GENERATE_KEY', { algorithm: 'x25519', usage: 'agree' });
    const sign = await w.call('GENERATE_KEY', { algorithm: 'ed25519', usage: 'sign' });
    expect((await failure(w.call('SIGN', { message: utf8('m') }, agree.handle))).code).toBe('ACCESS_DENIED');
    expect((await failure(w.call('ENCRYPT', { plaintext: utf8('m') }, sign.handle))).code).toBe('ACCESS_DENIED');
    expect((await failure(w.call('DERIVE_SHARED_KEY', { peerPublicKey: agree.publicKey! }, sign.handle))).code).toBe('ACCESS_DENIED');
    // Algorithm and usage must fit at generation.
    expect((await failure(w.call('GENERATE_KEY', { algorithm: 'ed25519', usage: 'agree' }))).code).toBe('BAD_PARAMETERS');
    expect((await failure(w.call('GENERATE_KEY', { algorithm: 'p256', usage: 'payment' as 'sign' }))).code).toBe('BAD_PARAMETERS');
  });

  it('a raw SIGN with the payment identity key is ACCESS_DENIED (no bypass of the confirmation)', async () => {
    const id = await w.call('OPEN_IDENTITY', { subdomainId: PLAIN, userId: 'alice' });
    expect(id.usage).toBe('payment');
    expect(id.identity).toMatchObject({ subdomainId: PLAIN, userId: 'alice', mode: 'plain' });
    const err = await failure(w.call('SIGN', { message: utf8('anything at all') }, id.handle));
    expect(err.code).toBe('ACCESS_DENIED');
    expect(err.message).toMatch(/payment key/);
    // Still refused once the key has signed a payment statement (and sits loaded in the key's engine).
    await w.call('SIGN_OFFLINE_OFFER', { txId: 'bypass-check-1', amount: 100, currency: 'CNY', expiresAt: Date.now() + 60_000 }, id.handle);
    expect((await failure(w.call('SIGN', { message: utf8('anything at all') }, id.handle))).code).toBe('ACCESS_DENIED');
    // Nor can it be deleted or used as an encryption or agreement key.
    expect((await failure(w.call('DELETE_KEY', {}, id.handle))).code).toBe('ACCESS_DENIED');
    expect((await failure(w.call('ENCRYPT', { plaintext: utf8('m') }, id.handle))).code).toBe('ACCESS_DENIED');
    expect((await failure(w.call('OPEN_IDENTITY', { subdomainId: PLAIN, userId: 'mallory' }))).code).toBe('ITEM_NOT_FOUND');
  });

  it('a handle is dead after CLOSE_HANDLE', async () => {
    const key = await w.call('GENERATE_KEY', { algorithm: 'ed25519', usage: 'sign' });
    await w.call('CLOSE_HANDLE', {}, key.handle);
    expect((await failure(w.call('SIGN', { message: utf8('m') }, key.handle))).code).toBe('ITEM_NOT_FOUND');
    expect((await failure(w.call('CLOSE_HANDLE', {}, key.handle))).code).toBe('ITEM_NOT_FOUND');
  });

  it('a handle from another session, or from a closed session, finds nothing', async () => {
    const other = await Wallet.open(alice, capture);
    const key = await other.call('GENERATE_KEY', { algorithm: 'ed25519', usage: 'sign' });
    const idHandle = (await other.call('OPEN_IDENTITY', { subdomainId: PLAIN, userId: 'alice' })).handle;
    const miss = await failure(w.call('SIGN', { message: utf8('m') }, key.handle));
    expect(miss.code).toBe('ITEM_NOT_FOUND');
    expect((await failure(w.call('OFFLINE_STATE', {}, idHandle))).code).toBe('ITEM_NOT_FOUND');
    await other.close();
    const again = await Wallet.open(alice, capture);
    expect((await failure(again.call('SIGN', { message: utf8('m') }, key.handle))).code).toBe('ITEM_NOT_FOUND');
    await again.close();
  });

  it('a forged handle gets the same answer as any other miss', async () => {
    const forged = world.provider.randomBytes(16);
    const err = await failure(w.call('SIGN', { message: utf8('m') }, forged));
    expect(err.code).toBe('ITEM_NOT_FOUND');
    expect(err.message).toBe('handle: not found');
  });

  it('checks parameter types first (BAD_PARAMETERS), then the arguments', async () => {
    const key = await w.call('GENERATE_KEY', { algorithm: 'ed25519', usage: 'sign' });
    const args = encode({ message: utf8('m') });
    const out = (): Param => ({ type: 'memref_output', buffer: new Uint8Array(RESULT_BUFFER_BYTES) });
    const cases: Param[][] = [
      [{ type: 'memref_input', buffer: args }, out()], // handle missing
      [{ type: 'memref_input', buffer: args }, { type: 'value_output', a: 0, b: 0 }, { type: 'handle_input', handle: key.handle }],
      [{ type: 'memref_inout', buffer: args }, out(), { type: 'handle_input', handle: key.handle }],
      [{ type: 'memref_input', buffer: args }, out(), { type: 'handle_input', handle: key.handle }, { type: 'value_input', a: 1, b: 2 }],
    ];
    for (const params of cases) {
      expect((await failure(w.invoke(WALLET_CMD.SIGN, params))).code).toBe('BAD_PARAMETERS');
    }
    // A command without a handle refuses one.
    expect((await failure(w.invoke(WALLET_CMD.HASH, [{ type: 'memref_input', buffer: encode({ data: utf8('x') }) }, out(), { type: 'handle_input', handle: key.handle }]))).code).toBe('BAD_PARAMETERS');
    // Malformed or ill-typed arguments.
    const bad = [new Uint8Array([0xc1]), encode([1, 2]), encode({ message: 'not bytes' }), new Uint8Array(0)];
    for (const buffer of bad) {
      expect((await failure(w.invoke(WALLET_CMD.SIGN, [{ type: 'memref_input', buffer }, out(), { type: 'handle_input', handle: key.handle }]))).code).toBe('BAD_PARAMETERS');
    }
    expect((await failure(w.call('GENERATE_KEY', { algorithm: 'rsa' as 'p256', usage: 'sign' }))).code).toBe('BAD_PARAMETERS');
    expect((await failure(w.invoke(999, [{ type: 'memref_input', buffer: encode({}) }, out()]))).code).toBe('NOT_SUPPORTED');
    // A result larger than the caller's buffer: OVERFLOW, not a truncated answer.
    const small: Param[] = [{ type: 'memref_input', buffer: encode({ length: 4096 }) }, { type: 'memref_output', buffer: new Uint8Array(64) }];
    expect((await failure(w.invoke(WALLET_CMD.RANDOM, small))).code).toBe('OVERFLOW');
  });

  it('a labelled key persists across sessions and trusted-key restarts; other clients cannot open it', async () => {
    const key = await w.call('GENERATE_KEY', { algorithm: 'p256', usage: 'sign', label: 'backend-auth' });
    expect((await failure(w.call('GENERATE_KEY', { algorithm: 'p256', usage: 'sign', label: 'backend-auth' }))).code).toBe('ACCESS_CONFLICT');
    await alice.restartTrustedKey();
    const later = await Wallet.open(alice, capture);
    const reopened = await later.call('OPEN_KEY', { label: 'backend-auth' });
    expect(reopened.publicKey).toEqual(key.publicKey);
    const message = utf8('login challenge');
    const { signature } = await later.call('SIGN', { message }, reopened.handle);
    expect(world.provider.verify('p256', key.publicKey!, message, signature)).toBe(true);
    const mallory = await Wallet.open(alice, capture, { login: 'user', identity: 'mallory' });
    expect((await failure(mallory.call('OPEN_KEY', { label: 'backend-auth' }))).code).toBe('ITEM_NOT_FOUND');
    await mallory.close();
    await later.call('DELETE_KEY', {}, reopened.handle);
    expect((await failure(later.call('OPEN_KEY', { label: 'backend-auth' }))).code).toBe('ITEM_NOT_FOUND');
    await later.close();
  });

  it('two sessions racing for one label: one key is kept, the loser\'s key gives its slot back', async () => {
    // A fresh phone: its only persistent key is the provisioning key made at first start.
    const phone = await world.makePhone('carl');
    const [a, b] = [await Wallet.open(phone), await Wallet.open(phone)];
    const rounds = 6;
    for (let i = 0; i < rounds; i++) {
      const outcomes = await Promise.all([a, b].map((s) => s.call('GENERATE_KEY', { algorithm: 'ed25519', usage: 'sign', label: `race-${i}` }).then(() => 'ok', (e: { code: string }) => e.code)));
      expect(outcomes.sort()).toEqual(['ACCESS_CONFLICT', 'ok']);
    }
    // Fill the rest of the key's slots: the losers' keys must not be holding any.
    let made = 0;
    let refusal = '';
    while (!refusal) {
      refusal = await a.call('GENERATE_KEY', { algorithm: 'ed25519', usage: 'sign', label: `fill-${made}` }).then(() => '', (e: { code: string }) => e.code);
      if (!refusal) made++;
    }
    expect(refusal).toBe('OUT_OF_MEMORY');
    expect(1 + rounds + made).toBe(MAX_PERSISTENT_KEYS);
    await a.close();
    await b.close();
  });

  it('the leak scanner finds a value that does cross (control)', async () => {
    const id = await w.call('OPEN_IDENTITY', { subdomainId: PLAIN, userId: 'alice' });
    const scan = new ReeCapture();
    for (const r of capture.records) scan.hook(r.direction, r.bytes);
    expect(scan.contains(id.publicKey!)).toBe(true);
    expect(scan.contains(world.provider.randomBytes(32))).toBe(false);
  });

  it('no private key, channel key or storage key ever reaches the REE', async () => {
    const { secrets, bytes } = await assertNoLeaks(world, capture);
    expect(secrets).toBeGreaterThan(50);
    expect(bytes).toBeGreaterThan(10_000);
  });
});
