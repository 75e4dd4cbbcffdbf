/**
 * The carrier under the secure channel. The REE owns it, so nothing it delivers is trusted: the
 * channel authenticates every frame itself. A Transport only promises to keep frame boundaries.
 *
 * Ownership: `send` hands the frame over; the caller must not modify it afterwards (the in-memory
 * pair passes the same object along instead of copying). Receivers must not modify frames either.
 */
import { TeeError } from '../common/errors.js';
import { MAX_MESSAGE_BYTES } from '../common/codec.js';

/** Largest frame any transport or record layer accepts by default: one message plus record overhead. */
export const DEFAULT_MAX_FRAME_BYTES = MAX_MESSAGE_BYTES + 64;

export interface Transport {
  /** Queue one frame for the peer. Throws COMMUNICATION if this end is closed. */
  send(frame: Uint8Array): void;
  /**
   * Set the one frame handler (a later call replaces it). Frames that arrive while no handler is set
   * are buffered and handed to the next handler, so a caller can switch handlers without loss.
   */
  onFrame(handler: (frame: Uint8Array) => void): void;
  /** Called once when the transport closes: `err` is set when it closed because of a failure. */
  onClose(handler: (err?: TeeError) => void): void;
  close(): void;
  readonly closed: boolean;
}

type FrameHandler = (frame: Uint8Array) => void;
type CloseHandler = (err?: TeeError) => void;

/**
 * Shared plumbing for transports: buffering until a handler exists, asynchronous in-order delivery
 * (never re-entrant from `send`), and close handlers that fire exactly once, after queued frames.
 */
export abstract class BaseTransport implements Transport {
  private frameHandler: FrameHandler | undefined;
  private readonly closeHandlers: CloseHandler[] = [];
  private readonly inbox: Uint8Array[] = [];
  private inboxHead = 0;
  private drainScheduled = false;
  private pendingClose: { err: TeeError | undefined } | undefined;
  private closeReported: { err: TeeError | undefined } | undefined;
  private isClosed = false;

  abstract send(frame: Uint8Array): void;
  protected abstract shutdown(): void;

  get closed(): boolean {
    return this.isClosed;
  }

  onFrame(handler: FrameHandler): void {
    this.frameHandler = handler;
    if (this.inboxHead < this.inbox.length || this.pendingClose) this.scheduleDrain();
  }

  onClose(handler: CloseHandler): void {
    if (this.closeReported) {
      const { err } = this.closeReported;
      queueMicrotask(() => handler(err));
    } else this.closeHandlers.push(handler);
  }

  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.inbox.length = 0;
    this.inboxHead = 0;
    this.shutdown();
    this.reportClose(undefined);
  }

  protected assertOpen(): void {
    if (this.isClosed) throw new TeeError('COMMUNICATION', 'transport: send on a closed transport', 'CHANNEL');
  }

  /** Called by the concrete transport when a frame arrives from the peer. */
  protected deliver(frame: Uint8Array): void {
    if (this.isClosed || this.pendingClose) return;
    this.inbox.push(frame);
    this.scheduleDrain();
  }

  /** Called by the concrete transport when the peer or the wire went away; fires after queued frames. */
  protected peerClosed(err?: TeeError): void {
    if (this.isClosed || this.pendingClose) return;
    this.pendingClose = { err };
    this.scheduleDrain();
  }

  private scheduleDrain(): void {
    if (this.drainScheduled) return;
    this.drainScheduled = true;
    queueMicrotask(() => this.drain());
  }

  private drain(): void {
    this.drainScheduled = false;
    let completed = false;
    try {
      while (!this.isClosed && this.frameHandler && this.inboxHead < this.inbox.length) {
        const frame = this.inbox[this.inboxHead]!;
        this.inbox[this.inboxHead++] = EMPTY;
        this.frameHandler(frame);
      }
      completed = true;
    } finally {
      // A throwing handler must not strand the frames (or the close) queued behind it.
      if (!completed && !this.isClosed) this.scheduleDrain();
    }
    if (this.inboxHead === this.inbox.length) {
      this.inbox.length = 0;
      this.inboxHead = 0;
    }
    // A close waits until every frame before it has been handed over (or there is no handler yet
    // and nobody is listening for frames: then frames stay buffered and the close still waits).
    if (this.pendingClose && !this.isClosed && this.inbox.length === 0) {
      const { err } = this.pendingClose;
      this.isClosed = true;
      this.shutdown();
      this.reportClose(err);
    }
  }

  private reportClose(err: TeeError | undefined): void {
    if (this.closeReported) return;
    this.closeReported = { err };
    const handlers = this.closeHandlers.splice(0);
    queueMicrotask(() => {
      for (const h of handlers) h(err);
    });
  }
}

const EMPTY = new Uint8Array(0);

/**
 * Hand a frame on to `to`, as a carrier does: a transport that is closed or closing under us takes
 * the frame with it (no error); anything but a TeeError is a bug and goes up.
 */
export function forwardFrame(to: Transport, frame: Uint8Array): void {
  if (to.closed) return;
  try {
    to.send(frame);
  } catch (err) {
    if (!(err instanceof TeeError)) throw err;
  }
}

class MemoryTransport extends BaseTransport {
  peer: MemoryTransport | undefined;

  send(frame: Uint8Array): void {
    this.assertOpen();
    if (!(frame instanceof Uint8Array)) throw new TeeError('BAD_PARAMETERS', 'transport: frame must be bytes', 'CHANNEL');
    this.peer?.deliver(frame);
  }

  protected shutdown(): void {
    const peer = this.peer;
    this.peer = undefined;
    if (peer) {
      peer.peer = undefined;
      peer.peerClosed();
    }
  }
}

/** Two connected in-process transports; frames are delivered asynchronously and in order. */
export function createMemoryTransportPair(): [Transport, Transport] {
  const a = new MemoryTransport();
  const b = new MemoryTransport();
  a.peer = b;
  b.peer = a;
  return [a, b];
}
