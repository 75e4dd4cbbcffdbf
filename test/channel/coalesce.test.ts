/**
 * Coalescing: with `coalesce`, the messages of one event-loop turn travel in one DATA record, their
 * encodings back to back. Receivers take both forms; a record's messages are all checked before any
 * is acted on, and a record with too many is refused like any malformed one.
 */
import { describe, expect, it } from 'vitest';
import { concatBytes } from '../../src/common/bytes.js';
import { encode } from '../../src/common/codec.js';
import { PROVIDERS } from '../../src/crypto/index.js';
import { connectChannel, createInterceptedPair, MAX_MESSAGES_PER_RECORD, TO_INITIATOR, TO_RESPONDER, type ChannelOptions } from '../../src/channel/index.js';
import { RecordSender, RecordType } from '../../src/channel/record.js';
import { closedWith, makePki, openPair, until } from './fixtures.js';

const provider = PROVIDERS.native;
const pki = makePki(provider);
const coalesce: ChannelOptions = { coalesce: true };

describe('coalescing messages into records', () => {
  it.each([
    [undefined, 16, 2],
    [16, 16, 1],
    [4, 16, 2], // half of the 16 calls outstanding, more than 4
    [undefined, 64, 2], // records of 32: two in flight, not eight of 8
    [MAX_MESSAGES_PER_RECORD, 64, 1],
  ])('with coalesceBatch %s, %i calls in flight go in %i record(s), not one each; the answers in one; results match their calls', async (batch, calls, records) => {
    const wire = createInterceptedPair();
    const options: ChannelOptions = batch === undefined ? coalesce : { ...coalesce, coalesceBatch: batch };
    const { tk, tee } = await openPair(pki, { wire, initiator: options, responder: options });
    tee.handle('square', (p) => (p as number) ** 2);
    const before = { toTee: wire.sent(TO_RESPONDER).length, toTk: wire.sent(TO_INITIATOR).length };
    const results = await Promise.all(Array.from({ length: calls }, (_, i) => tk.call('square', i)));
    expect(results).toEqual(Array.from({ length: calls }, (_, i) => i * i));
    expect(wire.sent(TO_RESPONDER).length - before.toTee).toBe(records);
    // The requests reach the responder in one turn here: it answers them all in one record.
    expect(wire.sent(TO_INITIATOR).length - before.toTk).toBe(1);
    tk.close();
  });

  it("a turn's answers are not split while requests are still being served, and a slow answer holds none back", async () => {
    const options: ChannelOptions = { ...coalesce, coalesceBatch: 2 };
    const wire = createInterceptedPair();
    const { tk, tee } = await openPair(pki, { wire, initiator: options, responder: options });
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    tee.handle('slow', async (p) => (await gate, p));
    tee.handle('fast', (p) => p);
    const before = wire.sent(TO_INITIATOR).length;
    const calls = Promise.all([tk.call('fast', 1), tk.call('fast', 2), tk.call('slow', 3), tk.call('fast', 4)]);
    await until(() => wire.sent(TO_RESPONDER).length > 0);
    await new Promise((resolve) => setTimeout(resolve, 20));
    // The fast answers left at the end of their turn (nothing waits for the slow one's turn) ...
    expect(wire.sent(TO_INITIATOR).length - before).toBe(1);
    release();
    expect(await calls).toEqual([1, 2, 3, 4]);
    // ... and the slow one in a record of its own.
    expect(wire.sent(TO_INITIATOR).length - before).toBe(2);
    tk.close();
  });

  it("a turn's messages leave at its end, in records of at least coalesceBatch", async () => {
    const options: ChannelOptions = { ...coalesce, coalesceBatch: 2 };
    const { tk, tee } = await openPair(pki, { initiator: options, responder: options });
    const seen: number[] = [];
    tee.onNotification('n', (p) => seen.push(p as number));
    const start = tk.stats.recordsSent;
    for (let i = 1; i <= 5; i++) tk.notify('n', i);
    expect(tk.stats.recordsSent - start).toBe(0); // waits for the end of the turn
    await until(() => seen.length === 5);
    expect(tk.stats.recordsSent - start).toBe(3); // 2 + 2 + 1: no call awaits an answer, so records of 2
    expect(seen).toEqual([1, 2, 3, 4, 5]);
    tk.close();
  });

  it('without coalescing, and for calls one at a time, each message is its own record', async () => {
    const wire = createInterceptedPair();
    const { tk, tee } = await openPair(pki, { wire });
    tee.handle('echo', (p) => p);
    const start = wire.sent(TO_RESPONDER).length;
    await Promise.all(Array.from({ length: 16 }, (_, i) => tk.call('echo', i)));
    expect(wire.sent(TO_RESPONDER).length - start).toBe(16);
    tk.close();

    const wire2 = createInterceptedPair();
    const pair = await openPair(pki, { wire: wire2, initiator: coalesce, responder: coalesce });
    pair.tee.handle('echo', (p) => p);
    const start2 = wire2.sent(TO_RESPONDER).length;
    for (let i = 0; i < 5; i++) await pair.tk.call('echo', i);
    expect(wire2.sent(TO_RESPONDER).length - start2).toBe(5);
    pair.tk.close();
  });

  it('more messages than fit one record go out in several, in order', async () => {
    const { tk, tee } = await openPair(pki, { initiator: coalesce, responder: coalesce });
    const seen: number[] = [];
    tee.onNotification('n', (p) => seen.push(p as number));
    const count = MAX_MESSAGES_PER_RECORD * 2 + 5;
    for (let i = 0; i < count; i++) tk.notify('n', i);
    // Big messages too: the record's plaintext limit splits a turn's messages as well.
    tee.handle('blob', (p) => (p as Uint8Array).length);
    const blobs = await Promise.all(Array.from({ length: 3 }, () => tk.call('blob', new Uint8Array(600 * 1024))));
    expect(blobs).toEqual([614400, 614400, 614400]);
    await until(() => seen.length === count);
    expect(seen).toEqual(Array.from({ length: count }, (_, i) => i));
    tk.close();
  });

  it('messages of one turn larger than the usual outbox arrive whole, and later small ones too', async () => {
    const options: ChannelOptions = { ...coalesce, coalesceBatch: MAX_MESSAGES_PER_RECORD };
    const { tk, tee } = await openPair(pki, { initiator: options, responder: options });
    tee.handle('echo', (p) => p);
    // Distinct contents, so a message copied over another in a grown outbox would show.
    const big = Array.from({ length: 5 }, (_, i) => new Uint8Array(7000).fill(i + 1));
    const start = tk.stats.recordsSent;
    const echoed = await Promise.all(big.map((b) => tk.call('echo', b)));
    expect(tk.stats.recordsSent - start).toBe(1); // 35 KB in one record: the outbox grew
    echoed.forEach((e, i) => expect(e).toEqual(big[i]));
    const small = await Promise.all(Array.from({ length: 8 }, (_, i) => tk.call('echo', { i })));
    expect(small).toEqual(Array.from({ length: 8 }, (_, i) => ({ i })));
    tk.close();
  });

  it.each([0, 65, 1.5, '8'])('refuses coalesceBatch %s with BAD_PARAMETERS', async (batch) => {
    const wire = createInterceptedPair();
    const err = await connectChannel(wire.initiator, pki.trustedKey, { provider, coalesce: true, coalesceBatch: batch as number }).then(() => undefined, (e: unknown) => e);
    expect((err as { code?: string }).code).toBe('BAD_PARAMETERS');
  });

  it('refuses a coalesce option that is not a boolean', async () => {
    const wire = createInterceptedPair();
    const err = await connectChannel(wire.initiator, pki.trustedKey, { provider, coalesce: 'yes' as unknown as boolean }).then(() => undefined, (e: unknown) => e);
    expect((err as { code?: string }).code).toBe('BAD_PARAMETERS');
  });

  it('close sends what is queued before the close notice', async () => {
    const { tk, tee } = await openPair(pki, { initiator: coalesce, responder: coalesce });
    const seen: string[] = [];
    tee.onNotification('bye', (p) => seen.push(p as string));
    tk.notify('bye', 'queued just before close');
    tk.close();
    await until(() => tee.closed);
    expect(seen).toEqual(['queued just before close']);
  });

  describe('a peer (holding the traffic keys) that sends an ill-formed batch', () => {
    /** A channel pair whose initiator->responder keys the test also holds, to forge records. */
    async function forgingPair() {
      const secrets = new Map<string, Uint8Array>();
      const keyLog = (label: string, bytes: Uint8Array) => secrets.set(label, bytes);
      const wire = createInterceptedPair();
      const pair = await openPair(pki, { wire, initiator: { ...coalesce, keyLog }, responder: coalesce });
      const forger = new RecordSender(provider, pair.tk.suite, {
        key: secrets.get('traffic key initiator->responder')!,
        iv: secrets.get('traffic iv initiator->responder')!,
      });
      return { ...pair, wire, forger };
    }
    const note = (i: number) => encode({ t: 'note', m: 'n', p: i });

    it(`more than ${MAX_MESSAGES_PER_RECORD} messages in one record: refused with SECURITY, none delivered`, async () => {
      const { tee, wire, forger } = await forgingPair();
      const seen: unknown[] = [];
      tee.onNotification('n', (p) => seen.push(p));
      const payload = concatBytes(...Array.from({ length: MAX_MESSAGES_PER_RECORD + 1 }, (_, i) => note(i)));
      wire.inject(TO_RESPONDER, forger.seal(RecordType.DATA, payload));
      const err = await closedWith(tee);
      expect(err?.code).toBe('SECURITY');
      expect(err?.message).toMatch(/malformed message/);
      expect(seen).toEqual([]);
    });

    it('a valid message followed by a malformed one: refused with SECURITY, the valid one not acted on', async () => {
      const { tee, wire, forger } = await forgingPair();
      const seen: unknown[] = [];
      tee.onNotification('n', (p) => seen.push(p));
      const truncated = note(2).subarray(0, 3);
      wire.inject(TO_RESPONDER, forger.seal(RecordType.DATA, concatBytes(note(1), truncated)));
      expect((await closedWith(tee))?.code).toBe('SECURITY');
      expect(seen).toEqual([]);
    });

    it('a well-formed batch from the peer is accepted message by message', async () => {
      const { tee, wire, forger } = await forgingPair();
      const seen: unknown[] = [];
      tee.onNotification('n', (p) => seen.push(p));
      wire.inject(TO_RESPONDER, forger.seal(RecordType.DATA, concatBytes(note(1), note(2), note(3))));
      await until(() => seen.length === 3);
      expect(seen).toEqual([1, 2, 3]);
      expect(tee.closed).toBe(false);
    });
  });
});
