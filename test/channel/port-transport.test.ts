/** The MessagePort transport (a channel endpoint on another thread) and transport piping. */
import { MessageChannel } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { acceptChannel, connectChannel, createMemoryTransportPair, createPortTransport, pipeTransports, type Transport } from '../../src/channel/index.js';
import { PROVIDERS } from '../../src/crypto/index.js';
import { TeeError } from '../../src/common/errors.js';
import { makePki, until } from './fixtures.js';

function collect(t: Transport): { frames: Uint8Array[]; closed: { err?: TeeError }[] } {
  const out = { frames: [] as Uint8Array[], closed: [] as { err?: TeeError }[] };
  t.onFrame((f) => out.frames.push(f));
  t.onClose((err) => out.closed.push(err ? { err } : {}));
  return out;
}

describe('port transport', () => {
  it('carries frames in order as copies, and a close reaches the other end', async () => {
    const { port1, port2 } = new MessageChannel();
    const a = createPortTransport(port1);
    const b = createPortTransport(port2);
    const got = collect(b);
    const sent = Array.from({ length: 50 }, (_, i) => new Uint8Array([i, i + 1, i + 2]));
    for (const f of sent) a.send(f);
    await until(() => got.frames.length === 50);
    expect(got.frames).toEqual(sent);
    a.close();
    await until(() => got.closed.length === 1);
    expect(got.closed[0]!.err).toBeUndefined();
    expect(b.closed).toBe(true);
    expect(() => a.send(new Uint8Array(1))).toThrow(TeeError);
  });

  it('only the frame crosses, not the rest of the buffer it is a view into; the sender may reuse its buffer', async () => {
    const { port1, port2 } = new MessageChannel();
    const a = createPortTransport(port1);
    const got = collect(createPortTransport(port2));
    const pool = new Uint8Array(64 * 1024).fill(0xee); // other data sharing the sender's buffer
    const frame = pool.subarray(100, 110);
    frame.set([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    a.send(frame);
    frame.fill(0); // reused at once: what was sent must not change
    await until(() => got.frames.length === 1);
    expect(got.frames[0]).toEqual(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]));
    expect(got.frames[0]!.buffer.byteLength).toBe(10);
    expect(pool.byteLength).toBe(64 * 1024); // the sender's buffer was not transferred away
    a.close();
  });

  it('a message that is not a frame closes the transport with COMMUNICATION', async () => {
    const { port1, port2 } = new MessageChannel();
    const b = createPortTransport(port2);
    const got = collect(b);
    port1.postMessage({ not: 'a frame' });
    await until(() => got.closed.length === 1);
    expect(got.closed[0]!.err?.code).toBe('COMMUNICATION');
    port1.close();
  });

  it('a secure channel runs over ports piped into memory transports, both ways', async () => {
    const { port1, port2 } = new MessageChannel();
    const [mem, far] = createMemoryTransportPair();
    pipeTransports(createPortTransport(port1), mem);
    const pki = makePki(PROVIDERS.native);
    const [tk, tee] = await Promise.all([
      connectChannel(createPortTransport(port2), pki.trustedKey, { provider: pki.provider }),
      acceptChannel(far, pki.teeOs, { provider: pki.provider }),
    ]);
    tee.handle('echo', (p) => p);
    expect(await tk.call('echo', { n: 1 })).toEqual({ n: 1 });
    tk.close();
    await until(() => tee.closed);
  });
});
