/**
 * Channel benchmark: handshakes per second beside the raw signature/DH work a handshake needs, and
 * record throughput (the record layer alone, one-way notifications, full call round trips) beside
 * the provider's bare aeadSeal + aeadOpen of the same payload, all measured in the same run, in
 * alternating windows (see ./harness.ts).
 */
import { PROVIDERS } from '../../src/crypto/index.js';
import type { CryptoProvider, SignatureAlgorithm } from '../../src/crypto/provider.js';
import { acceptChannel, connectChannel, createChannelIdentity, createMemoryTransportPair, createRoot, type SecureChannel } from '../../src/channel/index.js';
import { RecordReceiver, RecordSender, RecordType } from '../../src/channel/record.js';
import { comparePaired, GOALS, loopProbe, type BenchSuite, type Comparison } from './harness.js';

const SUITE = 'chacha20-poly1305' as const;
const SIZES: [string, number][] = [
  ['64 B', 64],
  ['1 KiB', 1024],
  ['64 KiB', 64 * 1024],
];

function identities(provider: CryptoProvider, algorithm: SignatureAlgorithm) {
  const vendor = createRoot(provider, 'vendor-root', algorithm);
  const issuer = createRoot(provider, 'issuer-root', algorithm);
  const teeOs = createChannelIdentity(provider, vendor.issuer, { role: 'tee-os', subject: 'tee-os-1', algorithm, trustedRoots: [issuer.root], expectedPeerRole: 'trusted-key' });
  const trustedKey = createChannelIdentity(provider, issuer.issuer, { role: 'trusted-key', subject: 'tk-1', algorithm, trustedRoots: [vendor.root], expectedPeerRole: 'tee-os' });
  return { vendor, issuer, teeOs, trustedKey };
}

async function openChannels(provider: CryptoProvider, ids: ReturnType<typeof identities>): Promise<[SecureChannel, SecureChannel]> {
  const [a, b] = createMemoryTransportPair();
  return Promise.all([connectChannel(a, ids.trustedKey, { provider, suites: [SUITE] }), acceptChannel(b, ids.teeOs, { provider })]);
}

async function handshakeRows(provider: CryptoProvider, algorithm: SignatureAlgorithm, progress: (t: string) => void): Promise<Comparison> {
  const ids = identities(provider, algorithm);
  const handshake = loopProbe(`handshake (${algorithm})`, async () => {
    const [tk] = await openChannels(provider, ids);
    tk.close();
  });
  // The public-key work one handshake cannot avoid: two ephemerals, two DH, two signatures, four
  // verifications (two under cached root keys, two under peer keys that arrive fresh each time).
  const msg = provider.randomBytes(96);
  const sig = provider.sign(algorithm, ids.teeOs.secretKey, msg);
  const rootSig = provider.sign(algorithm, ids.vendor.secretKey, msg);
  const baseline = loopProbe(`raw crypto of a handshake (${algorithm})`, () => {
      const e1 = provider.generateKeyPair('x25519');
      const e2 = provider.generateKeyPair('x25519');
      provider.x25519(e1.secretKey, e2.publicKey);
      provider.x25519(e2.secretKey, e1.publicKey);
      provider.sign(algorithm, ids.teeOs.secretKey, msg);
      provider.sign(algorithm, ids.trustedKey.secretKey, msg);
      for (let i = 0; i < 2; i++) provider.verify(algorithm, ids.vendor.root.publicKey, msg, rootSig);
      for (let i = 0; i < 2; i++) provider.verify(algorithm, new Uint8Array(ids.teeOs.certificate.publicKey), msg, sig);
  });
  return comparePaired('channel', provider.name, handshake, baseline, { onProgress: progress });
}

async function throughputRows(provider: CryptoProvider, progress: (t: string) => void): Promise<Comparison[]> {
  const rows: Comparison[] = [];
  const ids = identities(provider, 'ed25519');
  const [tk, tee] = await openChannels(provider, ids);
  tee.handle('echo', (p) => p);
  let received = 0;
  let target = 0;
  let wake: (() => void) | undefined;
  let abort: ((err: Error) => void) | undefined;
  tee.onNotification('blob', () => {
    if (++received === target) wake?.();
  });
  // A channel that fails mid-run must stop the benchmark, not leave it waiting for notifications.
  for (const ch of [tk, tee]) ch.onClose((err) => abort?.(err ?? new Error('channel closed during the benchmark')));

  for (const [label, size] of SIZES) {
    const payload = provider.randomBytes(size);
    const key = provider.randomBytes(32);
    const nonce = provider.randomBytes(12);
    const aad = new Uint8Array(14);
    const bytes = { bytesPerOp: size };
    const opts = { onProgress: progress };
    const baseline = loopProbe(`aeadSeal+aeadOpen ${label}`, () => {
      nonce[0]!++;
      provider.aeadOpen(SUITE, key, nonce, provider.aeadSeal(SUITE, key, nonce, payload, aad), aad);
    }, bytes);

    const secret = { key: provider.randomBytes(32), iv: provider.randomBytes(12) };
    const sender = new RecordSender(provider, SUITE, secret);
    const receiver = new RecordReceiver(provider, SUITE, secret);
    const records = loopProbe(`record seal+open ${label}`, () => receiver.open(sender.seal(RecordType.DATA, payload)), bytes);
    const goal = provider.name === 'native' && size === 1024 ? { goal: GOALS.channelRecord } : {};
    rows.push(await comparePaired('channel', provider.name, records, baseline, { ...opts, ...goal }));

    const batch = size >= 65536 ? 4 : 32;
    const oneWay = loopProbe(
      `channel notify ${label} (one-way)`,
      () => {
        target = received + batch;
        const done = new Promise<void>((resolve, reject) => {
          wake = resolve;
          abort = reject;
        });
        for (let i = 0; i < batch; i++) tk.notify('blob', payload);
        return done;
      },
      { ...bytes, opsPerCall: batch },
    );
    rows.push(await comparePaired('channel', provider.name, oneWay, baseline, opts));

    const calls = size >= 65536 ? 2 : 16;
    const roundTrip = loopProbe(
      `channel call ${label} (round trip)`,
      () => Promise.all(Array.from({ length: calls }, () => tk.call('echo', payload))),
      { ...bytes, opsPerCall: calls },
    );
    rows.push(await comparePaired('channel', provider.name, roundTrip, baseline, opts));
  }
  abort = undefined;
  tk.close();
  return rows;
}

export const suite: BenchSuite = {
  name: 'channel',
  description: 'handshakes/s vs their raw crypto; record, one-way and round-trip throughput vs bare aeadSeal+aeadOpen (chacha20-poly1305)',
  async run({ providers, progress }) {
    const rows: Comparison[] = [];
    for (const name of providers) {
      const provider = PROVIDERS[name];
      for (const alg of ['ed25519', 'p256'] as const) rows.push(await handshakeRows(provider, alg, progress));
      rows.push(...(await throughputRows(provider, progress)));
    }
    return rows;
  },
};
