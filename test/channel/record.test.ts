import { describe, expect, it } from 'vitest';
import { PROVIDERS } from '../../src/crypto/index.js';
import { AEAD_ALGORITHMS, type CryptoProvider } from '../../src/crypto/provider.js';
import { createInterceptedPair, flipBit, truncate, TO_INITIATOR, TO_RESPONDER, type InterceptHook } from '../../src/channel/index.js';
import { peekRecordHeader, RecordReceiver, RecordSender, RecordType, RECORD_HEADER_BYTES } from '../../src/channel/record.js';
import { closedWith, expectTeeError, makePki, openPair, rejects, until, type Pki } from './fixtures.js';

const pkis = new Map<string, Pki>();
const pkiFor = (p: CryptoProvider): Pki => {
  if (!pkis.has(p.name)) pkis.set(p.name, makePki(p));
  return pkis.get(p.name)!;
};

const HANDSHAKE_FRAMES_TO_RESPONDER = 2; // msg1, msg3

/**
 * The trusted key sends notifications 0..count-1; the REE applies `attack` to data record `target`
 * (counting from 0) of that stream. Returns what the TEE OS received and how each side closed.
 */
async function attackStream(provider: CryptoProvider, attack: (wire: ReturnType<typeof createInterceptedPair>, frame: Uint8Array) => ReturnType<InterceptHook>, target: number, count = 8) {
  const wire = createInterceptedPair();
  const { tk, tee } = await openPair(pkiFor(provider), { wire });
  const received: number[] = [];
  tee.onNotification('n', (p) => received.push(p as number));
  const teeClosed = closedWith(tee);
  const tkClosed = closedWith(tk);
  tee.handle('slow', () => new Promise(() => {})); // never answers: the pending call must fail on close
  const pendingAtTee = tee.call('n-reverse', null).catch((e: unknown) => e);
  wire.setHook((frame, dir, index) => (dir === TO_RESPONDER && index === HANDSHAKE_FRAMES_TO_RESPONDER + target ? attack(wire, frame) : 'pass'));
  // One burst: the records after the attacked one are on the wire before the TEE OS reacts.
  for (let i = 0; i < count; i++) tk.notify('n', i);
  await until(() => tee.closed && tk.closed);
  return { received, teeErr: await teeClosed, tkErr: await tkClosed, pendingAtTee: await pendingAtTee, wire };
}

