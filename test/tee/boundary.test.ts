/** The driver boundary under hostile input: every bad request gets a typed answer and the TEE keeps working. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { isTeeErrorCode } from '../../src/common/errors.js';
import { decode, encode } from '../../src/common/codec.js';
import { utf8 } from '../../src/common/bytes.js';
import { finalizeContext, initializeContext, invokeCommand, openSession, type Param } from '../../src/ree/client-api/index.js';
import { MAX_MEMREF_BYTES } from '../../src/tee/index.js';
import { CMD } from './fixtures/test-ta.js';
import { TA_A, bootTee, type BootedTee } from './helpers.js';

type Reply = { ok: boolean; code?: string; origin?: string; message?: string };

describe('driver boundary', () => {
  let b: BootedTee;
  let context: Uint8Array;
  let session: Uint8Array;

  const submit = async (bytes: Uint8Array): Promise<Reply> => decode(await b.tee.driver.submit(bytes)) as Reply;
  const send = (request: unknown): Promise<Reply> => submit(encode(request));
  const invoke = (commandId: number, params: unknown): Promise<Reply> => send({ op: 'invokeCommand', context, session, commandId, params });

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
    session = ((await send({ op: 'openSession', context, uuid: TA_A, login: { login: 'public' } })) as Reply & { session: Uint8Array }).session;
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

  it.each([
    ['empty bytes', new Uint8Array(0)],
    ['truncated msgpack', encode({ op: 'invokeCommand' }).subarray(0, 5)],
    ['trailing bytes', new Uint8Array([...encode({ op: 'initializeContext' }), 0x00])],
    ['msgpack extension', new Uint8Array([0xd4, 0x01, 0x00])],
    ['deep nesting', encode(JSON.parse('['.repeat(40) + ']'.repeat(40)))],
    ['a number', encode(42)],
    ['unknown op', encode({ op: 'readScreen' })],
    ['trusted UI input from the REE', encode({ op: 'tui.confirm', confirmed: true, pin: '1234' })],
    ['context of wrong length', encode({ op: 'finalizeContext', context: new Uint8Array(15) })],
    ['uuid with uppercase', encode({ op: 'openSession', context: new Uint8Array(16), uuid: TA_A.toUpperCase(), login: { login: 'public' } })],
    ['commandId out of range', encode({ op: 'invokeCommand', context: new Uint8Array(16), session: new Uint8Array(16), commandId: -1 })],
    ['public login with identity', encode({ op: 'openSession', context: new Uint8Array(16), uuid: TA_A, login: { login: 'public', identity: 'root' } })],
    ['__proto__ key', utf8('\x81\xa9__proto__\x81\xa2op\xb1initializeContext')],
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
    const anyValue = fc.oneof(fc.integer(), fc.double(), fc.string({ maxLength: 40 }), fc.uint8Array({ maxLength: 24 }), fc.boolean(), fc.constant(null));
    const param = fc.record({
      type: fc.constantFrom('none', 'value_input', 'value_output', 'value_inout', 'memref_input', 'memref_output', 'memref_inout', 'handle_input', 'bogus'),
      a: anyValue,
      b: anyValue,
      buffer: anyValue,
      size: anyValue,
      handle: anyValue,
    });
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('initializeContext', 'finalizeContext', 'openSession', 'invokeCommand', 'closeSession'),
        fc.integer({ min: 0, max: 20 }),
        fc.array(param, { maxLength: 5 }),
        fc.boolean(),
        async (op, commandId, params, realIds) => {
          const ids = realIds ? { context, session } : { context: b.tee.provider.randomBytes(16), session: b.tee.provider.randomBytes(16) };
          // Never close or finalize the shared session: the property is about robustness, not lifecycle.
          const safeOp = realIds && (op === 'closeSession' || op === 'finalizeContext') ? 'invokeCommand' : op;
          // Nor panic it on purpose (panics have their own test).
          if (commandId === CMD.PANIC) commandId = 0xffff;
          const r = await send({ op: safeOp, ...ids, uuid: TA_A, login: { login: 'public' }, commandId, params });
          if (!r.ok) expectTypedError(r);
          else if (safeOp === 'initializeContext') await send({ op: 'finalizeContext', context: (r as unknown as { context: Uint8Array }).context });
          else if (safeOp === 'openSession') await send({ op: 'closeSession', context: ids.context, session: (r as unknown as { session: Uint8Array }).session });
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
      { type: 'value_output' },
      { type: 'memref_input', buffer: secretish },
    ])) as Reply & { params: unknown[] };
    // The TA refuses the extra memref; and nothing of it appears in the answer.
    expect(r).toMatchObject({ ok: false, code: 'BAD_PARAMETERS' });
    expect(JSON.stringify(r)).not.toContain('must not echo');
    const ok = (await invoke(CMD.ADD_VALUES, [{ type: 'value_input', a: 1, b: 2 }, { type: 'value_inout', a: 3, b: 4 }, { type: 'value_output' }])) as Reply & { params: unknown[] };
    expect(ok.params).toEqual([{ type: 'none' }, { type: 'value_inout', a: 3, b: 2 }, { type: 'value_output', a: 4, b: 0 }, { type: 'none' }]);
  });
});
