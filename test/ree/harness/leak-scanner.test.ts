/** The leak scanner: a clean run of the hostile world has no secret in REE-visible bytes; a planted one is found. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { utf8 } from '../../../src/common/bytes.js';
import { createAdversary, DEFAULT_PIN, type Adversary } from '../../../src/ree/harness/adversary.js';
import { LeakScanner, scanForLeaks } from '../../../src/ree/harness/leak-scanner.js';

describe('leak scanner', () => {
  let adv: Adversary;
  beforeAll(async () => {
    adv = await createAdversary();
    const w = await adv.wallet('alice');
    const id = await w.identity('alice');
    await w.call('GET_PUBLIC_KEY', {}, id);
  });
  afterAll(async () => adv?.close());

  it('finds no secret in everything the REE saw', async () => {
    const r = await adv.scanLeaks();
    expect(r.secrets).toBeGreaterThan(10);
    expect(r.bytesScanned).toBeGreaterThan(10_000);
    expect(r.leaks).toEqual([]);
  });

  it('finds a planted secret in every encoding, and the PIN as text', () => {
    const secret = adv.provider.randomBytes(32);
    for (const enc of ['raw', 'hex', 'base64', 'base64url'] as const) {
      const s = new LeakScanner();
      s.addSecret('planted', secret);
      s.addBytes('frame', new Uint8Array(100));
      const text = enc === 'raw' ? secret : utf8(`x${Buffer.from(secret).toString(enc)}y`);
      s.addBytes('captured', text);
      expect(s.scan().leaks.map((l) => l.source)).toEqual(['captured']);
    }
    const s = new LeakScanner();
    s.addTextSecret('pin', DEFAULT_PIN);
    s.addText('log', `error: wrong pin ${DEFAULT_PIN}`);
    expect(s.scan().leaks).toHaveLength(1);
  });

  it('finds a provider-recorded key planted into a captured Client API buffer', async () => {
    const before = await adv.scanLeaks();
    expect(before.leaks).toEqual([]);
    // Plant: an REE-visible buffer carrying a key the trusted key signs with (recorded by the oracle).
    const planted = adv.provider.generateKeyPair('p256').secretKey;
    adv.capture.hook('tee->ree', planted);
    const after = await adv.scanLeaks();
    expect(after.leaks.some((l) => l.source.startsWith('client-api'))).toBe(true);
  });

  it('scanForLeaks (the demo\'s entry point) reports a planted PUK in a log line and a key in a file', async () => {
    const key = adv.provider.randomBytes(32);
    const clean = await scanForLeaks({ secrets: [key], textSecrets: { puk: '8812734412' }, texts: [{ source: 'log', text: 'all fine' }] });
    expect(clean.leaks).toEqual([]);
    const dirty = await scanForLeaks({
      secrets: [key], textSecrets: { puk: '8812734412' },
      texts: [{ source: 'log', text: 'unblock with 8812734412' }],
      buffers: [{ source: 'http body', bytes: utf8(JSON.stringify({ k: Buffer.from(key).toString('base64url') })) }],
    });
    // base64 and base64url text coincide unless the key's encoding has '+' or '/': either may be named.
    expect(dirty.leaks.map((l) => `${l.secret}@${l.source}/${l.encoding.replace('base64url', 'base64')}`).sort()).toEqual(['puk@log/text', 'secret@http body/base64']);
  });
});
