/**
 * Channel demo: a TEE OS and a trusted key set up the secure channel through a REE that logs every
 * frame, make a few calls both ways, and then the REE tampers with a record. For each frame it
 * prints what the REE sees (direction, size, ciphertext) beside what the receiving endpoint decodes.
 *
 * To show the endpoint's view, the demo keeps a debug key log (the `keyLog` test hook) and opens
 * each record again with those keys; nothing of it ever reaches the REE.
 */
import { toHex } from '../src/common/bytes.js';
import { decode } from '../src/common/codec.js';
import { TeeError } from '../src/common/errors.js';
import { defaultProvider } from '../src/crypto/index.js';
import {
  acceptChannel,
  connectChannel,
  createChannelIdentity,
  createInterceptedPair,
  createRoot,
  flipBit,
  TO_RESPONDER,
  type Direction,
  type LoggedFrame,
} from '../src/channel/index.js';
import { parseMessage1, parseMessage2, parseMessage3 } from '../src/channel/handshake.js';
import { RecordReceiver, RecordType } from '../src/channel/record.js';

const NAMES: Record<Direction, string> = { 'initiator->responder': 'TK  -> TEE', 'responder->initiator': 'TEE -> TK ' };
const RECORD_NAMES: Record<number, string> = { [RecordType.DATA]: 'DATA', [RecordType.READY]: 'READY', [RecordType.CLOSE]: 'CLOSE' };

