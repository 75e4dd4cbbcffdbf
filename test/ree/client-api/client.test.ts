import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asyncFailure as failure } from '../../support/errors.js';
import { GP_RESULT } from '../../../src/common/errors.js';
import { fromUtf8, utf8 } from '../../../src/common/bytes.js';
import { encode } from '../../../src/common/codec.js';
import type { TraceEvent } from '../../../src/common/trace.js';
import { DRIVER_WIRE_VERSION, readRequest, writeResponse } from '../../../src/tee/index.js';
import {
  ReeCapture,
  closeSession,
  finalizeContext,
  initializeContext,
  invokeCommand,
  memrefOutput,
  openSession,
  type Param,
  type TeeDriver,
} from '../../../src/ree/client-api/index.js';
import { CMD } from '../../tee/fixtures/test-ta.js';
import { TA_A, UNKNOWN_TA, bootTee, type BootedTee } from '../../tee/helpers.js';


describe('TEE Client API against the TEE OS', () => {
  let booted: BootedTee;
  beforeAll(async () => {
    booted = await bootTee();
  });
  afterAll(async () => {
    await booted.cleanup();
  });

  it('traces what the REE hands over: its own bytes, the room it offers, values; never more', async () => {
    const events: TraceEvent[] = [];
    const ctx = await initializeContext(booted.tee.driver, { name: 'wallet', trace: (e) => events.push(e) });
    const s = await openSession(ctx, TA_A, { login: 'public' });
    await invokeCommand(s, CMD.ECHO, [{ type: 'memref_input', buffer: utf8('hello') }, { type: 'memref_output', buffer: new Uint8Array(64) }]);
    await invokeCommand(s, CMD.ADD_VALUES, [
      { type: 'value_input', a: 3, b: 4 }, { type: 'value_inout', a: 1, b: 0 }, { type: 'value_output', a: 9, b: 9 },
    ]);
    const [echo, add] = events.filter((e) => e.text.startsWith('invokes command'));
    expect(echo).toMatchObject({ lane: 'REE', actor: 'client-api', text: `invokes command ${CMD.ECHO}` });
    expect(echo!.detail).toEqual({
      session: expect.stringMatching(/^[0-9a-f]+…[0-9a-f]+ \(16 B\)$/),
      param0: 'memref_input 68656c6c6f (5 B)',
      param1: 'memref_output, room for 64 B',
    });
    // An output value's content is not sent, so it is not shown either.
    expect(add!.detail).toMatchObject({ param0: 'value_input a=3 b=4', param1: 'value_inout a=1 b=0', param2: 'value_output a=0 b=0' });
    await finalizeContext(ctx);
  });

  it('updates output params in place, TEEC style', async () => {
    const ctx = await initializeContext(booted.tee.driver, { name: 'wallet' });
    const s = await openSession(ctx, TA_A, { login: 'public' });
    const params: Param[] = [
      { type: 'value_input', a: 40, b: 7 },
      { type: 'value_inout', a: 2, b: 0 },
      { type: 'value_output', a: 0, b: 0 },
    ];
    const out = await invokeCommand(s, CMD.ADD_VALUES, params);
    expect(out).toBe(params);
    expect(params[2]).toEqual({ type: 'value_output', a: 42, b: 0 });
    expect(params[1]).toEqual({ type: 'value_inout', a: 2, b: 7 });

    const buf = new Uint8Array(64);
    const echo: Param[] = [{ type: 'memref_input', buffer: utf8('hello') }, { type: 'memref_output', buffer: buf }];
    await invokeCommand(s, CMD.ECHO, echo);
    expect(fromUtf8(memrefOutput(echo[1]!))).toBe('hello');
    expect((echo[1] as { size?: number }).size).toBe(5);
    await finalizeContext(ctx);
  });

  it('maps TEE results to one error type with code, origin and GP result', async () => {
    const ctx = await initializeContext(booted.tee.driver);
    const notFound = await failure(openSession(ctx, UNKNOWN_TA, { login: 'public' }));
    expect([notFound.code, notFound.origin, notFound.gpResult]).toEqual(['ITEM_NOT_FOUND', 'TEE', GP_RESULT.ITEM_NOT_FOUND]);
    const s = await openSession(ctx, TA_A, { login: 'public' });
    const unknownCmd = await failure(invokeCommand(s, 999));
    expect([unknownCmd.code, unknownCmd.origin, unknownCmd.gpResult]).toEqual(['NOT_SUPPORTED', 'TRUSTED_APP', 0xffff000a]);
    const short = await failure(invokeCommand(s, CMD.ECHO, [{ type: 'memref_input', buffer: new Uint8Array(10) }, { type: 'memref_output', buffer: new Uint8Array(4) }]));
    expect([short.code, short.origin]).toEqual(['OVERFLOW', 'TRUSTED_APP']);
    await finalizeContext(ctx);
  });

  it('refuses bad arguments locally with origin API, before any byte is sent', async () => {
    const capture = new ReeCapture();
    const ctx = await initializeContext(booted.tee.driver, { capture: capture.hook });
    const before = capture.count();
    const cases: Promise<unknown>[] = [
      openSession(ctx, 'not-a-uuid', { login: 'public' }),
      openSession(ctx, TA_A, { login: 'user' }),
      openSession(ctx, TA_A, { login: 'root' as 'user', identity: 'x' }),
      openSession(ctx, TA_A, { login: 'public' }, [{ type: 'value_input', a: -1, b: 0 }]),
      openSession(ctx, TA_A, { login: 'public' }, [{ type: 'memref_input', buffer: new Uint8Array(1024 * 1024 + 1) }]),
      openSession(ctx, TA_A, { login: 'public' }, [{ type: 'handle_input', handle: new Uint8Array(3) }]),
      openSession(ctx, TA_A, { login: 'public' }, Array(5).fill({ type: 'none' })),
    ];
    for (const c of cases) {
      const e = await failure(c);
      expect([e.code, e.origin]).toEqual(['BAD_PARAMETERS', 'API']);
    }
    expect(capture.count()).toBe(before);
    await finalizeContext(ctx);
  });

  it('gives BAD_STATE for calls on a closed session or a finalized context', async () => {
    const ctx = await initializeContext(booted.tee.driver);
    const s = await openSession(ctx, TA_A, { login: 'public' });
    const s2 = await openSession(ctx, TA_A, { login: 'public' });
    await closeSession(s);
    expect((await failure(closeSession(s))).code).toBe('BAD_STATE');
    expect((await failure(invokeCommand(s, CMD.STATE_COUNT, [{ type: 'value_output', a: 0, b: 0 }]))).code).toBe('BAD_STATE');
    await finalizeContext(ctx);
    for (const p of [finalizeContext(ctx), openSession(ctx, TA_A), invokeCommand(s2, CMD.ECHO), closeSession(s2)]) {
      const e = await failure(p);
      expect([e.code, e.origin]).toEqual(['BAD_STATE', 'API']);
    }
  });

  it('capture hook sees every request and every response, in order', async () => {
    const capture = new ReeCapture();
    const ctx = await initializeContext(booted.tee.driver, { capture: capture.hook });
    const s = await openSession(ctx, TA_A, { login: 'user', identity: 'alice' });
    await invokeCommand(s, CMD.ECHO, [{ type: 'memref_input', buffer: utf8('ping-payload') }, { type: 'memref_output', buffer: new Uint8Array(32) }]);
    await closeSession(s);
    await finalizeContext(ctx);
    expect(capture.records.map((r) => r.direction)).toEqual(Array(5).fill(['ree->tee', 'tee->ree']).flat());
    expect(capture.count('ree->tee')).toBe(5);
    const ops = capture.records.filter((r) => r.direction === 'ree->tee').map((r) => readRequest(r.bytes).op);
    expect(ops).toEqual(['initializeContext', 'openSession', 'invokeCommand', 'closeSession', 'finalizeContext']);
    expect(capture.totalBytes).toBe(capture.records.reduce((n, r) => n + r.bytes.length, 0));
    expect(capture.contains(utf8('ping-payload'))).toBe(true);
  });
});

