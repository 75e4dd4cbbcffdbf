import { describe, expect, it } from 'vitest';
import { TeeError } from '../../src/common/errors.js';
import { PROVIDERS } from '../../src/crypto/index.js';
import { acceptChannel, connectChannel, createInterceptedPair } from '../../src/channel/index.js';
import { closedWith, expectTeeError, makePki, openPair, rejects, until } from './fixtures.js';

const provider = PROVIDERS.native;
const pki = makePki(provider);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('secure channel calls', () => {
  it('matches 100 concurrent calls to their responses, whatever order the handlers finish in', async () => {
    const { tk, tee } = await openPair(pki);
    tee.handle('square', async (p) => {
      const { n } = p as { n: number };
      await sleep((n * 7) % 13); // finish out of order
      return { n, square: n * n };
    });
    const results = await Promise.all(Array.from({ length: 100 }, (_, n) => tk.call('square', { n })));
    results.forEach((r, n) => expect(r).toEqual({ n, square: n * n }));
    tk.close();
  });

  it('carries calls in both directions at once', async () => {
    const { tk, tee } = await openPair(pki);
    tee.handle('tee.echo', async (p) => {
      await sleep(1);
      return ['tee', p];
    });
    tk.handle('tk.echo', (p) => ['tk', p]);
    const [a, b] = await Promise.all([
      Promise.all(Array.from({ length: 50 }, (_, i) => tk.call('tee.echo', i))),
      Promise.all(Array.from({ length: 50 }, (_, i) => tee.call('tk.echo', i))),
    ]);
    expect(a).toEqual(Array.from({ length: 50 }, (_, i) => ['tee', i]));
    expect(b).toEqual(Array.from({ length: 50 }, (_, i) => ['tk', i]));
    tk.close();
  });

  it('returns a TeeError thrown by a handler with its code, message and origin', async () => {
    const { tk, tee } = await openPair(pki);
    tee.handle('pay', () => {
      throw new TeeError('ACCESS_DENIED', 'user declined on the trusted UI', 'TRUSTED_APP');
    });
    tee.handle('pay-async', async () => {
      throw new TeeError('PIN_BLOCKED', 'pin blocked', 'TEE');
    });
    const e1 = await rejects(tk.call('pay', {}));
    expect(e1.toWire()).toEqual({ code: 'ACCESS_DENIED', message: 'user declined on the trusted UI', origin: 'TRUSTED_APP' });
    expectTeeError(await rejects(tk.call('pay-async', {})), 'PIN_BLOCKED', /pin blocked/);
    expect(tk.closed).toBe(false); // an error response is not a channel failure
    tk.close();
  });

  it('turns any other exception into GENERIC "internal error" without its message', async () => {
    const { tk, tee } = await openPair(pki);
    tee.handle('boom', () => {
      throw new RangeError('secret key 0xdeadbeef is out of range');
    });
    tee.handle('boom-async', () => Promise.reject(new Error('pin was 1234')));
    for (const m of ['boom', 'boom-async']) {
      const err = await rejects(tk.call(m, null));
      expectTeeError(err, 'GENERIC', /^internal error$/);
      expect(err.message).not.toMatch(/deadbeef|1234/);
    }
    tk.close();
  });

  it('answers an unknown method with NOT_SUPPORTED', async () => {
    const { tk } = await openPair(pki);
    expectTeeError(await rejects(tk.call('no.such.method', 1)), 'NOT_SUPPORTED', /no\.such\.method/);
    tk.close();
  });

  it('rejects pending calls with COMMUNICATION when the channel closes, and refuses new ones', async () => {
    const { tk, tee } = await openPair(pki);
    tee.handle('hang', () => new Promise(() => {}));
    const pending = [tk.call('hang', 1), tk.call('hang', 2)];
    await until(() => tee.stats.recordsReceived === 2);
    tk.close();
    for (const p of pending) expectTeeError(await rejects(p), 'COMMUNICATION', /channel closed/);
    expectTeeError(await rejects(tk.call('hang', 3)), 'COMMUNICATION', /channel closed/);
    expect(() => tk.notify('x', 1)).toThrow(TeeError);
    expect(await closedWith(tee)).toBeUndefined(); // the peer saw an orderly close
    expect(tee.closed).toBe(true);
  });

  it('times a call out with COMMUNICATION and ignores the late answer', async () => {
    const { tk, tee } = await openPair(pki);
    let release: () => void = () => {};
    tee.handle('slow', () => new Promise<string>((r) => (release = () => r('late'))));
    tee.handle('fast', () => 'ok');
    expectTeeError(await rejects(tk.call('slow', null, { timeoutMs: 20 })), 'COMMUNICATION', /no response within 20 ms/);
    release();
    expect(await tk.call('fast', null)).toBe('ok');
    expect(tk.closed).toBe(false);
    tk.close();
  });

  it('delivers notifications in order and never answers them', async () => {
    const { tk, tee } = await openPair(pki);
    const got: unknown[] = [];
    tee.onNotification('tick', (p) => got.push(p));
    tee.onNotification('bad', () => {
      throw new Error('ignored');
    });
    tk.notify('bad', null);
    for (let i = 0; i < 10; i++) tk.notify('tick', i);
    await until(() => got.length === 10);
    expect(got).toEqual([...Array(10).keys()]);
    expect(tee.stats.recordsReceived).toBe(11);
    expect(tk.stats.recordsReceived).toBe(1); // only the READY record came back
    tk.close();
  });

  it('lets handlers registered right after the handshake serve the first request', async () => {
    const wire = createInterceptedPair();
    const accepting = acceptChannel(wire.responder, pki.teeOs, { provider }).then((tee) => {
      void tee.call('tk.hello', 'first'); // the TEE OS calls before the trusted key's code has run
      return tee;
    });
    const tk = await connectChannel(wire.initiator, pki.trustedKey, { provider });
    const seen: unknown[] = [];
    tk.handle('tk.hello', (p) => seen.push(p));
    await accepting;
    await until(() => seen.length === 1);
    expect(seen).toEqual(['first']);
    tk.close();
  });

  it('rejects bad arguments with BAD_PARAMETERS and stays open', async () => {
    const { tk, tee } = await openPair(pki);
    tee.handle('echo', (p) => p);
    expectTeeError(await rejects(tk.call('', 1)), 'BAD_PARAMETERS');
    expectTeeError(await rejects(tk.call('x'.repeat(200), 1)), 'BAD_PARAMETERS');
    expectTeeError(await rejects(tk.call('echo', 1, { timeoutMs: -5 })), 'BAD_PARAMETERS');
    expect(await tk.call('echo', { deep: [1, 'two', new Uint8Array([3])] })).toEqual({ deep: [1, 'two', new Uint8Array([3])] });
    tk.close();
  });

  it('closes cleanly from the responder side as well', async () => {
    const { tk, tee } = await openPair(pki);
    const tkClosed = closedWith(tk);
    tee.close();
    expect(await tkClosed).toBeUndefined();
    expect(tk.closed && tee.closed).toBe(true);
  });
});
