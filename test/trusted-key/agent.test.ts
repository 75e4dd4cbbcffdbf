/**
 * The communication agent keeps the trusted key reachable: after the REE drops or attacks the
 * transport it re-establishes the channel (bounded retries with backoff), re-installs its command
 * handlers, and calls work again. Also its own API against a bare TEE-side endpoint.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { utf8 } from '../../src/common/bytes.js';
import { PROVIDERS } from '../../src/crypto/index.js';
import { acceptChannel, createMemoryTransportPair, createRoot, flipBit, issueCertificate, TO_RESPONDER, type SecureChannel } from '../../src/channel/index.js';
import { Factory, type Phone } from '../../src/device/index.js';
import { CommunicationAgent, type AgentStatus, type CommandOrigin } from '../../src/trusted-key/index.js';
import { until } from '../channel/fixtures.js';
import { failure, makeWorld, seatUser, Wallet, type World } from '../device/fixtures.js';

const provider = PROVIDERS.native;

/** Resolve once the key is connected on at least its `n`-th channel. */
function connectedOn(phone: Phone, n: number): Promise<void> {
  return new Promise((resolve) => {
    const check = () => {
      if (phone.trustedKey.status === 'connected' && phone.trustedKey.connections >= n) {
        stop();
        resolve();
      }
    };
    const stop = phone.trustedKey.onStatus(check);
    check();
  });
}

function statusReached(phone: Phone, status: AgentStatus): Promise<void> {
  return new Promise((resolve) => {
    const check = () => {
      if (phone.trustedKey.status === status) {
        stop();
        resolve();
      }
    };
    const stop = phone.trustedKey.onStatus(check);
    check();
  });
}

describe('communication agent in a phone', () => {
  let world: World;
  let phone: Phone;
  let w: Wallet;

  beforeAll(async () => {
    world = await makeWorld();
    phone = await world.makePhone('alice', { retry: { attempts: 3, initialDelayMs: 1, maxDelayMs: 5 } });
    seatUser(phone);
    w = await Wallet.open(phone);
  });

  afterAll(async () => {
    await w?.close();
    await world?.cleanup();
  });

  it('the channel drops -> it reconnects, and calls (and keys) work again', async () => {
    const key = await w.call('GENERATE_KEY', { algorithm: 'ed25519', usage: 'sign' });
    const before = phone.trustedKey.connections;
    phone.interceptor.cut();
    await connectedOn(phone, before + 1);
    expect(phone.interceptor.connections).toBe(before + 1);
    const message = utf8('after the drop');
    const { signature } = await w.call('SIGN', { message }, key.handle);
    expect(provider.verify('ed25519', key.publicKey!, message, signature)).toBe(true);
    expect((await w.call('GET_INFO', {})).trustedKey.connected).toBe(true);
  });

  it('a tampered record kills the channel; the key reconnects and the next call works', async () => {
    const before = phone.trustedKey.connections;
    let flipped = false;
    phone.interceptor.setHook((frame, direction) => {
      if (direction !== TO_RESPONDER || flipped) return 'pass';
      flipped = true; // one bit, once: the reconnection that follows must get through
      return { replace: flipBit(frame, frame.length * 4) };
    });
    // The next request from the TEE OS is answered by the key; the answer is flipped on the way.
    const err = await failure(w.call('HASH', { data: utf8('x') }));
    expect(['COMMUNICATION', 'SECURITY']).toContain(err.code);
    phone.interceptor.setHook(undefined);
    await connectedOn(phone, before + 1);
    expect((await w.call('HASH', { data: utf8('x') })).digest).toEqual(provider.sha256(utf8('x')));
  });

  it('retries are bounded: after failed handshakes the key reports failed, and reconnect() recovers', async () => {
    const before = phone.interceptor.connections;
    // Every new handshake's first message is garbled, so the TEE OS refuses it.
    phone.interceptor.setHook((frame, direction, index) => (direction === TO_RESPONDER && index === 0 ? { replace: flipBit(frame, 77) } : 'pass'));
    phone.interceptor.cut();
    await statusReached(phone, 'failed');
    expect(phone.interceptor.connections).toBe(before + 3);
    // Without a trusted key the TA answers COMMUNICATION; nothing crashes.
    expect((await failure(w.call('HASH', { data: utf8('x') }))).code).toBe('COMMUNICATION');
    phone.interceptor.setHook(undefined);
    await phone.trustedKey.reconnect();
    expect(phone.trustedKey.status).toBe('connected');
    expect((await w.call('RANDOM', { length: 8 })).bytes).toHaveLength(8);
  });

  it('the channel frames the REE carries hold no plaintext command names or arguments', () => {
    const marker = utf8('tk.hash');
    const frames = phone.interceptor.frames();
    expect(frames.length).toBeGreaterThan(10);
    expect(frames.some((f) => Buffer.from(f).includes(Buffer.from(marker)))).toBe(false);
  });
});

