/** The printed demo: three lanes within 100 columns, one terminal QR, a summary; --json is JSON. */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { PROVIDERS } from '../../../src/crypto/index.js';
import { runDemo } from '../../../src/ree/demo/index.js';

function sink(): { out: Writable; text: () => string } {
  const chunks: string[] = [];
  const out = new Writable({
    write(chunk, _enc, done) {
      chunks.push(String(chunk));
      done();
    },
  });
  return { out, text: () => chunks.join('') };
}

describe('runDemo', () => {
  it('prints both flows in three lanes, one QR code and the summary, within 100 columns', async () => {
    const { out, text } = sink();
    const summary = await runDemo({ which: 'both', out, backend: 'in-process', provider: PROVIDERS.native });
    expect(summary).toMatchObject({ onlinePayments: 1, offlinePayments: 1 });
    const lines = text().split('\n');
    for (const lane of ['REE     │', 'TEE OS  │', 'TRUSTED │']) expect(lines.some((l) => l.startsWith(lane))).toBe(true);
    expect(lines.filter((l) => /camera read/.test(l))).toHaveLength(1);
    expect(text()).toMatch(/payments made: 1 online, 1 offline/);
    expect(text()).toMatch(/signatures verified: \d+/);
    expect(text()).toMatch(/encrypted channel frames/);
    expect(Math.max(...lines.map((l) => [...l].length))).toBeLessThanOrEqual(100);
    expect(text()).not.toMatch(/73925184/);
  }, 30_000);

  it('--json: the trace events and the summary, nothing else', async () => {
    const { out, text } = sink();
    await runDemo({ which: 'offline', json: true, out, backend: 'in-process', provider: PROVIDERS.native });
    const parsed = JSON.parse(text()) as { events: { lane: string; text: string }[]; summary: { offlinePayments: number } };
    expect(parsed.summary.offlinePayments).toBe(1);
    expect(new Set(parsed.events.map((e) => e.lane))).toEqual(new Set(['REE', 'TEE', 'TK']));
  }, 30_000);
});