/** Compact one-line rendering of a decoded value; bytes show as their length. */
function show(value: unknown, max = 58): string {
  const text = JSON.stringify(value, (_k, v: unknown) => (v instanceof Uint8Array ? `<${v.length} bytes>` : typeof v === 'bigint' ? String(v) : v)) ?? 'undefined';
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

function describeMessage(bytes: Uint8Array): string {
  const m = decode(bytes) as Record<string, unknown>;
  if (m.t === 'req') return `call #${m.id} ${m.m} ${show(m.p, 36)}`;
  if (m.t === 'note') return `notify ${m.m} ${show(m.p, 36)}`;
  return m.ok ? `reply #${m.id} ${show(m.r, 44)}` : `reply #${m.id} error ${show(m.e, 38)}`;
}

export async function runChannelDemo(opts: { out: NodeJS.WritableStream }): Promise<void> {
  const out = (line = '') => opts.out.write(`${line}\n`);
  const provider = defaultProvider();
  const vendor = createRoot(provider, 'vendor-root', 'ed25519');
  const issuer = createRoot(provider, 'issuer-root', 'p256');
  const teeOs = createChannelIdentity(provider, vendor.issuer, { role: 'tee-os', subject: 'tee-os-1', trustedRoots: [issuer.root], expectedPeerRole: 'trusted-key' });
  const trustedKey = createChannelIdentity(provider, issuer.issuer, { role: 'trusted-key', subject: 'tk-0001', algorithm: 'p256', trustedRoots: [vendor.root], expectedPeerRole: 'tee-os' });
  out(`tee-sim secure channel demo (crypto provider: ${provider.name})`);
  out(`vendor-root (Ed25519) certifies the TEE OS; issuer-root (P-256) certifies the trusted key.`);
  out();

  const keys = new Map<string, Uint8Array>();
  const keyLog = (label: string, secret: Uint8Array) => keys.set(label, secret);
  const wire = createInterceptedPair();
  const [tk, tee] = await Promise.all([
    connectChannel(wire.initiator, trustedKey, { provider, keyLog, rekeyAfterRecords: 4 }),
    acceptChannel(wire.responder, teeOs, { provider, rekeyAfterRecords: 4 }),
  ]);
  tee.handle('trusted-ui.confirm', (p) => ({ confirmed: true, shown: (p as { text: string }).text }));
  tee.handle('attestation.quote', () => {
    throw new TeeError('ACCESS_DENIED', 'attestation needs a verifier nonce', 'TEE');
  });
  tk.handle('tk.sign', (p) => ({ signature: provider.sign('p256', trustedKey.secretKey, p as Uint8Array) }));
  await tk.call('trusted-ui.confirm', { text: 'Pay 12.50 EUR to shop-42?' });
  await tee.call('tk.sign', provider.sha256(new TextEncoder().encode('order 7781')));
  await tk.call('attestation.quote', {}).catch(() => undefined);
  tee.notify('log', 'payment confirmed');
  await tk.call('trusted-ui.confirm', { text: 'Done.' });
  tk.close();
  await new Promise((resolve) => tee.onClose(resolve));

  // The endpoint's view: open every record again under the logged traffic keys.
  const opener = (dir: string) =>
    new RecordReceiver(provider, tk.suite, { key: keys.get(`traffic key ${dir}`)!, iv: keys.get(`traffic iv ${dir}`)! });
  const openers: Record<Direction, RecordReceiver> = { 'initiator->responder': opener('initiator->responder'), 'responder->initiator': opener('responder->initiator') };
  const handshakeSeen: Record<Direction, number> = { 'initiator->responder': 0, 'responder->initiator': 0 };
  const endpointView = (e: LoggedFrame): string => {
    const h = handshakeSeen[e.direction];
    if (e.direction === TO_RESPONDER && h < 2) {
      handshakeSeen[e.direction]++;
      if (h === 0) {
        const m = parseMessage1(e.frame);
        return `msg1 offers ${m.suites.join(', ')}; eph ${toHex(m.ephemeral).slice(0, 8)}…`;
      }
      const m = parseMessage3(e.frame);
      return `msg3 cert ${m.certificate.role}/${m.certificate.subject} by ${m.certificate.issuer}, sig, MAC`;
    }
    if (e.direction !== TO_RESPONDER && h < 1) {
      handshakeSeen[e.direction]++;
      const m = parseMessage2(e.frame);
      return `msg2 ${m.suite}, cert ${m.certificate.role}/${m.certificate.subject} by ${m.certificate.issuer}, sig, MAC`;
    }
    const r = openers[e.direction].open(e.frame);
    return r.type === RecordType.DATA ? describeMessage(r.payload) : `(${RECORD_NAMES[r.type]} record)`;
  };
  // The REE reads record headers (type, epoch, sequence number) and nothing else of a record.
  const reeView = (e: LoggedFrame, isRecord: boolean): string => {
    if (!isRecord) return `handshake ${toHex(e.frame.subarray(0, 8))}…`;
    const view = new DataView(e.frame.buffer, e.frame.byteOffset);
    const header = `${RECORD_NAMES[e.frame[1]!]!.padEnd(5)} e${view.getUint32(2)} s${view.getUint32(10)}`.padEnd(14);
    return `${header}${toHex(e.frame.subarray(14, 22))}…`;
  };

  out(` #  direction   size  REE sees                        endpoint decodes`);
  for (const e of wire.log) {
    const isRecord = handshakeSeen[e.direction] >= (e.direction === TO_RESPONDER ? 2 : 1);
    const ree = reeView(e, isRecord).padEnd(30);
    out(`${String(e.seq + 1).padStart(2)}  ${NAMES[e.direction]}  ${String(e.frame.length).padStart(4)}  ${ree}  ${endpointView(e)}`);
  }
  out();
  out(`Handshake messages are public (certificates, ephemeral keys, signatures). Records are`);
  out(`${tk.suite} under per-direction keys, rekeyed every 4 records (epoch e0, e1, …).`);
  out(`Trusted key stats: ${show(tk.stats, 80)}`);
  out();

  // The REE now flips one bit of a record in a fresh session.
  const hostile = createInterceptedPair({ hook: (f, dir, i) => (dir === TO_RESPONDER && i === 3 ? { replace: flipBit(f, 8 * 20) } : 'pass') });
  const [tk2, tee2] = await Promise.all([connectChannel(hostile.initiator, trustedKey, { provider }), acceptChannel(hostile.responder, teeOs, { provider })]);
  const delivered: unknown[] = [];
  tee2.onNotification('log', (p) => delivered.push(p));
  const closed = new Promise<TeeError | undefined>((resolve) => tee2.onClose(resolve));
  for (const text of ['first', 'second (the REE flips a bit)', 'third']) tk2.notify('log', text);
  const err = await closed;
  out(`Attack: the REE flips one bit of the trusted key's second record in a new session.`);
  out(`  TEE OS delivered ${show(delivered)}, then closed: ${err?.code}: ${err?.message}`);
  out(`  trusted key's channel closed too: ${tk2.closed || (await new Promise((r) => tk2.onClose(() => r(true))))}`);
}