describe('record attacks through the REE: each rejects, closes the channel, and delivers nothing after', () => {
  for (const provider of Object.values(PROVIDERS)) {
    it(`bit flip in the ciphertext (${provider.name})`, async () => {
      const r = await attackStream(provider, (_w, f) => ({ replace: flipBit(f, (RECORD_HEADER_BYTES + 3) * 8) }), 3);
      expect(r.received).toEqual([0, 1, 2]);
      expectTeeError(r.teeErr, 'SECURITY', /^record 3: authentication failed/);
      expectTeeError(r.tkErr, 'COMMUNICATION', /transport closed without a close notice/);
      expectTeeError(r.pendingAtTee, 'COMMUNICATION', /channel closed: record 3: authentication failed/);
    });
  }

  it('bit flip in the tag, and in each header field (the header is associated data)', async () => {
    const p = PROVIDERS.native;
    const cases: [string, number, RegExp][] = [
      ['last tag bit', -1, /authentication failed/],
      ['type DATA -> CLOSE', 8 + 1, /authentication failed/],
      ['type DATA -> 5', 8 + 2, /unknown record type/],
      ['version', 0, /unknown record version/],
      ['epoch 0 -> 1', 5 * 8, /authentication failed/],
      ['epoch 0 -> 2^31', 2 * 8 + 7, /unexpected epoch/],
      ['sequence number', 13 * 8, /out of sequence/],
    ];
    for (const [, bit, reason] of cases) {
      const r = await attackStream(p, (_w, f) => ({ replace: flipBit(f, bit < 0 ? f.length * 8 - 1 : bit) }), 2);
      expect(r.received).toEqual([0, 1]);
      expectTeeError(r.teeErr, 'SECURITY', reason);
    }
  });

  it('replay of an earlier record', async () => {
    const r = await attackStream(PROVIDERS.native, (_w, f) => ({ replace: [f, f] }), 2); // deliver it twice
    expect(r.received).toEqual([0, 1, 2]);
    expectTeeError(r.teeErr, 'SECURITY', /^record 3: out of sequence \(got 2\)/);
  });

  it('replay of an old record later in the stream', async () => {
    const r = await attackStream(PROVIDERS.native, (w, f) => ({ replace: [f, w.sent(TO_RESPONDER)[HANDSHAKE_FRAMES_TO_RESPONDER]!] }), 4);
    expect(r.received).toEqual([0, 1, 2, 3, 4]);
    expectTeeError(r.teeErr, 'SECURITY', /^record 5: out of sequence \(got 0\)/);
  });

  it('reorder: hold one record, pass the next, then release the held one', async () => {
    let held = false;
    const r = await attackStream(PROVIDERS.native, (w) => {
      held = true;
      setImmediate(() => w.release()); // after the rest of the burst went through
      return 'hold';
    }, 2);
    expect(held).toBe(true);
    expect(r.received).toEqual([0, 1]);
    expectTeeError(r.teeErr, 'SECURITY', /^record 2: out of sequence \(got 3\)/);
  });

  it('drop: the record after a dropped one fails', async () => {
    const r = await attackStream(PROVIDERS.native, () => 'drop', 4);
    expect(r.received).toEqual([0, 1, 2, 3]);
    expectTeeError(r.teeErr, 'SECURITY', /^record 4: out of sequence \(got 5\)/);
  });

  it('truncation: cut tag bytes, or cut into the header', async () => {
    const r1 = await attackStream(PROVIDERS.native, (_w, f) => ({ replace: truncate(f, f.length - 1) }), 1);
    expect(r1.received).toEqual([0]);
    expectTeeError(r1.teeErr, 'SECURITY', /^record 1: authentication failed/);
    const r2 = await attackStream(PROVIDERS.native, (_w, f) => ({ replace: truncate(f, 10) }), 1);
    expectTeeError(r2.teeErr, 'SECURITY', /^record 1: truncated \(10 bytes\)/);
  });

  it('a record from another session, with the right sequence number, is injected', async () => {
    const pki = pkiFor(PROVIDERS.native);
    const other = createInterceptedPair();
    const o = await openPair(pki, { wire: other });
    for (let i = 0; i < 4; i++) o.tk.notify('n', i);
    await other.waitFor(TO_RESPONDER, HANDSHAKE_FRAMES_TO_RESPONDER + 4);
    const foreign = other.sent(TO_RESPONDER)[HANDSHAKE_FRAMES_TO_RESPONDER + 3]!;
    o.tk.close();
    const r = await attackStream(PROVIDERS.native, () => ({ replace: foreign }), 3);
    expect(r.received).toEqual([0, 1, 2]);
    expectTeeError(r.teeErr, 'SECURITY', /^record 3: authentication failed/);
  });

  it('records are rejected in the other direction too (TEE OS to trusted key)', async () => {
    const wire = createInterceptedPair();
    const { tk, tee } = await openPair(pkiFor(PROVIDERS.native), { wire });
    const got: number[] = [];
    tk.onNotification('n', (p) => got.push(p as number));
    wire.setHook((f, dir, i) => (dir === TO_INITIATOR && i === 2 + 1 ? { replace: flipBit(f, 150) } : 'pass'));
    const tkClosed = closedWith(tk);
    for (let i = 0; i < 5; i++) tee.notify('n', i);
    expectTeeError(await tkClosed, 'SECURITY', /^record 2: authentication failed/); // record 0 was READY
    expect(got).toEqual([0]);
  });

  it('dropping the close notice is noticed: the close is an error, not an orderly close', async () => {
    const wire = createInterceptedPair();
    const { tk, tee } = await openPair(pkiFor(PROVIDERS.native), { wire });
    const teeClosed = closedWith(tee);
    wire.setHook(() => 'drop');
    tk.close();
    expectTeeError(await teeClosed, 'COMMUNICATION', /without a close notice/);
  });
});

