/** xtest-style session conformance: lifecycle, binding to contexts, limits, panics, instances. */
import { asyncFailure as failure } from '../support/errors.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TeeError } from '../../src/common/errors.js';
import { fromUtf8 } from '../../src/common/bytes.js';
import { sendRequest } from '../support/driver.js';
import type { TeeRequest } from '../../src/tee/index.js';
import { closeSession, finalizeContext, initializeContext, invokeCommand, memrefOutput, openSession, type Param } from '../../src/ree/client-api/index.js';
import { utf8 } from '../../src/common/bytes.js';
import { measureTaCode, signTaManifest, type TaImplementation } from '../../src/tee/index.js';
import { CMD, testTa } from './fixtures/test-ta.js';
import { TA_A, TA_B, UNKNOWN_TA, bootTee, provider, taSigningKey, testPackage, testTaCode, type BootedTee } from './helpers.js';

/** Install an ad-hoc TA whose "code" is a label (the tests only need a matching measurement). */
function installCustom(b: BootedTee, uuid: string, ta: TaImplementation, flags = {}): void {
  const code = utf8(`custom TA ${uuid}`);
  const pkg = signTaManifest(provider, taSigningKey, { uuid, name: 'custom', version: '1', measurement: measureTaCode(provider, code), flags });
  b.tee.installTa(pkg, code, ta);
}


/** Talk to the driver directly, as a hostile REE would. */
async function raw(b: BootedTee, request: unknown): Promise<Record<string, unknown>> {
  const r = request as Record<string, unknown>;
  // The tests write requests tersely: fill in what the layout always carries.
  const full = { params: [], ...r, ...(r.op === 'openSession' ? { login: { identity: '', ...(r.login as object) } } : {}) } as unknown as TeeRequest;
  if (r.op === 'initializeContext' || r.op === 'finalizeContext' || r.op === 'closeSession') delete (full as { params?: unknown }).params;
  return sendRequest(b.tee.driver, full);
}

const count = (): Param[] => [{ type: 'value_output', a: 0, b: 0 }];

