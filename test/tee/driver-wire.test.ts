/** The driver's binary layout: round trips for every op, exact consumption, and no double fetch. */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { utf8 } from '../../src/common/bytes.js';
import { TeeError } from '../../src/common/errors.js';
import {
  DRIVER_WIRE_VERSION,
  encodeTeeRequest,
  parseTeeRequest,
  parseTeeResponse,
  readRequest,
  readResponse,
  writeResponse,
  type TeeRequest,
  type WireParam,
} from '../../src/tee/index.js';
import { failure } from '../support/errors.js';
import { readReply } from '../support/driver.js';
import { CMD } from './fixtures/test-ta.js';
import { TA_A, bootTee, type BootedTee } from './helpers.js';

const ID = Uint8Array.from({ length: 16 }, (_, i) => i + 1);
const ID2 = Uint8Array.from({ length: 16 }, (_, i) => 0xf0 - i);

const u32 = fc.integer({ min: 0, max: 0xffff_ffff });
const wireParam: fc.Arbitrary<WireParam> = fc.oneof(
  fc.constant<WireParam>({ type: 'none' }),
  fc.record({ type: fc.constantFrom('value_input', 'value_output', 'value_inout' as const), a: u32, b: u32 }),
  fc.record({ type: fc.constantFrom('memref_input', 'memref_inout' as const), buffer: fc.uint8Array({ maxLength: 300 }) }),
  fc.record({ type: fc.constant('memref_output' as const), size: fc.integer({ min: 0, max: 1 << 20 }) }),
  fc.record({ type: fc.constant('handle_input' as const), handle: fc.uint8Array({ minLength: 16, maxLength: 16 }) }),
);

