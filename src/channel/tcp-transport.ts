/**
 * Transport over TCP: each frame is a 4-byte big-endian length and the frame bytes. The length is
 * checked before anything is buffered, so a peer can make us hold at most one frame of
 * `maxFrameBytes`; a prefix above the limit (or zero) closes the connection with a typed error.
 */
import net from 'node:net';
import { TeeError } from '../common/errors.js';
import { BaseTransport, DEFAULT_MAX_FRAME_BYTES, type Transport } from './transport.js';

const PREFIX_BYTES = 4;

/**
 * Incremental parser for length-prefixed frames. Frames that arrive whole inside one chunk are
 * returned as views without copying. After it throws once, it throws on every later push.
 */
export class LengthPrefixDecoder {
  private readonly header = new Uint8Array(PREFIX_BYTES);
  private headerFill = 0;
  private body: Uint8Array | undefined;
  private bodyFill = 0;
  private failed = false;

  constructor(readonly maxFrameBytes: number = DEFAULT_MAX_FRAME_BYTES) {}

  /** Feed bytes; `onFrame` is called for each completed frame, in order. Throws TeeError on a bad prefix. */
  push(chunk: Uint8Array, onFrame: (frame: Uint8Array) => void): void {
    if (this.failed) throw new TeeError('COMMUNICATION', 'tcp frame: stream already rejected', 'CHANNEL');
    let off = 0;
    while (off < chunk.length) {
      if (this.body === undefined) {
        let length: number;
        if (this.headerFill === 0 && chunk.length - off >= PREFIX_BYTES) {
          length = readU32(chunk, off);
          off += PREFIX_BYTES;
        } else {
          const n = Math.min(PREFIX_BYTES - this.headerFill, chunk.length - off);
          this.header.set(chunk.subarray(off, off + n), this.headerFill);
          this.headerFill += n;
          off += n;
          if (this.headerFill < PREFIX_BYTES) return;
          this.headerFill = 0;
          length = readU32(this.header, 0);
        }
        this.checkLength(length);
        if (chunk.length - off >= length) {
          onFrame(chunk.subarray(off, off + length));
          off += length;
          continue;
        }
        this.body = new Uint8Array(length);
        this.bodyFill = 0;
      } else {
        const n = Math.min(this.body.length - this.bodyFill, chunk.length - off);
        this.body.set(chunk.subarray(off, off + n), this.bodyFill);
        this.bodyFill += n;
        off += n;
        if (this.bodyFill === this.body.length) {
          const frame = this.body;
          this.body = undefined;
          onFrame(frame);
        }
      }
    }
  }

  /** Bytes held for an incomplete frame (bounded by maxFrameBytes + prefix). */
  get bufferedBytes(): number {
    return this.headerFill + (this.body?.length ?? 0);
  }

  private checkLength(length: number): void {
    if (length === 0) {
      this.failed = true;
      throw new TeeError('BAD_PARAMETERS', 'tcp frame: zero length prefix', 'CHANNEL');
    }
    if (length > this.maxFrameBytes) {
      this.failed = true;
      throw new TeeError('COMMUNICATION', `tcp frame: length ${length} exceeds limit ${this.maxFrameBytes}`, 'CHANNEL');
    }
  }
}

function readU32(bytes: Uint8Array, off: number): number {
  return ((bytes[off]! << 24) | (bytes[off + 1]! << 16) | (bytes[off + 2]! << 8) | bytes[off + 3]!) >>> 0;
}

class TcpTransport extends BaseTransport {
  private readonly decoder: LengthPrefixDecoder;

  constructor(private readonly socket: net.Socket, private readonly maxFrameBytes: number) {
    super();
    this.decoder = new LengthPrefixDecoder(maxFrameBytes);
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      try {
        this.decoder.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength), (frame) => this.deliver(frame));
      } catch (err) {
        this.fail(err instanceof TeeError ? err : new TeeError('COMMUNICATION', 'tcp: unreadable stream', 'CHANNEL'));
      }
    });
    // Node's error text can name addresses; callers get a fixed message with a code.
    socket.on('error', () => this.fail(new TeeError('COMMUNICATION', 'tcp: connection error', 'CHANNEL')));
    socket.on('close', () => this.peerClosed());
  }

  send(frame: Uint8Array): void {
    this.assertOpen();
    if (!(frame instanceof Uint8Array) || frame.length === 0 || frame.length > this.maxFrameBytes) {
      throw new TeeError('BAD_PARAMETERS', `tcp send: frame must be 1..${this.maxFrameBytes} bytes`, 'CHANNEL');
    }
    if (this.socket.destroyed) return; // the close is on its way to the handlers
    const prefix = Buffer.allocUnsafe(PREFIX_BYTES);
    prefix.writeUInt32BE(frame.length, 0);
    this.socket.cork();
    this.socket.write(prefix);
    this.socket.write(frame);
    this.socket.uncork();
  }

  protected shutdown(): void {
    if (this.socket.destroyed) return;
    // end() lets queued writes (such as a close notice) flush; a peer that never answers is cut off.
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 2000).unref();
  }

  private fail(err: TeeError): void {
    this.socket.destroy(); // stop reading at once: never buffer past a bad prefix
    this.peerClosed(err);
  }
}

export interface TcpListenOptions {
  host?: string;
  port?: number;
  maxFrameBytes?: number;
}

export interface TcpListener {
  readonly host: string;
  readonly port: number;
  /** Stop accepting and close every connection this listener accepted. */
  close(): Promise<void>;
}

/** Accept TCP connections (default 127.0.0.1, port 0 = any free port); one Transport per connection. */
export function listenTcp(opts: TcpListenOptions, onConnection: (transport: Transport) => void): Promise<TcpListener> {
  const host = opts.host ?? '127.0.0.1';
  const maxFrameBytes = opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
  const accepted = new Set<Transport>();
  const server = net.createServer((socket) => {
    const transport = new TcpTransport(socket, maxFrameBytes);
    accepted.add(transport);
    transport.onClose(() => accepted.delete(transport));
    onConnection(transport);
  });
  return new Promise((resolve, reject) => {
    server.once('error', () => reject(new TeeError('COMMUNICATION', 'tcp listen: cannot bind', 'CHANNEL')));
    server.listen(opts.port ?? 0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      resolve({
        host,
        port,
        close: () =>
          new Promise<void>((done) => {
            for (const t of accepted) t.close();
            server.close(() => done());
          }),
      });
    });
  });
}

export interface TcpConnectOptions {
  host?: string;
  port: number;
  maxFrameBytes?: number;
}

export function connectTcp(opts: TcpConnectOptions): Promise<Transport> {
  const maxFrameBytes = opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: opts.host ?? '127.0.0.1', port: opts.port });
    const onError = () => reject(new TeeError('COMMUNICATION', 'tcp connect: connection failed', 'CHANNEL'));
    socket.once('error', onError);
    socket.once('connect', () => {
      socket.off('error', onError);
      resolve(new TcpTransport(socket, maxFrameBytes));
    });
  });
}