describe('CommunicationAgent on its own', () => {
  let dir: string;
  let factory: Factory;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tee-sim-agent-'));
    factory = await Factory.open(dir, provider);
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  function teeSide(identity = factory.issueTeeOsIdentity('tee')) {
    const channels: SecureChannel[] = [];
    const open = async () => {
      const [initiator, responder] = createMemoryTransportPair();
      acceptChannel(responder, identity, { provider }).then(
        (ch) => {
          channels.push(ch);
          ch.handle('tui.message', (p) => ({ shown: (p as { text: string }).text }));
        },
        () => undefined,
      );
      return initiator;
    };
    return { open, channels };
  }

  it('connects, serves commands registered before and after, requests the TEE OS, closes', async () => {
    const agent = new CommunicationAgent({ provider, identity: factory.issueTrustedKeyIdentity('tk-1'), trustedRoots: [factory.vendorRoot] });
    const statuses: AgentStatus[] = [];
    agent.onStatus((s) => statuses.push(s));
    agent.onCommand('tk.ping', () => 'pong');
    const tee = teeSide();
    await agent.connect(tee.open);
    agent.onCommand('tk.late', () => 'late');
    expect(agent.peer?.subject).toBe('tee');
    expect(await tee.channels[0]!.call('tk.ping', {})).toBe('pong');
    expect(await tee.channels[0]!.call('tk.late', {})).toBe('late');
    expect(await agent.request('tui.message', { text: 'hi' })).toEqual({ shown: 'hi' });
    // After a drop, both handlers are installed on the new channel.
    tee.channels[0]!.close();
    await agent.whenConnected();
    await new Promise<void>((resolve) => {
      const stop = agent.onStatus((s) => s === 'connected' && (stop(), resolve()));
      if (agent.connections === 2 && agent.status === 'connected') resolve();
    });
    expect(await tee.channels[1]!.call('tk.late', {})).toBe('late');
    agent.close();
    expect(agent.status).toBe('closed');
    expect((await failure(agent.request('tui.message', { text: 'x' }))).code).toBe('COMMUNICATION');
    expect(statuses).toEqual(['connecting', 'connected', 'reconnecting', 'connected', 'closed']);
  });

  it("a command's requests go back over the channel it came on, and fail once that channel is gone", async () => {
    const agent = new CommunicationAgent({ provider, identity: factory.issueTrustedKeyIdentity('tk-origin'), trustedRoots: [factory.vendorRoot] });
    let held: CommandOrigin | undefined;
    agent.onCommand('tk.hold', async (_params, origin) => {
      held = origin;
      return origin.request('tui.message', { text: 'from the first channel' });
    });
    const tee = teeSide();
    await agent.connect(tee.open);
    expect(await tee.channels[0]!.call('tk.hold', {})).toEqual({ shown: 'from the first channel' });
    tee.channels[0]!.close();
    await until(() => agent.connections === 2 && agent.status === 'connected');
    // The command's caller is gone with its channel: its origin does not reach the new one.
    expect((await failure(held!.request('tui.message', { text: 'late' }))).code).toBe('COMMUNICATION');
    // The agent's own request (no origin) uses the current channel.
    expect(await agent.request('tui.message', { text: 'now' })).toEqual({ shown: 'now' });
    agent.close();
  });

  it('refuses a TEE OS certified by another root, after its bounded retries', async () => {
    const rogue = createRoot(provider, 'vendor-root', 'p256');
    const { secretKey, publicKey } = provider.generateKeyPair('ed25519');
    const certificate = issueCertificate(provider, rogue.issuer, { role: 'tee-os', subject: 'rogue', algorithm: 'ed25519', publicKey });
    const tee = teeSide({ role: 'tee-os', algorithm: 'ed25519', secretKey, certificate, trustedRoots: [factory.issuerRoot], expectedPeerRole: 'trusted-key' });
    const agent = new CommunicationAgent({
      provider,
      identity: factory.issueTrustedKeyIdentity('tk-2'),
      trustedRoots: [factory.vendorRoot],
      retry: { attempts: 2, initialDelayMs: 1 },
    });
    const err = await failure(agent.connect(tee.open));
    expect(err.code).toBe('COMMUNICATION');
    expect(err.message).toMatch(/after 2 attempts/);
    expect(agent.status).toBe('failed');
    expect(tee.channels).toHaveLength(0);
    agent.close();
  });
});