describe('driver wire layout', () => {
  it('every request reads back as the request that was written (fast-check)', () => {
    const request: fc.Arbitrary<TeeRequest> = fc.oneof(
      fc.record({ op: fc.constant('initializeContext' as const), name: fc.string({ maxLength: 128 }) }),
      fc.constant<TeeRequest>({ op: 'finalizeContext', context: ID }),
      fc.record({
        op: fc.constant('openSession' as const),
        context: fc.constant(ID),
        uuid: fc.constant(TA_A),
        login: fc.oneof(fc.constant({ login: 'public' as const, identity: '' }), fc.record({ login: fc.constantFrom('user', 'application' as const), identity: fc.string({ minLength: 1, maxLength: 40 }) })),
        params: fc.array(wireParam, { maxLength: 4 }),
      }),
      fc.record({ op: fc.constant('invokeCommand' as const), context: fc.constant(ID), session: fc.constant(ID2), commandId: u32, params: fc.array(wireParam, { maxLength: 4 }) }),
      fc.constant<TeeRequest>({ op: 'closeSession', context: ID, session: ID2 }),
    );
    fc.assert(
      fc.property(request, (req) => {
        const back = readRequest(encodeTeeRequest(req));
        const expected: Record<string, unknown> = { ...req };
        if (req.op === 'openSession' || req.op === 'invokeCommand') {
          expected.params = req.params.map((p) => (p.type === 'memref_input' || p.type === 'memref_inout' ? { type: p.type, buffer: new Uint8Array(p.buffer) } : p));
        }
        expect(back).toEqual(expected);
        // …and passes the same checks the msgpack form used to.
        expect(() => parseTeeRequest(back)).not.toThrow();
      }),
      { numRuns: 300 },
    );
  });

  it('responses read back for the op they answer; errors read back for any op', () => {
    const params = [{ type: 'none' as const }, { type: 'memref_output' as const, buffer: utf8('result') }, { type: 'value_inout' as const, a: 7, b: 0xffff_ffff }, { type: 'none' as const }];
    expect(readResponse(writeResponse({ ok: true, context: ID }, 'initializeContext'), 'initializeContext')).toEqual({ ok: true, context: ID });
    expect(parseTeeResponse(writeResponse({ ok: true, session: ID2, params }, 'openSession'), 'openSession')).toEqual({ ok: true, session: ID2, params });
    expect(parseTeeResponse(writeResponse({ ok: true, params }, 'invokeCommand'), 'invokeCommand')).toEqual({ ok: true, params });
    expect(parseTeeResponse(writeResponse({ ok: true }, 'closeSession'), 'closeSession')).toEqual({ ok: true });
    const error = writeResponse({ ok: false, code: 'ACCESS_DENIED', origin: 'TRUSTED_APP', message: 'no' }, 'invokeCommand');
    for (const op of ['initializeContext', 'openSession', 'invokeCommand', 'closeSession'] as const) {
      const e = failure(() => parseTeeResponse(error, op));
      expect([e.code, e.origin, e.message]).toEqual(['ACCESS_DENIED', 'TRUSTED_APP', 'no']);
    }
  });

  it('a response read for the wrong op, cut short or with bytes left over is COMMUNICATION', () => {
    const ok = writeResponse({ ok: true, params: [{ type: 'none' }] }, 'invokeCommand');
    for (const [bytes, op] of [
      [ok, 'initializeContext'],
      [ok.subarray(0, ok.length - 1), 'invokeCommand'],
      [new Uint8Array([...ok, 0]), 'invokeCommand'],
      [new Uint8Array([DRIVER_WIRE_VERSION + 1, ...ok.subarray(1)]), 'invokeCommand'],
    ] as const) {
      const e = failure(() => parseTeeResponse(bytes, op));
      expect([e.code, e.origin]).toEqual(['COMMUNICATION', 'COMMS']);
    }
  });

  it('the writer refuses what the layout cannot carry, with BAD_PARAMETERS and nothing thrown but TeeError', () => {
    const bad: TeeRequest[] = [
      { op: 'finalizeContext', context: new Uint8Array(15) },
      { op: 'invokeCommand', context: ID, session: ID2, commandId: -1, params: [] },
      { op: 'invokeCommand', context: ID, session: ID2, commandId: 2 ** 32, params: [] },
      { op: 'invokeCommand', context: ID, session: ID2, commandId: 1, params: [{ type: 'none' }, { type: 'none' }, { type: 'none' }, { type: 'none' }, { type: 'none' }] },
      { op: 'initializeContext', name: 'x'.repeat(70_000) },
    ];
    for (const req of bad) {
      const e = failure(() => encodeTeeRequest(req));
      expect(e).toBeInstanceOf(TeeError);
      expect(e.code).toBe('BAD_PARAMETERS');
    }
    // A refused request leaves the writer usable.
    expect(readRequest(encodeTeeRequest({ op: 'closeSession', context: ID, session: ID2 }))).toEqual({ op: 'closeSession', context: ID, session: ID2 });
  });

  it('written messages are exact-size buffers of their own (the writer\'s scratch never leaks out)', () => {
    const big = encodeTeeRequest({ op: 'invokeCommand', context: ID, session: ID2, commandId: 1, params: [{ type: 'memref_input', buffer: new Uint8Array(10_000).fill(0xab) }] });
    const small = encodeTeeRequest({ op: 'closeSession', context: ID, session: ID2 });
    expect(small.buffer.byteLength).toBe(small.length);
    expect(big.buffer.byteLength).toBe(big.length);
    expect(small).not.toContain(0xab);
  });
});

describe('driver endpoint: no double fetch', () => {
  let b: BootedTee;
  beforeAll(async () => {
    b = await bootTee();
  });
  afterAll(async () => {
    await b.cleanup();
  });

  it('a caller that rewrites its request bytes after submitting cannot change what the TEE read', async () => {
    const send = async (req: TeeRequest) => readReply(await b.tee.driver.submit(encodeTeeRequest(req)), req.op);
    const context = (await send({ op: 'initializeContext' })).context as Uint8Array;
    const session = (await send({ op: 'openSession', context, uuid: TA_A, login: { login: 'public', identity: '' }, params: [] })).session as Uint8Array;
    const request = encodeTeeRequest({ op: 'invokeCommand', context, session, commandId: CMD.ECHO, params: [{ type: 'memref_input', buffer: utf8('original') }, { type: 'memref_output', size: 16 }] });
    const pending = b.tee.driver.submit(request);
    request.set(utf8('tampered'), request.length - 8 - 1 - 4); // the memref's bytes (then the output's type and size), while the TEE works on it
    expect(readRequest(request)).toMatchObject({ params: [{ buffer: utf8('tampered') }, { size: 16 }] }); // the edit hit them
    request.fill(0xff, 2, 34); // and the ids
    const reply = readReply(await pending, 'invokeCommand');
    expect(reply.ok).toBe(true);
    expect((reply.params as { buffer?: Uint8Array }[])[1]!.buffer).toEqual(utf8('original'));
    await send({ op: 'finalizeContext', context });
  });
});
