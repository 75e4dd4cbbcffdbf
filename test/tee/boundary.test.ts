/** The driver boundary under hostile input: every bad request gets a typed answer and the TEE keeps working. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { isTeeErrorCode } from '../../src/common/errors.js';
import { utf8 } from '../../src/common/bytes.js';
import { encodeTeeRequest, type TeeRequest, type WireParam } from '../../src/tee/index.js';
import { OP, RawRequest, sendBytes, sendRequest, type Reply } from '../support/driver.js';
import { finalizeContext, initializeContext, invokeCommand, openSession, type Param } from '../../src/ree/client-api/index.js';
import { MAX_MEMREF_BYTES } from '../../src/tee/index.js';
import { CMD } from './fixtures/test-ta.js';
import { TA_A, bootTee, type BootedTee } from './helpers.js';

describe('driver boundary', () => {
  let b: BootedTee;
  let context: Uint8Array;
  let session: Uint8Array;

  const submit = (bytes: Uint8Array): Promise<Reply> => sendBytes(b.tee.driver, bytes);
  const send = (request: TeeRequest): Promise<Reply> => sendRequest(b.tee.driver, request);
  const invoke = (commandId: number, params: WireParam[]): Promise<Reply> => send({ op: 'invokeCommand', context, session, commandId, params });

  /** The TEE still answers a well-formed call correctly. */
  async function stillWorks(): Promise<void> {
    const r = (await invoke(CMD.ECHO, [{ type: 'memref_input', buffer: utf8('ok') }, { type: 'memref_output', size: 8 }])) as Reply & { params: { buffer: Uint8Array }[] };
    expect(r.ok).toBe(true);
    expect(r.params[1]!.buffer).toEqual(utf8('ok'));
  }

  function expectTypedError(r: Reply): void {
    expect(r.ok).toBe(false);
    expect(isTeeErrorCode(r.code)).toBe(true);
    expect(typeof r.message).toBe('string');
    expect(r.message).not.toMatch(/at .*\.ts|node_modules/);
  }

  beforeAll(async () => {
    b = await bootTee();
    context = ((await send({ op: 'initializeContext', name: 'fuzzer' })) as Reply & { context: Uint8Array }).context;
    session = ((await send({ op: 'openSession', context, uuid: TA_A, login: { login: 'public', identity: '' }, params: [] })) as Reply & { session: Uint8Array }).session;
  });
  afterAll(async () => {
    await b.cleanup();
  });

  it('a TA handler refuses wrong parameter types with BAD_PARAMETERS', async () => {
    const ctx = await initializeContext(b.tee.driver);
    const s = await openSession(ctx, TA_A);
    const wrong: Param[][] = [
      [],
      [{ type: 'value_input', a: 1, b: 2 }, { type: 'memref_output', buffer: new Uint8Array(4) }],
      [{ type: 'memref_input', buffer: utf8('x') }, { type: 'memref_inout', buffer: new Uint8Array(4) }],
      [{ type: 'memref_input', buffer: utf8('x') }, { type: 'memref_output', buffer: new Uint8Array(4) }, { type: 'value_input', a: 0, b: 0 }],
    ];
    for (const p of wrong) {
      await expect(invokeCommand(s, CMD.ECHO, p)).rejects.toMatchObject({ code: 'BAD_PARAMETERS', origin: 'TRUSTED_APP' });
    }
    await finalizeContext(ctx);
  });

  it('an unknown command gets NOT_SUPPORTED', async () => {
    expect(await invoke(0xffff_ffff, [])).toMatchObject({ ok: false, code: 'NOT_SUPPORTED', origin: 'TRUSTED_APP' });
  });

  it('an oversized memref sent straight to the driver gets BAD_PARAMETERS from the TEE', async () => {
    const r = await invoke(CMD.ECHO, [{ type: 'memref_input', buffer: new Uint8Array(MAX_MEMREF_BYTES + 1) }, { type: 'memref_output', size: 8 }]);
    expect(r).toMatchObject({ ok: false, code: 'BAD_PARAMETERS', origin: 'TEE' });
    expect(r.message).toMatch(/param 0\.buffer/);
    const huge = await submit(new Uint8Array(3 * 1024 * 1024));
    expect(huge).toMatchObject({ ok: false, code: 'BAD_PARAMETERS', origin: 'COMMS' });
    await stillWorks();
  });

  const ID = new Uint8Array(16);
  const openSessionWith = (uuid: string, login: number, identity: string): Uint8Array =>
    RawRequest.start(OP.openSession).raw(ID).str8(uuid).u8(login).str16(identity).u8(0).done();
  const invokeWith = (build: (r: RawRequest) => RawRequest): Uint8Array => build(RawRequest.start(OP.invokeCommand).raw(ID).raw(ID).u32(CMD.ECHO)).done();

  it.each([
    ['empty bytes', new Uint8Array(0)],
    ['truncated request', encodeTeeRequest({ op: 'invokeCommand', context: ID, session: ID, commandId: 1, params: [{ type: 'memref_input', buffer: utf8('abc') }] }).subarray(0, 30)],
    ['trailing bytes', new Uint8Array([...encodeTeeRequest({ op: 'initializeContext' }), 0x00])],
    ['another layout version', RawRequest.start(OP.initializeContext, 2).str16('x').done()],
    ['unknown op', RawRequest.start(0x54).done()],
    ['trusted UI input from the REE', RawRequest.start(0x80).raw(ID).u8(1).str16('1234').done()],
    ['a length that lies', RawRequest.start(OP.initializeContext).u16(1000).raw(utf8('abc')).done()],
    ['a name that is not UTF-8', RawRequest.start(OP.initializeContext).u16(2).raw([0xff, 0xfe]).done()],
    ['a name too long', RawRequest.start(OP.initializeContext).str16('n'.repeat(200)).done()],
    ['uuid with uppercase', openSessionWith(TA_A.toUpperCase(), 0, '')],
    ['unknown login method', openSessionWith(TA_A, 9, '')],
    ['public login with identity', openSessionWith(TA_A, 0, 'root')],
    ['five params', invokeWith((r) => r.u8(5).raw([0, 0, 0, 0, 0]))],
    ['unknown param type', invokeWith((r) => r.u8(1).u8(8))],
    ['handle of wrong length', invokeWith((r) => r.u8(1).u8(7).u8(15).raw(new Uint8Array(15)))],
    ['memref longer than the message', invokeWith((r) => r.u8(1).u8(4).u32(0xffff_ffff).raw([1, 2, 3]))],
    ['output memref offering more than the limit', invokeWith((r) => r.u8(1).u8(5).u32(MAX_MEMREF_BYTES + 1))],
  ])('malformed request (%s) gets a typed error', async (_name, bytes) => {
    expectTypedError(await submit(bytes));
    await stillWorks();
  });

  it('random bytes never crash the TEE (fast-check)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 256 }), async (bytes) => {
        const r = await submit(bytes);
        if (r.ok) return; // e.g. a lucky well-formed initializeContext
        expectTypedError(r);
      }),
      { numRuns: 300 },
    );
    await stillWorks();
  });

  it('random well-shaped requests with bad fields never crash the TEE (fast-check)', async () => {
    const u32 = fc.integer({ min: 0, max: 0xffff_ffff });
    // Any param type code (8 and up are unknown), with fields that may or may not fit the type.
    const param = fc.record({
      type: fc.integer({ min: 0, max: 9 }),
      a: u32,
      b: u32,
      bytes: fc.uint8Array({ maxLength: 24 }),
      declared: fc.option(u32, { nil: undefined }), // a length that may lie
    });
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 6 }),
        fc.boolean(),
        fc.constantFrom(TA_A, TA_A.toUpperCase(), 'not-a-uuid', ''),
        fc.integer({ min: 0, max: 3 }),
        fc.string({ maxLength: 10 }),
        fc.integer({ min: 0, max: 20 }),
        fc.array(param, { maxLength: 5 }),
        async (op, realIds, uuid, login, identity, commandId, params) => {
          const ids = realIds ? { context, session } : { context: b.tee.provider.randomBytes(16), session: b.tee.provider.randomBytes(16) };
          // Never close or finalize the shared session: the property is about robustness, not lifecycle.
          if (realIds && (op === OP.closeSession || op === OP.finalizeContext)) op = OP.invokeCommand;
          // Nor panic it on purpose (panics have their own test).
          if (commandId === CMD.PANIC) commandId = 0xffff;
          const r = RawRequest.start(op);
          if (op === OP.initializeContext) r.str16(identity);
          else r.raw(ids.context);
          if (op === OP.invokeCommand || op === OP.closeSession) r.raw(ids.session);
          if (op === OP.openSession) r.str8(uuid).u8(login).str16(identity);
          if (op === OP.invokeCommand) r.u32(commandId);
          if (op === OP.openSession || op === OP.invokeCommand) {
            r.u8(params.length);
            for (const p of params) {
              r.u8(p.type);
              if (p.type >= 1 && p.type <= 3) r.u32(p.a).u32(p.b);
              else if (p.type === 5) r.u32(p.a % (2 * MAX_MEMREF_BYTES));
              else if (p.type === 4 || p.type === 6) r.u32(p.declared ?? p.bytes.length).raw(p.bytes);
              else if (p.type === 7) r.u8(p.declared ?? p.bytes.length).raw(p.bytes);
            }
          }
          const reply = await sendBytes(b.tee.driver, r.done(), ['', 'initializeContext', 'finalizeContext', 'openSession', 'invokeCommand', 'closeSession'][op]);
          if (!reply.ok) expectTypedError(reply);
          else if (op === OP.initializeContext) await send({ op: 'finalizeContext', context: reply.context as Uint8Array });
          else if (op === OP.openSession) await send({ op: 'closeSession', context: ids.context, session: reply.session as Uint8Array });
        },
      ),
      { numRuns: 300 },
    );
    await stillWorks();
  });

  it('answers with nothing but the outputs asked for', async () => {
    const secretish = utf8('input that must not echo back');
    const r = (await invoke(CMD.ADD_VALUES, [
      { type: 'value_input', a: 1, b: 2 },
      { type: 'value_inout', a: 3, b: 4 },
      { type: 'value_output', a: 0, b: 0 },
      { type: 'memref_input', buffer: secretish },
    ])) as Reply & { params: unknown[] };
    // The TA refuses the extra memref; and nothing of it appears in the answer.
    expect(r).toMatchObject({ ok: false, code: 'BAD_PARAMETERS' });
    expect(JSON.stringify(r)).not.toContain('must not echo');
    const ok = (await invoke(CMD.ADD_VALUES, [{ type: 'value_input', a: 1, b: 2 }, { type: 'value_inout', a: 3, b: 4 }, { type: 'value_output', a: 0, b: 0 }])) as Reply & { params: unknown[] };
    expect(ok.params).toEqual([{ type: 'none' }, { type: 'value_inout', a: 3, b: 2 }, { type: 'value_output', a: 4, b: 0 }, { type: 'none' }]);
  });
});
