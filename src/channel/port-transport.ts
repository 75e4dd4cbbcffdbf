/**
 * A transport over a worker_threads MessagePort: for a channel endpoint that runs on another thread
 * (the trusted key on its own thread, as the separate chip it models). Each frame is copied once into
 * a buffer of its own, which is then transferred: a frame is often a view into a larger buffer (a
 * record pool), and a structured clone copies the whole backing buffer, not just the view (~65 KiB
 * per ~2 KiB frame measured in the sign benchmark; postMessage was a quarter of the thread's time).
 *
 * Closing either end closes the port pair; the other end sees it as the peer going away.
 */
import type { MessagePort } from 'node:worker_threads';
import { TeeError } from '../common/errors.js';
import { BaseTransport, DEFAULT_MAX_FRAME_BYTES, forwardFrame, type Transport } from './transport.js';

class PortTransport extends BaseTransport {
  constructor(private readonly port: MessagePort) {
    super();
    port.on('message', (data: unknown) => {
      // Whatever arrives is only bytes to the channel, which authenticates every frame.
      if (data instanceof Uint8Array && data.length <= DEFAULT_MAX_FRAME_BYTES) this.deliver(data);
      else this.peerClosed(new TeeError('COMMUNICATION', 'port transport: not a frame', 'CHANNEL'));
    });
    port.on('close', () => this.peerClosed());
  }

  send(frame: Uint8Array): void {
    this.assertOpen();
    if (!(frame instanceof Uint8Array)) throw new TeeError('BAD_PARAMETERS', 'transport: frame must be bytes', 'CHANNEL');
    const own = new Uint8Array(frame);
    this.port.postMessage(own, [own.buffer]);
  }

  protected shutdown(): void {
    this.port.close();
  }
}

/** A Transport over `port`; the port's other end goes to the peer's thread. */
export function createPortTransport(port: MessagePort): Transport {
  return new PortTransport(port);
}

/**
 * Join two transports: every frame one receives is sent on the other, and a close of either closes
 * both (as a wire would). For carrying a channel between threads through the REE's interceptor.
 */
export function pipeTransports(a: Transport, b: Transport): void {
  a.onFrame((frame) => forwardFrame(b, frame));
  b.onFrame((frame) => forwardFrame(a, frame));
  a.onClose(() => b.close());
  b.onClose(() => a.close());
}