describe('TEE Client API against a hostile or broken driver', () => {
  it('turns a failing driver into COMMUNICATION', async () => {
    const e = await failure(initializeContext({ submit: async () => { throw new Error('ioctl failed: /dev/tee0'); } }));
    expect([e.code, e.origin, e.message]).toEqual(['COMMUNICATION', 'COMMS', 'initializeContext: driver failed']);
  });

  it.each([
    ['garbage', new Uint8Array([0xc1, 0xff])],
    ['another layout version', new Uint8Array([DRIVER_WIRE_VERSION + 1, 0, ...new Uint8Array(16)])],
    ['neither ok nor error', new Uint8Array([DRIVER_WIRE_VERSION, 7, ...new Uint8Array(16)])],
    ['bad error code', writeResponse({ ok: false, code: 'ROOT', origin: 'TEE', message: 'x' }, 'initializeContext')],
    ['short context id', new Uint8Array([DRIVER_WIRE_VERSION, 0, 1, 2, 3])],
    ['bytes left over', new Uint8Array([DRIVER_WIRE_VERSION, 0, ...new Uint8Array(17)])],
  ])('turns a malformed response (%s) into COMMUNICATION', async (_n, reply) => {
    const e = await failure(initializeContext({ submit: async () => reply }));
    expect(e.code).toBe('COMMUNICATION');
  });

  it('refuses an output larger than the buffer the caller offered', async () => {
    // A driver that lies: answers every op, and returns 9 bytes into an 8-byte buffer.
    const liar: TeeDriver = {
      submit: async (request) => {
        const op = readRequest(request).op as string;
        if (op === 'initializeContext') return writeResponse({ ok: true, context: new Uint8Array(16) }, op);
        if (op === 'openSession') return writeResponse({ ok: true, session: new Uint8Array(16), params: [] }, op);
        return writeResponse({ ok: true, params: [{ type: 'memref_output', buffer: new Uint8Array(9) }] }, op);
      },
    };
    const ctx = await initializeContext(liar);
    const s = await openSession(ctx, TA_A);
    const e = await failure(invokeCommand(s, 1, [{ type: 'memref_output', buffer: new Uint8Array(8) }]));
    expect(e.code).toBe('COMMUNICATION');
  });
});

describe('ReeCapture', () => {
  it('finds secrets raw, in hex and in base64, and nothing else', () => {
    const c = new ReeCapture();
    const secret = Uint8Array.from({ length: 32 }, (_, i) => (i * 37 + 11) & 0xff);
    c.hook('tee->ree', encode({ pub: new Uint8Array([1, 2, 3]) }));
    expect(c.contains(secret)).toBe(false);
    c.hook('ree->tee', utf8(`{"k":"${Buffer.from(secret).toString('hex')}"}`));
    expect(c.contains(secret)).toBe(true);
    c.clear();
    c.hook('ree->tee', utf8(Buffer.from(secret).toString('base64url')));
    expect(c.contains(secret)).toBe(true);
    c.clear();
    c.hook('ree->tee', encode({ k: secret }));
    expect(c.contains(secret)).toBe(true);
    expect(c.totalBytes).toBeGreaterThan(32);
  });

  it('keeps its own copy of captured bytes', () => {
    const c = new ReeCapture();
    const b = new Uint8Array([5, 6, 7]);
    c.hook('ree->tee', b);
    b.fill(0);
    expect(c.contains(new Uint8Array([5, 6, 7]))).toBe(true);
  });
});
