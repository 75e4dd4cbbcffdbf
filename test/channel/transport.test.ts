import net from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { TeeError } from '../../src/common/errors.js';
import { connectTcp, createMemoryTransportPair, listenTcp, type TcpListener, type Transport } from '../../src/channel/index.js';
import { expectTeeError, settle, until } from './fixtures.js';

/** One suite every transport passes (abstract-level style): make() returns two connected ends. */
function transportSuite(name: string, make: () => Promise<[Transport, Transport]>) {
  describe(`${name} transport`, () => {
    it('keeps frame boundaries and order, in both directions', async () => {
      const [a, b] = await make();
      const atB: Uint8Array[] = [];
      const atA: Uint8Array[] = [];
      b.onFrame((f) => atB.push(new Uint8Array(f)));
      a.onFrame((f) => atA.push(new Uint8Array(f)));
      const sizes = [1, 2, 3, 4, 5, 100, 1500, 70_000, 1];
      sizes.forEach((n, i) => a.send(new Uint8Array(n).fill(i + 1)));
      b.send(new Uint8Array([9, 9]));
      await until(() => atB.length === sizes.length && atA.length === 1);
      expect(atB.map((f) => f.length)).toEqual(sizes);
      atB.forEach((f, i) => expect(f.every((x) => x === i + 1)).toBe(true));
      expect(atA[0]).toEqual(new Uint8Array([9, 9]));
      a.close();
    });

    it('delivers asynchronously, never from inside send', async () => {
      const [a, b] = await make();
      let got = 0;
      b.onFrame(() => got++);
      a.send(new Uint8Array([1]));
      expect(got).toBe(0);
      await until(() => got === 1);
      a.close();
    });

    it('buffers frames that arrive before a handler is set', async () => {
      const [a, b] = await make();
      a.send(new Uint8Array([1]));
      a.send(new Uint8Array([2]));
      await settle();
      await settle();
      const got: number[] = [];
      b.onFrame((f) => got.push(f[0]!));
      await until(() => got.length === 2);
      expect(got).toEqual([1, 2]);
      a.close();
    });

    it('reports a close to the peer after the frames sent before it, and refuses to send when closed', async () => {
      const [a, b] = await make();
      const events: string[] = [];
      b.onFrame((f) => events.push(`frame ${f[0]}`));
      b.onClose((err) => events.push(`close ${err?.code ?? 'orderly'}`));
      a.send(new Uint8Array([7]));
      a.close();
      expect(a.closed).toBe(true);
      expect(() => a.send(new Uint8Array([1]))).toThrow(TeeError);
      await until(() => events.length === 2);
      expect(events).toEqual(['frame 7', 'close orderly']);
      expect(b.closed).toBe(true);
      let late: TeeError | undefined | 'none' = 'none';
      b.onClose((err) => (late = err));
      await settle();
      expect(late).toBeUndefined(); // handlers added after the close still hear about it
    });
  });
}

transportSuite('memory', async () => createMemoryTransportPair());

const listeners: TcpListener[] = [];
afterAll(async () => {
  await Promise.all(listeners.map((l) => l.close()));
});

async function tcpPair(maxFrameBytes?: number): Promise<[Transport, Transport, TcpListener]> {
  let accepted: (t: Transport) => void = () => {};
  const server = new Promise<Transport>((resolve) => (accepted = resolve));
  const listener = await listenTcp({ host: '127.0.0.1', port: 0, ...(maxFrameBytes ? { maxFrameBytes } : {}) }, (t) => accepted(t));
  listeners.push(listener);
  const client = await connectTcp({ host: '127.0.0.1', port: listener.port });
  return [client, await server, listener];
}

transportSuite('tcp', async () => {
  const [a, b] = await tcpPair();
  return [a, b];
});

describe('tcp length prefix', () => {
  async function rawClientTo(maxFrameBytes: number) {
    let accepted: (t: Transport) => void = () => {};
    const server = new Promise<Transport>((resolve) => (accepted = resolve));
    const listener = await listenTcp({ port: 0, maxFrameBytes }, (t) => accepted(t));
    listeners.push(listener);
    const socket = net.connect({ host: '127.0.0.1', port: listener.port });
    await new Promise((r) => socket.once('connect', r));
    const transport = await server;
    const frames: Uint8Array[] = [];
    transport.onFrame((f) => frames.push(f));
    const closed = new Promise<TeeError | undefined>((resolve) => transport.onClose(resolve));
    return { socket, transport, frames, closed };
  }

  it('closes the connection with COMMUNICATION when a prefix announces more than the limit', async () => {
    const { socket, frames, closed } = await rawClientTo(1024);
    const good = Buffer.from([0, 0, 0, 2, 0xaa, 0xbb]);
    const huge = Buffer.from([0x7f, 0xff, 0xff, 0xff, 1, 2, 3]);
    socket.write(Buffer.concat([good, huge]));
    expectTeeError(await closed, 'COMMUNICATION', /exceeds limit 1024/);
    expect(frames.map((f) => [...f])).toEqual([[0xaa, 0xbb]]); // the frame before the bad prefix still arrives
    socket.destroy();
  });

  it('closes the connection with BAD_PARAMETERS on a zero length prefix', async () => {
    const { socket, frames, closed } = await rawClientTo(1024);
    socket.write(Buffer.from([0, 0, 0, 0, 1]));
    expectTeeError(await closed, 'BAD_PARAMETERS', /zero length/);
    expect(frames).toEqual([]);
    socket.destroy();
  });

  it('reassembles frames split across many small writes', async () => {
    const { socket, transport, frames } = await rawClientTo(4096);
    const frame = new Uint8Array(3000).map((_, i) => i & 0xff);
    const wire = Buffer.concat([Buffer.from([0, 0, 0x0b, 0xb8]), Buffer.from(frame)]);
    for (let i = 0; i < wire.length; i += 333) socket.write(wire.subarray(i, i + 333));
    await until(() => frames.length === 1);
    expect(frames[0]).toEqual(frame);
    transport.close();
    socket.destroy();
  });

  it('refuses to send a frame above its own limit, and the connection stays usable', async () => {
    const [client, server] = await tcpPair(100); // the limit applies to the accepting side
    expectTeeError(captureThrow(() => server.send(new Uint8Array(101))), 'BAD_PARAMETERS');
    const got: Uint8Array[] = [];
    client.onFrame((f) => got.push(f));
    server.send(new Uint8Array(100));
    await until(() => got.length === 1);
    client.close();
  });
});

function captureThrow(fn: () => void): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}