describe('sessions', () => {
  let b: BootedTee;
  beforeAll(async () => {
    b = await bootTee({ limits: { maxSessionsPerContext: 4, maxContexts: 8 } });
  });
  afterAll(async () => {
    await b.cleanup();
  });

  it('open, invoke, close', async () => {
    const ctx = await initializeContext(b.tee.driver);
    const s = await openSession(ctx, TA_A, { login: 'public' });
    const p = count();
    await invokeCommand(s, CMD.STATE_COUNT, p);
    await invokeCommand(s, CMD.STATE_COUNT, p);
    expect(p[0]).toMatchObject({ a: 2 });
    await closeSession(s);
    await finalizeContext(ctx);
  });

  it('keeps per-session state apart', async () => {
    const ctx = await initializeContext(b.tee.driver);
    const s1 = await openSession(ctx, TA_A);
    const s2 = await openSession(ctx, TA_A);
    const p1 = count();
    const p2 = count();
    await invokeCommand(s1, CMD.STATE_COUNT, p1);
    await invokeCommand(s1, CMD.STATE_COUNT, p1);
    await invokeCommand(s2, CMD.STATE_COUNT, p2);
    expect([p1[0], p2[0]]).toMatchObject([{ a: 2 }, { a: 1 }]);
    await finalizeContext(ctx);
  });

  it('passes the login to the TA', async () => {
    const ctx = await initializeContext(b.tee.driver);
    for (const [login, identity, expected] of [['public', undefined, 'public:'], ['user', 'uid=1000', 'user:uid=1000'], ['application', 'wallet', 'application:wallet']] as const) {
      const s = await openSession(ctx, TA_A, identity ? { login, identity } : { login });
      const p: Param[] = [{ type: 'memref_output', buffer: new Uint8Array(64) }];
      await invokeCommand(s, CMD.WHOAMI, p);
      expect(fromUtf8(memrefOutput(p[0]!))).toBe(expected);
      await closeSession(s);
    }
    await finalizeContext(ctx);
  });

  it('answers an unknown TA with ITEM_NOT_FOUND', async () => {
    const ctx = await initializeContext(b.tee.driver);
    const e = await failure(openSession(ctx, UNKNOWN_TA));
    expect([e.code, e.message]).toEqual(['ITEM_NOT_FOUND', 'TA: not found']);
    await finalizeContext(ctx);
  });

  it('a closed session is gone on the TEE side too (close twice, invoke after close)', async () => {
    const init = await raw(b, { op: 'initializeContext' });
    const context = init.context as Uint8Array;
    const open = await raw(b, { op: 'openSession', context, uuid: TA_A, login: { login: 'public' } });
    const session = open.session as Uint8Array;
    expect(await raw(b, { op: 'closeSession', context, session })).toEqual({ ok: true });
    expect(await raw(b, { op: 'closeSession', context, session })).toMatchObject({ ok: false, code: 'ITEM_NOT_FOUND', message: 'session: not found' });
    expect(await raw(b, { op: 'invokeCommand', context, session, commandId: CMD.ECHO, params: [] })).toMatchObject({ ok: false, code: 'ITEM_NOT_FOUND' });
    await raw(b, { op: 'finalizeContext', context });
  });

  it('finalizing a context closes its sessions and kills the context id', async () => {
    const init = await raw(b, { op: 'initializeContext' });
    const context = init.context as Uint8Array;
    const open = await raw(b, { op: 'openSession', context, uuid: TA_A, login: { login: 'public' } });
    expect(await raw(b, { op: 'finalizeContext', context })).toEqual({ ok: true });
    const again = await raw(b, { op: 'invokeCommand', context, session: open.session, commandId: CMD.ECHO, params: [] });
    expect(again).toMatchObject({ ok: false, code: 'ITEM_NOT_FOUND', message: 'context: not found' });
    expect(await raw(b, { op: 'finalizeContext', context })).toMatchObject({ ok: false, code: 'ITEM_NOT_FOUND' });
  });

  it('binds a session to its context: another context gets the same answer as a random id', async () => {
    const ctxA = (await raw(b, { op: 'initializeContext' })).context as Uint8Array;
    const ctxB = (await raw(b, { op: 'initializeContext' })).context as Uint8Array;
    const session = (await raw(b, { op: 'openSession', context: ctxA, uuid: TA_A, login: { login: 'public' } })).session as Uint8Array;
    const stolen = await raw(b, { op: 'invokeCommand', context: ctxB, session, commandId: CMD.STATE_COUNT, params: [{ type: 'value_output' }] });
    const guessed = await raw(b, { op: 'invokeCommand', context: ctxB, session: b.tee.provider.randomBytes(16), commandId: CMD.STATE_COUNT, params: [{ type: 'value_output' }] });
    expect(stolen).toEqual(guessed);
    expect(stolen).toMatchObject({ ok: false, code: 'ITEM_NOT_FOUND' });
    expect(await raw(b, { op: 'closeSession', context: ctxB, session })).toEqual(guessed);
    // The rightful context still works.
    expect(await raw(b, { op: 'invokeCommand', context: ctxA, session, commandId: CMD.STATE_COUNT, params: [{ type: 'value_output' }] })).toMatchObject({ ok: true });
    await raw(b, { op: 'finalizeContext', context: ctxA });
    await raw(b, { op: 'finalizeContext', context: ctxB });
  });

  it('limits sessions per context and contexts per TEE', async () => {
    const ctx = await initializeContext(b.tee.driver);
    for (let i = 0; i < 4; i++) await openSession(ctx, TA_A);
    expect((await failure(openSession(ctx, TA_A))).code).toBe('BUSY');
    await finalizeContext(ctx);
    const ctxs = [];
    let busy: TeeError | undefined;
    for (let i = 0; i < 9 && !busy; i++) {
      try {
        ctxs.push(await initializeContext(b.tee.driver));
      } catch (err) {
        busy = err as TeeError;
      }
    }
    expect(busy?.code).toBe('BUSY');
    for (const c of ctxs) await finalizeContext(c);
    // Slots come back once released.
    await finalizeContext(await initializeContext(b.tee.driver));
  });

  it('a TA panic kills that session only; the message leaks nothing and the TEE goes on', async () => {
    const ctx = await initializeContext(b.tee.driver);
    const victim = await openSession(ctx, TA_A);
    const bystander = await openSession(ctx, TA_A);
    const e = await failure(invokeCommand(victim, CMD.PANIC));
    expect([e.code, e.origin, e.message]).toEqual(['GENERIC', 'TEE', 'TA panicked']);
    const dead = await failure(invokeCommand(victim, CMD.STATE_COUNT, count()));
    expect(dead.code).toBe('BAD_STATE');
    const p = count();
    await invokeCommand(bystander, CMD.STATE_COUNT, p);
    expect(p[0]).toMatchObject({ a: 1 });
    await closeSession(victim);
    const fresh = await openSession(ctx, TA_A);
    await invokeCommand(fresh, CMD.STATE_COUNT, count());
    await finalizeContext(ctx);
  });

  it('a TA panic in a single-instance TA kills every session of that instance, then it restarts', async () => {
    const single = 'dddddddd-0000-4000-8000-00000000000d';
    b.tee.installTa(testPackage(single, { singleInstance: true, multiSession: true }), testTaCode, testTa);
    const ctx = await initializeContext(b.tee.driver);
    const s1 = await openSession(ctx, single);
    const s2 = await openSession(ctx, single);
    await failure(invokeCommand(s1, CMD.PANIC));
    expect((await failure(invokeCommand(s2, CMD.STATE_COUNT, count()))).code).toBe('BAD_STATE');
    await closeSession(s1);
    await closeSession(s2);
    const s3 = await openSession(ctx, single);
    await invokeCommand(s3, CMD.STATE_COUNT, count());
    await finalizeContext(ctx);
  });

  it('a single-instance TA without multiSession takes one session at a time', async () => {
    const lonely = 'eeeeeeee-0000-4000-8000-00000000000e';
    b.tee.installTa(testPackage(lonely, { singleInstance: true }), testTaCode, testTa);
    const ctx = await initializeContext(b.tee.driver);
    const s = await openSession(ctx, lonely);
    expect((await failure(openSession(ctx, lonely))).code).toBe('BUSY');
    await closeSession(s);
    await closeSession(await openSession(ctx, lonely));
    await finalizeContext(ctx);
  });

  it('serves sessions of different TAs side by side', async () => {
    const ctx = await initializeContext(b.tee.driver);
    const [a, bb] = await Promise.all([openSession(ctx, TA_A), openSession(ctx, TA_B)]);
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => invokeCommand(i % 2 ? a : bb, CMD.STATE_COUNT, count())));
    expect(results).toHaveLength(10);
    await finalizeContext(ctx);
  });

  it('a TA may refuse a session; its answer keeps code and gets origin TRUSTED_APP', async () => {
    const uuid = '12121212-0000-4000-8000-000000000012';
    const created: string[] = [];
    installCustom(b, uuid, () => ({
      onCreate: (env) => void created.push(env.uuid),
      onOpenSession: (session) => {
        if (session.client.login === 'public') throw new TeeError('ACCESS_DENIED', 'custom TA: login required');
      },
      onInvokeCommand: () => undefined,
    }));
    const ctx = await initializeContext(b.tee.driver);
    const e = await failure(openSession(ctx, uuid));
    expect([e.code, e.origin, e.message]).toEqual(['ACCESS_DENIED', 'TRUSTED_APP', 'custom TA: login required']);
    await openSession(ctx, uuid, { login: 'user', identity: 'u1' });
    await openSession(ctx, uuid, { login: 'user', identity: 'u2' });
    // A factory gives every (multi-instance) session its own instance, each created once.
    expect(created).toEqual([uuid, uuid, uuid]);
    await finalizeContext(ctx);
  });

  it('finalizing a context while a session is still opening leaves nothing behind', async () => {
    const uuid = '34343434-0000-4000-8000-000000000034';
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const closed: string[] = [];
    installCustom(b, uuid, {
      onOpenSession: () => gate,
      onInvokeCommand: () => undefined,
      onCloseSession: (s) => void closed.push(s.sessionId),
    });
    const context = (await raw(b, { op: 'initializeContext' })).context as Uint8Array;
    const opening = raw(b, { op: 'openSession', context, uuid, login: { login: 'public' } });
    await new Promise((r) => setImmediate(r));
    const finalizing = raw(b, { op: 'finalizeContext', context });
    release();
    expect(await opening).toMatchObject({ ok: false, code: 'BAD_STATE' });
    expect(await finalizing).toEqual({ ok: true });
    expect(closed).toHaveLength(1);
    expect(await raw(b, { op: 'finalizeContext', context })).toMatchObject({ ok: false, code: 'ITEM_NOT_FOUND' });
  });
});
