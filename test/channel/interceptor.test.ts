import { describe, expect, it } from 'vitest';
import { createInterceptedPair, flipBit, truncate, TO_INITIATOR, TO_RESPONDER } from '../../src/channel/index.js';
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
});
