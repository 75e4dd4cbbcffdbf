import { afterAll, describe, expect, it } from 'vitest';
import { decode, encode } from '../../src/common/codec.js';
import { PROVIDERS } from '../../src/crypto/index.js';
import { AEAD_ALGORITHMS, type CryptoProvider } from '../../src/crypto/provider.js';
import {
  acceptChannel,
  connectChannel,
  connectTcp,
  createChannelIdentity,
  createInterceptedPair,
  createRoot,
  flipBit,
  issueCertificate,
  listenTcp,
  peekHandshakeMessage,
  TO_INITIATOR,
  TO_RESPONDER,
  type ChannelIdentity,
  type InterceptHook,
  type SecureChannel,
  type TcpListener,
  type Transport,
} from '../../src/channel/index.js';
import { InitiatorHandshake, ResponderHandshake } from '../../src/channel/handshake.js';
import { expectTeeError, handshakeOutcomes, makePki, openPair, rejection, type Pki } from './fixtures.js';

const native = PROVIDERS.native;
const pkis = new Map<string, Pki>();
const pkiFor = (p: CryptoProvider): Pki => {
  if (!pkis.has(p.name)) pkis.set(p.name, makePki(p));
  return pkis.get(p.name)!;
};

async function roundTrip(tk: SecureChannel, tee: SecureChannel): Promise<void> {
  tee.handle('echo', (p) => p);
  tk.handle('ping', () => 'pong');
  expect(await tk.call('echo', { n: 1, b: new Uint8Array([1, 2]) })).toEqual({ n: 1, b: new Uint8Array([1, 2]) });
  expect(await tee.call('ping', null)).toBe('pong');
}

describe('handshake succeeds', () => {
  const listeners: TcpListener[] = [];
  afterAll(async () => {
    await Promise.all(listeners.map((l) => l.close()));
  });

  for (const provider of Object.values(PROVIDERS)) {
    for (const suite of AEAD_ALGORITHMS) {
      it(`over the memory pair: ${provider.name}, ${suite}`, async () => {
        const pki = pkiFor(provider);
        const { tk, tee } = await openPair(pki, { initiator: { suites: [suite] } });
        expect(tk.suite).toBe(suite);
        expect(tee.suite).toBe(suite);
        expect(tk.peer).toMatchObject({ role: 'tee-os', subject: 'tee-os-1', algorithm: 'ed25519' });
        expect(tee.peer).toMatchObject({ role: 'trusted-key', subject: 'tk-0001', algorithm: 'p256' });
        expect(tee.peer.publicKey).toEqual(pki.trustedKey.certificate.publicKey);
        await roundTrip(tk, tee);
        tk.close();
      });

      it(`over TCP on 127.0.0.1: ${provider.name}, ${suite}`, async () => {
        const pki = pkiFor(provider);
        let accepted: Promise<SecureChannel> | undefined;
        const listener = await listenTcp({ host: '127.0.0.1', port: 0 }, (t: Transport) => {
          accepted = acceptChannel(t, pki.teeOs, { provider });
        });
        listeners.push(listener);
        const tk = await connectChannel(await connectTcp({ port: listener.port }), pki.trustedKey, { provider, suites: [suite] });
        const tee = await accepted!;
        expect(tk.suite).toBe(suite);
        await roundTrip(tk, tee);
        const closed = new Promise((r) => tee.onClose(r));
        tk.close();
        expect(await closed).toBeUndefined(); // orderly close notice crossed the socket
      });
    }
  }

  it('between the two providers (noble initiator, native responder)', async () => {
    const pki = makePki(PROVIDERS.noble);
    const wire = createInterceptedPair();
    const [tk, tee] = await Promise.all([
      connectChannel(wire.initiator, pki.trustedKey, { provider: PROVIDERS.noble }),
      acceptChannel(wire.responder, pki.teeOs, { provider: PROVIDERS.native }),
    ]);
    await roundTrip(tk, tee);
    tk.close();
  });

  it('takes the first offered suite the responder accepts', async () => {
    const pki = pkiFor(native);
    const { tk } = await openPair(pki, { initiator: { suites: ['chacha20-poly1305', 'aes-256-gcm'] }, responder: { suites: ['aes-256-gcm'] } });
    expect(tk.suite).toBe('aes-256-gcm');
    tk.close();
  });
});

