import { describe, expect, it } from 'vitest';
import { utf8 } from '../../src/common/bytes.js';
import { TrustedUi } from '../../src/tee/trusted-ui.js';
import { rejectionCode as codeOf } from '../support/errors.js';

const request = { title: 'Pay 12.00 EUR', lines: ['to shop-42', 'order 7'], requirePin: true };

describe('TrustedUi', () => {
  it('cancels when no user is present', async () => {
    const tui = new TrustedUi();
    expect(await codeOf(tui.confirm(request))).toBe('CANCEL');
    expect(tui.log.at(-1)).toMatchObject({ kind: 'confirm', outcome: 'cancelled' });
  });

  it('shows the request to the user and returns the answer with the PIN', async () => {
    const tui = new TrustedUi();
    const seen: unknown[] = [];
    tui.setUser((prompt) => {
      seen.push(prompt);
      return { confirmed: true, pin: utf8('1234') };
    });
    const r = await tui.confirm(request);
    expect(r).toEqual({ confirmed: true, pin: utf8('1234') });
    expect(seen).toEqual([{ kind: 'confirm', ...request }]);
  });

  it('keeps no PIN in its log', async () => {
    const tui = new TrustedUi();
    tui.setUser(() => ({ confirmed: true, pin: utf8('98765') }));
    await tui.confirm(request);
    expect(JSON.stringify(tui.log)).not.toContain('98765');
    expect(tui.log.at(-1)).toMatchObject({ outcome: 'confirmed', pinEntered: true });
  });

  it('returns declined without a PIN, and drops a PIN that was not asked for', async () => {
    const tui = new TrustedUi();
    const pin = utf8('1234');
    tui.setUser(() => ({ confirmed: false, pin }));
    expect(await tui.confirm(request)).toEqual({ confirmed: false });
    expect(pin).toEqual(new Uint8Array(4));
    tui.setUser(() => ({ confirmed: true, pin: utf8('1') }));
    expect(await tui.confirm({ ...request, requirePin: false })).toEqual({ confirmed: true });
  });

  it('cancels when the user walks away, answers nonsense, or gives no PIN', async () => {
    const tui = new TrustedUi();
    tui.setUser(() => {
      throw new Error('user left');
    });
    expect(await codeOf(tui.confirm(request))).toBe('CANCEL');
    tui.setUser(() => ({ confirmed: 'yes' }) as unknown as { confirmed: boolean });
    expect(await codeOf(tui.confirm(request))).toBe('CANCEL');
    tui.setUser(() => ({ confirmed: true }));
    expect(await codeOf(tui.confirm(request))).toBe('CANCEL');
  });

  it('refuses text that could forge the screen (control and bidi characters)', async () => {
    const tui = new TrustedUi();
    tui.setUser(() => ({ confirmed: true }));
    for (const bad of ['Pay 1\nPay 1000', 'Pay \u202e0001', 'x\u0000']) {
      await expect(tui.confirm({ ...request, title: bad })).rejects.toMatchObject({ code: 'BAD_PARAMETERS' });
      await expect(tui.confirm({ ...request, lines: [bad] })).rejects.toMatchObject({ code: 'BAD_PARAMETERS' });
    }
    await expect(tui.confirm({ ...request, lines: Array(13).fill('x') })).rejects.toMatchObject({ code: 'BAD_PARAMETERS' });
  });

  it('shows one screen at a time, in order', async () => {
    const tui = new TrustedUi();
    const order: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    tui.setUser(async (p) => {
      order.push(`start ${p.title}`);
      if (p.title === 'first') await gate;
      order.push(`end ${p.title}`);
      return { confirmed: true };
    });
    const a = tui.confirm({ title: 'first', lines: [], requirePin: false });
    const b = tui.confirm({ title: 'second', lines: [], requirePin: false });
    await Promise.resolve();
    release();
    await Promise.all([a, b]);
    expect(order).toEqual(['start first', 'end first', 'start second', 'end second']);
  });

  it('logs messages and tells observers', async () => {
    const tui = new TrustedUi();
    const seen: string[] = [];
    tui.onScreen((e) => seen.push(e.kind));
    await tui.message('Payment sent');
    expect(tui.log.at(-1)).toMatchObject({ kind: 'message', text: 'Payment sent' });
    expect(seen).toEqual(['message']);
  });
});
