/** Handles through a TA: bound to the session that got them, and every miss looks the same. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TeeError } from '../../src/common/errors.js';
import { utf8 } from '../../src/common/bytes.js';
import { closeSession, finalizeContext, initializeContext, invokeCommand, memrefOutput, openSession, type TeecSession, type Param } from '../../src/ree/client-api/index.js';
import { CMD } from './fixtures/test-ta.js';
import { TA_A, TA_B, bootTee, provider, type BootedTee } from './helpers.js';

async function createKey(s: TeecSession): Promise<Uint8Array> {
  const p: Param[] = [{ type: 'memref_output', buffer: new Uint8Array(16) }];
  await invokeCommand(s, CMD.KEY_CREATE, p);
  return memrefOutput(p[0]!).slice();
}

async function mac(s: TeecSession, handle: Uint8Array): Promise<Uint8Array> {
  const p: Param[] = [{ type: 'handle_input', handle }, { type: 'memref_input', buffer: utf8('msg') }, { type: 'memref_output', buffer: new Uint8Array(32) }];
  await invokeCommand(s, CMD.KEY_MAC, p);
  return memrefOutput(p[2]!).slice();
}

async function miss(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(TeeError);
    const e = err as TeeError;
    return `${e.code}/${e.origin}/${e.message}`;
  }
  throw new Error('expected a miss');
}

describe('handles across sessions', () => {
  let b: BootedTee;
  beforeAll(async () => {
    b = await bootTee();
  });
  afterAll(async () => {
    await b.cleanup();
  });

  it('a handle works in the session that created it', async () => {
    const ctx = await initializeContext(b.tee.driver);
    const s = await openSession(ctx, TA_A);
    const h = await createKey(s);
    expect(h).toHaveLength(16);
    expect(await mac(s, h)).toEqual(await mac(s, h));
    await finalizeContext(ctx);
  });

  it('forged, cross-session, cross-TA, deleted and after-close handles get identical ITEM_NOT_FOUND', async () => {
    const ctx = await initializeContext(b.tee.driver);
    const other = await initializeContext(b.tee.driver);
    const owner = await openSession(ctx, TA_A);
    const sibling = await openSession(ctx, TA_A);
    const foreignCtx = await openSession(other, TA_A);
    const otherTa = await openSession(ctx, TA_B);
    const h = await createKey(owner);
    const deleted = await createKey(owner);
    await invokeCommand(owner, CMD.KEY_DELETE, [{ type: 'handle_input', handle: deleted }]);

    const misses = [
      await miss(mac(owner, provider.randomBytes(16))),
      await miss(mac(sibling, h)),
      await miss(mac(foreignCtx, h)),
      await miss(mac(otherTa, h)),
      await miss(mac(owner, deleted)),
      await miss(invokeCommand(owner, CMD.KEY_DELETE, [{ type: 'handle_input', handle: deleted }])),
    ];
    // Reopen after close: the old handle is dead even in a new session of the same client.
    await closeSession(owner);
    const reopened = await openSession(ctx, TA_A);
    misses.push(await miss(mac(reopened, h)));

    expect(new Set(misses)).toEqual(new Set(['ITEM_NOT_FOUND/TRUSTED_APP/handle: not found']));
    await finalizeContext(ctx);
    await finalizeContext(other);
  });

  it('random 16-byte handles never hit (many tries)', async () => {
    const ctx = await initializeContext(b.tee.driver);
    const s = await openSession(ctx, TA_A);
    for (let i = 0; i < 20; i++) await createKey(s);
    for (let i = 0; i < 100; i++) {
      expect(await miss(mac(s, provider.randomBytes(16)))).toBe('ITEM_NOT_FOUND/TRUSTED_APP/handle: not found');
    }
    await finalizeContext(ctx);
  });
});
