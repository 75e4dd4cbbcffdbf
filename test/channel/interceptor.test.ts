import { describe, expect, it } from 'vitest';
import { createInterceptedPair, FrameLog, flipBit, truncate, TO_INITIATOR, TO_RESPONDER } from '../../src/channel/index.js';
import { TeeError } from '../../src/common/errors.js';
import { until } from './fixtures.js';

const bytes = (...xs: number[]) => new Uint8Array(xs);

describe('interceptor (the hostile REE)', () => {
  it('logs every frame with its direction and per-direction index', async () => {
    const wire = createInterceptedPair();
    const atResponder: number[] = [];
    wire.responder.onFrame((f) => atResponder.push(f[0]!));
    wire.initiator.onFrame(() => {});
    wire.initiator.send(bytes(1));
    wire.responder.send(bytes(2));
    wire.initiator.send(bytes(3));
    await wire.waitFor(TO_RESPONDER, 2);
    await until(() => atResponder.length === 2);
    // Order within a direction is kept; the two directions interleave as the event loop runs them.
    const byDirection = (d: string) => wire.log.filter((e) => e.direction === d).map((e) => [e.index, e.frame[0], e.action]);
    expect(byDirection(TO_RESPONDER)).toEqual([[0, 1, 'pass'], [1, 3, 'pass']]);
    expect(byDirection(TO_INITIATOR)).toEqual([[0, 2, 'pass']]);
    expect(wire.log.map((e) => e.seq)).toEqual([0, 1, 2]);
    expect(wire.sent(TO_RESPONDER).map((f) => f[0])).toEqual([1, 3]);
  });

  it('drops, replaces, holds, releases and injects', async () => {
    const wire = createInterceptedPair({
      hook: (f, dir, i) => {
        if (dir !== TO_RESPONDER) return 'pass';
        if (i === 0) return 'drop';
        if (i === 1) return { replace: [bytes(10), bytes(11)] };
        if (i === 2) return 'hold';
        return 'pass';
      },
    });
    const got: number[] = [];
    wire.responder.onFrame((f) => got.push(f[0]!));
    for (const n of [1, 2, 3, 4]) wire.initiator.send(bytes(n));
    await until(() => got.length === 3);
    expect(got).toEqual([10, 11, 4]);
    expect(wire.held.map((h) => h.frame[0])).toEqual([3]);
    expect(wire.release()).toBe(1);
    wire.inject(TO_RESPONDER, bytes(4)); // replay
    await until(() => got.length === 5);
    expect(got).toEqual([10, 11, 4, 3, 4]);
    expect(wire.log.map((e) => e.action)).toEqual(['drop', 'replace', 'hold', 'pass', 'release', 'inject']);
  });

  it('cuts both sides when one hangs up, and offers byte mutations that copy', async () => {
    const wire = createInterceptedPair();
    const closed = new Promise((r) => wire.responder.onClose(r));
    wire.initiator.close();
    await closed;
    expect(wire.responder.closed).toBe(true);
    const f = bytes(0, 0, 0);
    expect(flipBit(f, 9)).toEqual(bytes(0, 2, 0));
    expect(truncate(f, 1)).toEqual(bytes(0));
    expect(f).toEqual(bytes(0, 0, 0));
  });

  it('keeps only the latest frames within its byte budget, with marks that survive dropping', async () => {
    // 100-byte frames cost 164 bytes each with the entry overhead: 3 fit in 500 bytes.
    const log = new FrameLog(500);
    const wire = createInterceptedPair({ log });
    wire.responder.onFrame(() => {});
    const frame = (n: number) => new Uint8Array(100).fill(n);
    for (let n = 0; n < 4; n++) wire.initiator.send(frame(n));
    await wire.waitFor(TO_RESPONDER, 4);
    const mark = log.recorded;
    for (let n = 4; n < 10; n++) wire.initiator.send(frame(n));
    await wire.waitFor(TO_RESPONDER, 10);
    expect(wire.log).toBe(log.entries);
    expect(wire.log.map((e) => [e.seq, e.index, e.frame[0]])).toEqual([[7, 7, 7], [8, 8, 8], [9, 9, 9]]);
    expect(log.recorded).toBe(10);
    expect(log.dropped).toBe(7);
    // Frames logged since the mark that are still kept; a mark older than the log gives all it has.
    expect(log.since(mark).map((e) => e.seq)).toEqual([7, 8, 9]);
    expect(log.since(9).map((e) => e.seq)).toEqual([9]);
    expect(log.since(10)).toEqual([]);
    // Empty frames count too (a flood of them must not grow the log without bound).
    for (let n = 0; n < 100; n++) wire.inject(TO_RESPONDER, new Uint8Array(0));
    expect(wire.log.length).toBeLessThanOrEqual(Math.floor(500 / 64));
  });

  it('keeps nothing with a zero budget and everything with Infinity; refuses other budgets', async () => {
    const none = createInterceptedPair({ log: new FrameLog(0) });
    const all = createInterceptedPair({ log: new FrameLog(Number.POSITIVE_INFINITY) });
    for (const w of [none, all]) {
      w.responder.onFrame(() => {});
      for (let n = 0; n < 50; n++) w.initiator.send(new Uint8Array(64 * 1024));
      await w.waitFor(TO_RESPONDER, 50);
    }
    expect(none.log).toEqual([]);
    expect(none.frameLog.dropped).toBe(50);
    expect(all.log.length).toBe(50);
    for (const bad of [-1, 1.5, Number.NaN]) {
      const err = (() => {
        try {
          new FrameLog(bad);
        } catch (e) {
          return e;
        }
      })();
      expect(err).toBeInstanceOf(TeeError);
      expect((err as TeeError).code).toBe('BAD_PARAMETERS');
    }
  });
});
