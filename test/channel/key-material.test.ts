import { describe, expect, it } from 'vitest';
import { containsBytes } from '../../src/common/bytes.js';
import { PROVIDERS } from '../../src/crypto/index.js';
import type { CryptoProvider } from '../../src/crypto/provider.js';
import { createInterceptedPair, TO_RESPONDER } from '../../src/channel/index.js';
import { InitiatorHandshake, ResponderHandshake } from '../../src/channel/handshake.js';
import { makePki, openPair, until } from './fixtures.js';

describe('no key material crosses the REE', () => {
  for (const provider of Object.values(PROVIDERS)) {
    it(`no frame of a whole session holds a derived, ephemeral or static secret (${provider.name})`, async () => {
      const pki = makePki(provider);
      const secrets: { label: string; bytes: Uint8Array }[] = [];
      const keyLog = (label: string, bytes: Uint8Array) => secrets.push({ label, bytes });
      const wire = createInterceptedPair();
      const { tk, tee } = await openPair(pki, { wire, initiator: { keyLog, rekeyAfterRecords: 3 }, responder: { keyLog, rekeyAfterRecords: 3 } });
      tee.handle('echo', (p) => p);
      tk.handle('echo', (p) => p);
      for (let i = 0; i < 10; i++) {
        await tk.call('echo', { i, pad: new Uint8Array(64).fill(i) });
        await tee.call('echo', `from tee ${i}`);
      }
      tk.notify('bye', null);
      tk.close();
      await until(() => tee.closed);

      secrets.push(
        { label: 'trusted key static secret', bytes: pki.trustedKey.secretKey },
        { label: 'TEE OS static secret', bytes: pki.teeOs.secretKey },
        { label: 'vendor root secret', bytes: pki.vendor.secretKey },
        { label: 'issuer root secret', bytes: pki.issuer.secretKey },
      );
      const labels = secrets.map((s) => s.label).join('\n');
      for (const expected of [/initiator ephemeral secret/, /responder ephemeral secret/, /shared secret/, /finished key/, /traffic key initiator->responder$/m, /traffic key responder->initiator epoch \d+/]) {
        expect(labels).toMatch(expected);
      }

      const frames = wire.log.map((e) => e.frame);
      expect(frames.length).toBeGreaterThan(40);
      // Positive control: the scan does find public values that are meant to travel.
      expect(frames.some((f) => containsBytes(f, pki.teeOs.certificate.publicKey))).toBe(true);
      for (const { label, bytes } of secrets) {
        expect(bytes.length, label).toBeGreaterThanOrEqual(12);
        for (const frame of frames) expect(containsBytes(frame, bytes), `${label} found in a frame`).toBe(false);
      }
    });
  }

  it('zeroes ephemeral secrets, shared secrets and intermediate key material once the keys exist', () => {
    const base = PROVIDERS.native;
    const pki = makePki(base);
    const held: { what: string; bytes: Uint8Array }[] = [];
    // A provider that remembers every secret buffer it hands out, to look at them afterwards.
    const spy: CryptoProvider = {
      ...base,
      generateKeyPair(alg) {
        const kp = base.generateKeyPair(alg);
        if (alg === 'x25519') held.push({ what: 'ephemeral secret', bytes: kp.secretKey });
        return kp;
      },
      x25519(sk, pk) {
        const shared = base.x25519(sk, pk);
        held.push({ what: 'shared secret', bytes: shared });
        return shared;
      },
      hkdfSha256(ikm, salt, info, length) {
        const okm = base.hkdfSha256(ikm, salt, info, length);
        held.push({ what: `hkdf ${new TextDecoder().decode(info)}`, bytes: okm });
        return okm;
      },
    };
    const initiator = new InitiatorHandshake(pki.trustedKey, { provider: spy });
    const responder = new ResponderHandshake(pki.teeOs, { provider: spy });
    const msg2 = responder.respond(initiator.start());
    const { message: msg3, result: i } = initiator.finish(msg2);
    const r = responder.finish(msg3);
    expect(i.send.key).toEqual(r.receive.key);
    expect(i.receive.iv).toEqual(r.send.iv);
    expect(held.length).toBe(2 + 2 + 4); // per side: ephemeral, shared secret, finished-key and traffic-key HKDF outputs
    for (const { what, bytes } of held) expect(bytes.every((b) => b === 0), `${what} not zeroed`).toBe(true);
    expect(i.send.key.some((b) => b !== 0)).toBe(true); // the results themselves are live until the record layer takes them
  });

  it('a frame carries only ciphertext of the message (no plaintext marker)', async () => {
    const pki = makePki(PROVIDERS.native);
    const wire = createInterceptedPair();
    const { tk, tee } = await openPair(pki, { wire });
    tee.handle('store', () => true);
    const marker = new TextEncoder().encode('PLAINTEXT-MARKER-0123456789');
    await tk.call('store', { note: 'PLAINTEXT-MARKER-0123456789', bytes: marker });
    expect(wire.sent(TO_RESPONDER).some((f) => containsBytes(f, marker))).toBe(false);
    expect(wire.sent(TO_RESPONDER).some((f) => containsBytes(f, new TextEncoder().encode('store')))).toBe(false);
    tk.close();
  });
});
