/**
 * The trusted key on its own thread: a worker_threads Worker runs it (./trusted-key-worker.ts), as
 * the separate chip it models runs on its own processor with its own memory. The main thread (the
 * REE) carries its frames: each connection the key asks for is a MessagePort piped to a transport
 * of the phone's REE-carried wire, so the interceptor sees and can attack every frame as before.
 *
 * What cannot cross a thread stays behind: the provider goes by name, `now` is not supported, and
 * trace events come back as messages.
 */
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { TeeError, teeErrorFromWire, toTeeError, type TeeErrorCode, type TeeOrigin } from '../common/errors.js';
import type { TraceEvent, TraceSink } from '../common/trace.js';
import { siblingModule, startModuleWorker } from '../common/worker-module.js';
import { createPortTransport, pipeTransports, type Transport } from '../channel/index.js';
import type { ProviderName } from '../crypto/provider.js';
import type { TrustedKeyOptions } from '../trusted-key/index.js';

/** The options a worker-hosted key takes: plain data only. */
export type HostedTrustedKeyOptions = Omit<TrustedKeyOptions, 'provider' | 'trace' | 'now'>;

type WireError = { code: TeeErrorCode; message: string; origin: TeeOrigin };

/** @internal workerData of the worker. */
export interface WorkerStart {
  options: HostedTrustedKeyOptions;
  provider: ProviderName;
  trace: boolean;
}

/** @internal messages on the worker's parent port. */
export type HostToWorker =
  | { type: 'opened'; id: number; port: MessagePort }
  | { type: 'open-failed'; id: number; error: WireError }
  | { type: 'close' };

/** @internal */
export type WorkerToHost =
  | { type: 'open'; id: number }
  | { type: 'ready'; subject: string }
  | { type: 'failed'; error: WireError }
  | { type: 'trace'; event: TraceEvent }
  | { type: 'closed' };

export interface HostedTrustedKey {
  readonly subject: string;
  /** Close the key (its storage, its channel) and end the thread. */
  close(): Promise<void>;
  /**
   * Stop the thread at once, with no chance to close anything, as a crash or a cut of the chip's
   * power would (fault injection). Resolves once the thread has ended.
   */
  crash(): Promise<void>;
  /** Settles when the thread has ended: `requested` is true after close(), false after a crash. */
  readonly ended: Promise<{ requested: boolean }>;
}

/**
 * Start a trusted key on a worker thread and connect it over transports from `openTransport` (the
 * phone's REE-carried wire). Resolves once the key is open and connected, like `TrustedKey.open`
 * followed by `connect`; rejects with the key's own TeeError (e.g. SECURITY for rolled-back storage).
 */
export function startTrustedKeyWorker(
  options: HostedTrustedKeyOptions,
  provider: ProviderName,
  openTransport: () => Promise<Transport>,
  trace?: TraceSink,
): Promise<HostedTrustedKey> {
  const start: WorkerStart = { options, provider, trace: trace !== undefined };
  const worker = startModuleWorker(siblingModule('trusted-key-worker', import.meta.url), { workerData: start });
  const send = (message: HostToWorker, transfer?: MessagePort[]) => worker.postMessage(message, transfer ?? []);
  let closing: Promise<void> | undefined;
  let exited = false;
  const exit = new Promise<void>((resolve) => worker.once('exit', () => ((exited = true), resolve())));
  const ended = exit.then(() => ({ requested: closing !== undefined }));
  const crash = async (): Promise<void> => {
    await worker.terminate();
    await exit;
  };

  const close = (): Promise<void> =>
    (closing ??= (async () => {
      if (!exited) {
        send({ type: 'close' });
        // A key that does not finish closing in time is stopped: its thread holds nothing we need.
        const timer = setTimeout(() => void worker.terminate(), 10_000);
        await exit;
        clearTimeout(timer);
      }
    })());

  return new Promise<HostedTrustedKey>((resolve, reject) => {
    let settled = false;
    worker.on('message', (message: WorkerToHost) => {
      switch (message.type) {
        case 'open':
          openTransport().then(
            (transport) => {
              const { port1, port2 } = new MessageChannel();
              pipeTransports(createPortTransport(port1), transport);
              send({ type: 'opened', id: message.id, port: port2 }, [port2]);
            },
            (err: unknown) => send({ type: 'open-failed', id: message.id, error: toTeeError(err, 'COMMUNICATION', 'API').toWire() }),
          );
          return;
        case 'ready':
          settled = true;
          resolve({ subject: message.subject, close, crash, ended });
          return;
        case 'failed':
          settled = true;
          void close();
          reject(teeErrorFromWire(message.error, 'TRUSTED_KEY'));
          return;
        case 'trace':
          trace?.(message.event);
          return;
        case 'closed':
          return;
      }
    });
    worker.on('error', () => {
      if (!settled) reject(new TeeError('GENERIC', 'trusted key thread: failed to start', 'TRUSTED_KEY'));
      settled = true;
    });
    void exit.then(() => {
      if (!settled) reject(new TeeError('GENERIC', 'trusted key thread: ended before it was ready', 'TRUSTED_KEY'));
      settled = true;
    });
  });
}