describe('rekey', () => {
  for (const suite of AEAD_ALGORITHMS) {
    it(`every 5 records, over 60 records each way (${suite})`, async () => {
      const wire = createInterceptedPair();
      const opts = { rekeyAfterRecords: 5, suites: [suite] as const };
      const { tk, tee } = await openPair(pkiFor(PROVIDERS.native), { wire, initiator: { ...opts, suites: [suite] }, responder: { rekeyAfterRecords: 5 } });
      tee.handle('double', (p) => (p as number) * 2);
      tk.handle('complement', (p) => 1000 - (p as number));
      for (let i = 0; i < 60; i++) {
        expect(await tk.call('double', i)).toBe(2 * i);
        expect(await tee.call('complement', i)).toBe(1000 - i);
      }
      // 120 records each way, plus the responder's READY; a new epoch starts at every 5th record.
      expect(tk.stats.recordsSent).toBe(120);
      expect(tee.stats.recordsSent).toBe(121);
      expect(tee.stats.recordsReceived).toBe(120);
      expect(tk.stats.rekeys).toBe(Math.floor(119 / 5) + Math.floor(120 / 5));
      expect(tee.stats.rekeys).toBe(tk.stats.rekeys);
      // The epoch in the header climbs (bytes 2..5) while the sequence number keeps counting.
      const epochs = wire.sent(TO_RESPONDER).slice(HANDSHAKE_FRAMES_TO_RESPONDER).map((f) => new DataView(f.buffer, f.byteOffset).getUint32(2));
      expect(epochs.slice(0, 11)).toEqual([0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 2]);
      tk.close();
    });
  }

  it('by bytes, and the receiver follows whatever epoch schedule the sender uses', async () => {
    const { tk, tee } = await openPair(pkiFor(PROVIDERS.native), { initiator: { rekeyAfterBytes: 1000 } });
    const got: number[] = [];
    tee.onNotification('blob', (p) => got.push((p as Uint8Array).length));
    for (let i = 0; i < 20; i++) tk.notify('blob', new Uint8Array(300));
    await until(() => got.length === 20);
    expect(tk.stats.rekeys).toBeGreaterThanOrEqual(4); // about 320 bytes a record: a new key every 4th
    expect(tee.stats.rekeys).toBe(tk.stats.rekeys);
    tk.close();
  });

  it('a record claiming to skip an epoch ahead is rejected', async () => {
    const wire = createInterceptedPair();
    const { tk, tee } = await openPair(pkiFor(PROVIDERS.native), { wire });
    wire.setHook((f, dir, i) => (dir === TO_RESPONDER && i === 2 ? { replace: flipBit(f, 5 * 8 + 1) } : 'pass')); // epoch 0 -> 2
    const closed = closedWith(tee);
    tk.notify('x', 1);
    expectTeeError(await closed, 'SECURITY', /^record 0: unexpected epoch 2/);
  });
});

describe('record layer directly', () => {
  const p = PROVIDERS.native;
  const secret = () => ({ key: p.randomBytes(32), iv: p.randomBytes(12) });

  it('rejects everything after its first failure, even a valid next record', () => {
    const s = secret();
    const sender = new RecordSender(p, 'aes-256-gcm', s);
    const receiver = new RecordReceiver(p, 'aes-256-gcm', s);
    const f0 = sender.seal(RecordType.DATA, new Uint8Array([1]));
    const f1 = sender.seal(RecordType.DATA, new Uint8Array([2]));
    expect(receiver.open(f0).payload).toEqual(new Uint8Array([1]));
    expect(() => receiver.open(flipBit(f1, 200))).toThrow(/authentication failed/);
    expect(() => receiver.open(f1)).toThrow(/closed after an earlier failure/);
  });

  it('keeps the session when a message is too large to send', async () => {
    const { tk, tee } = await openPair(pkiFor(p), { initiator: { maxFrameBytes: 2000 } });
    tee.handle('echo', (x) => x);
    expectTeeError(await rejects(tk.call('echo', new Uint8Array(5000))), 'BAD_PARAMETERS', /exceeds limit/);
    expect(await tk.call('echo', 'still fine')).toBe('still fine');
    tk.close();
  });

  it('lets a carrier read a record header, and nothing of a handshake message or a cut frame', () => {
    const sender = new RecordSender(p, 'chacha20-poly1305', secret());
    sender.seal(RecordType.DATA, new Uint8Array([1]));
    const frame = sender.seal(RecordType.CLOSE, new Uint8Array(40));
    expect(peekRecordHeader(frame)).toEqual({ type: 'CLOSE', epoch: 0, seq: 1, sealedBytes: frame.length - RECORD_HEADER_BYTES });
    // The handshake's messages are msgpack arrays, never version 1 records.
    expect(peekRecordHeader(new Uint8Array([0x95, 1, 2, 3, ...new Uint8Array(40)]))).toBeUndefined();
    expect(peekRecordHeader(frame.subarray(0, RECORD_HEADER_BYTES + 3))).toBeUndefined();
    const unknownType = frame.slice();
    unknownType[1] = 9;
    expect(peekRecordHeader(unknownType)).toBeUndefined();
  });

  it('refuses frames larger than its limit', () => {
    const s = secret();
    const receiver = new RecordReceiver(p, 'chacha20-poly1305', s, { maxFrameBytes: 100 });
    const big = new RecordSender(p, 'chacha20-poly1305', s).seal(RecordType.DATA, new Uint8Array(200));
    expect(() => receiver.open(big)).toThrow(/exceeds limit 100/);
  });
});