/** Rewrite msg1 fields as the REE would: [tag, version, suites, ephemeral, random]. */
function rewriteMsg1(change: (fields: unknown[]) => void): InterceptHook {
  return (frame, dir, i) => {
    if (dir !== TO_RESPONDER || i !== 0) return 'pass';
    const fields = decode(frame) as unknown[];
    change(fields);
    return { replace: encode(fields) };
  };
}

/** Rewrite msg2's signed hello fields: [suite, ephemeral, random, certificate]. */
function rewriteHello2(change: (hello: unknown[]) => void): InterceptHook {
  return (frame, dir, i) => {
    if (dir !== TO_INITIATOR || i !== 0) return 'pass';
    const [tag, hello, sig, fin] = decode(frame) as [string, Uint8Array, Uint8Array, Uint8Array];
    const fields = decode(hello) as unknown[];
    change(fields);
    return { replace: encode([tag, encode(fields), sig, fin]) };
  };
}

describe('handshake fails', () => {
  const provider = native;
  const pki = pkiFor(provider);

  async function attempt(opts: { hook?: InterceptHook; initiator?: ChannelIdentity; responder?: ChannelIdentity }) {
    const wire = createInterceptedPair(opts.hook ? { hook: opts.hook } : {});
    const out = await handshakeOutcomes(wire, opts.initiator ?? pki.trustedKey, opts.responder ?? pki.teeOs, provider);
    expect(wire.initiator.closed && wire.responder.closed).toBe(true); // the failing side closed the transport
    return out;
  }

  /** A TEE OS identity with a certificate made by `issue` for its own key. */
  function teeWith(issue: (publicKey: Uint8Array) => ReturnType<typeof issueCertificate>): ChannelIdentity {
    const kp = provider.generateKeyPair('ed25519');
    return { ...pki.teeOs, secretKey: kp.secretKey, certificate: issue(kp.publicKey) };
  }

  it('when the responder chains to a root the initiator does not trust', async () => {
    const otherVendor = createRoot(provider, 'other-vendor', 'ed25519');
    const tee = createChannelIdentity(provider, otherVendor.issuer, { role: 'tee-os', subject: 'tee-os-x', trustedRoots: [pki.issuer.root], expectedPeerRole: 'trusted-key' });
    const { initiator, responder } = await attempt({ responder: tee });
    expectTeeError(rejection(initiator), 'SECURITY', /^handshake stage 2: certificate: issuer "other-vendor" is not a trusted root/);
    expectTeeError(rejection(responder), 'COMMUNICATION', /handshake stage 3: transport closed/);
  });

  it('when the initiator chains to a root the responder does not trust', async () => {
    const rogueIssuer = createRoot(provider, 'issuer-root', 'p256'); // same name, different key
    const tk = createChannelIdentity(provider, rogueIssuer.issuer, { role: 'trusted-key', subject: 'tk-x', algorithm: 'p256', trustedRoots: [pki.vendor.root], expectedPeerRole: 'tee-os' });
    const { initiator, responder } = await attempt({ initiator: tk });
    expectTeeError(rejection(responder), 'SECURITY', /^handshake stage 3: certificate: signature by "issuer-root" does not verify/);
    expectTeeError(rejection(initiator), 'COMMUNICATION', /handshake stage 3: transport closed/);
  });

  it('for a forged certificate: signature altered', async () => {
    const tee = teeWith((publicKey) => {
      const cert = issueCertificate(provider, pki.vendor.issuer, { role: 'tee-os', subject: 'tee-os-1', algorithm: 'ed25519', publicKey });
      return { ...cert, signature: flipBit(cert.signature, 77) };
    });
    expectTeeError(rejection((await attempt({ responder: tee })).initiator), 'SECURITY', /^handshake stage 2: certificate: signature by "vendor-root" does not verify/);
  });

  it('for a forged certificate: self-signed under the vendor root name', async () => {
    const self = createRoot(provider, 'vendor-root', 'ed25519');
    const tee = teeWith((publicKey) => issueCertificate(provider, self.issuer, { role: 'tee-os', subject: 'tee-os-1', algorithm: 'ed25519', publicKey }));
    expectTeeError(rejection((await attempt({ responder: tee })).initiator), 'SECURITY', /^handshake stage 2: certificate: signature by "vendor-root" does not verify/);
  });

  it('when the REE swaps in another genuine TEE OS certificate', async () => {
    const other = createChannelIdentity(provider, pki.vendor.issuer, { role: 'tee-os', subject: 'tee-os-2', trustedRoots: [pki.issuer.root], expectedPeerRole: 'trusted-key' });
    const hook = rewriteHello2((h) => (h[3] = encode([1, 'tee-os', 'tee-os-2', 'ed25519', other.certificate.publicKey, 'vendor-root', other.certificate.notAfter, other.certificate.signature])));
    expectTeeError(rejection((await attempt({ hook })).initiator), 'SECURITY', /^handshake stage 2: signature does not verify/);
  });

  it('for the wrong role: a vendor-signed certificate that is not for a TEE OS', async () => {
    const device = createChannelIdentity(provider, pki.vendor.issuer, { role: 'device', subject: 'dev-1', trustedRoots: [pki.issuer.root], expectedPeerRole: 'trusted-key' });
    expectTeeError(rejection((await attempt({ responder: device })).initiator), 'SECURITY', /^handshake stage 2: certificate: role "device" where "tee-os" is required/);
  });

  it('for the wrong role: a TEE OS presenting itself as the initiator', async () => {
    const teeAsInitiator: ChannelIdentity = { ...pki.teeOs, trustedRoots: [pki.vendor.root], expectedPeerRole: 'tee-os' };
    const { responder } = await attempt({ initiator: teeAsInitiator });
    expectTeeError(rejection(responder), 'SECURITY', /^handshake stage 3: certificate: role "tee-os" where "trusted-key" is required/);
  });

  it('for an expired certificate on either side', async () => {
    const expired = createChannelIdentity(provider, pki.vendor.issuer, { role: 'tee-os', subject: 'tee-os-1', trustedRoots: [pki.issuer.root], expectedPeerRole: 'trusted-key', notAfter: Date.now() - 1000 });
    expectTeeError(rejection((await attempt({ responder: expired })).initiator), 'SECURITY', /^handshake stage 2: certificate: expired/);
    const expiredTk = createChannelIdentity(provider, pki.issuer.issuer, { role: 'trusted-key', subject: 'tk-0001', algorithm: 'p256', trustedRoots: [pki.vendor.root], expectedPeerRole: 'tee-os', notAfter: Date.now() - 1000 });
    expectTeeError(rejection((await attempt({ initiator: expiredTk })).responder), 'SECURITY', /^handshake stage 3: certificate: expired/);
  });

  it("when the REE swaps the initiator's ephemeral key", async () => {
    const hook = rewriteMsg1((f) => (f[3] = provider.generateKeyPair('x25519').publicKey));
    expectTeeError(rejection((await attempt({ hook })).initiator), 'SECURITY', /^handshake stage 2: signature does not verify/);
  });

  it("when the REE swaps the responder's ephemeral key", async () => {
    const hook = rewriteHello2((h) => (h[1] = provider.generateKeyPair('x25519').publicKey));
    expectTeeError(rejection((await attempt({ hook })).initiator), 'SECURITY', /^handshake stage 2: signature does not verify/);
  });

  it('when the REE strips the preferred suite from the offer (downgrade)', async () => {
    const hook = rewriteMsg1((f) => (f[2] = ['aes-256-gcm']));
    const { initiator } = await attempt({ hook });
    expectTeeError(rejection(initiator), 'SECURITY', /^handshake stage 2: signature does not verify/);
  });

  it("when the REE changes the responder's chosen suite", async () => {
    const hook = rewriteHello2((h) => (h[0] = 'aes-256-gcm'));
    expectTeeError(rejection((await attempt({ hook })).initiator), 'SECURITY', /^handshake stage 2: signature does not verify/);
  });

  it('when a suite outside the offer comes back, or nothing in common is offered', async () => {
    const hook = rewriteHello2((h) => (h[0] = 'rot13'));
    expectTeeError(rejection((await attempt({ hook })).initiator), 'SECURITY', /^handshake stage 2: responder chose a suite that was not offered/);
    const none = rewriteMsg1((f) => (f[2] = ['rot13']));
    expectTeeError(rejection((await attempt({ hook: none })).responder), 'SECURITY', /^handshake stage 1: no common cipher suite/);
  });

  it('when the REE replays a msg2 from an earlier session', async () => {
    const earlier = createInterceptedPair();
    const done = await openPair(pki, { wire: earlier });
    done.tk.close();
    const oldMsg2 = earlier.sent(TO_INITIATOR)[0]!;
    const hook: InterceptHook = (_f, dir, i) => (dir === TO_INITIATOR && i === 0 ? { replace: oldMsg2 } : 'pass');
    expectTeeError(rejection((await attempt({ hook })).initiator), 'SECURITY', /^handshake stage 2: signature does not verify/);
  });

  it('when msg3 is altered: the responder refuses and the initiator learns the connection is gone', async () => {
    const hook: InterceptHook = (f, dir, i) => (dir === TO_RESPONDER && i === 1 ? { replace: flipBit(f, f.length * 8 - 20) } : 'pass');
    const { initiator, responder } = await attempt({ hook });
    expectTeeError(rejection(responder), 'SECURITY', /^handshake stage 3: finished MAC does not verify/);
    expectTeeError(rejection(initiator), 'COMMUNICATION', /^handshake stage 3: transport closed/);
  });

  it('when the confirmation record is altered', async () => {
    const hook: InterceptHook = (f, dir, i) => (dir === TO_INITIATOR && i === 1 ? { replace: flipBit(f, 200) } : 'pass');
    expectTeeError(rejection((await attempt({ hook })).initiator), 'SECURITY', /^handshake stage 4: confirmation record 0: authentication failed/);
  });

  it('with a low-order ephemeral key', async () => {
    const hook = rewriteMsg1((f) => (f[3] = new Uint8Array(32)));
    expectTeeError(rejection((await attempt({ hook })).responder), 'SECURITY', /^handshake stage 1: x25519: degenerate/);
  });

  it('with COMMUNICATION when the peer never answers in time', async () => {
    const wire = createInterceptedPair({ hook: () => 'drop' });
    const err = await connectChannel(wire.initiator, pki.trustedKey, { provider, handshakeTimeoutMs: 30 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expectTeeError(err, 'COMMUNICATION', /^handshake stage 2: timed out after 30 ms/);
    expect(wire.initiator.closed).toBe(true);
  });

  it('with BAD_PARAMETERS for an identity whose certificate is for another key', async () => {
    const wrong: ChannelIdentity = { ...pki.teeOs, secretKey: provider.generateKeyPair('ed25519').secretKey };
    const wire = createInterceptedPair();
    const err = await acceptChannel(wire.responder, wrong, { provider }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expectTeeError(err, 'BAD_PARAMETERS', /certificate is for another key/);
  });
});

describe('peekHandshakeMessage: what the carrier reads of each handshake message', () => {
  it('reads suites and ephemeral keys, both certificates, signatures and finished MACs; nothing else parses as one', () => {
    const pki = pkiFor(native);
    const initiator = new InitiatorHandshake(pki.trustedKey, { provider: native });
    const responder = new ResponderHandshake(pki.teeOs, { provider: native });
    const msg1 = initiator.start();
    const msg2 = responder.respond(msg1);
    const { message: msg3, result } = initiator.finish(msg2);
    responder.finish(msg3);
    expect(peekHandshakeMessage(msg1)).toMatchObject({ stage: 1, version: 1, suites: ['chacha20-poly1305', 'aes-256-gcm'] });
    const m2 = peekHandshakeMessage(msg2);
    expect(m2).toMatchObject({ stage: 2, suite: result.suite, certificate: { role: 'tee-os', subject: 'tee-os-1', issuer: 'vendor-root' } });
    expect(m2?.stage === 2 && m2.ephemeral.length).toBe(32);
    expect(peekHandshakeMessage(msg3)).toMatchObject({ stage: 3, certificate: { role: 'trusted-key', subject: 'tk-0001', issuer: 'issuer-root' } });
    // None of the traffic keys is among the readable bytes.
    const readable = [msg1, msg2, msg3].map((m) => Buffer.from(m).toString('hex')).join('');
    for (const k of [result.send.key, result.receive.key]) expect(readable.includes(Buffer.from(k).toString('hex'))).toBe(false);
    // A flipped bit in the finished MAC still reads (the peer's check refuses it); records and junk do not.
    expect(peekHandshakeMessage(flipBit(msg2, msg2.length * 8 - 3))?.stage).toBe(2);
    expect(peekHandshakeMessage(msg2.subarray(0, 100))).toBeUndefined();
    expect(peekHandshakeMessage(encode(['tee-sim/hs9', 1]))).toBeUndefined();
    expect(peekHandshakeMessage(new Uint8Array([1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7, 1, 2, 3]))).toBeUndefined();
    expect(peekHandshakeMessage(new Uint8Array(0))).toBeUndefined();
  });
});
