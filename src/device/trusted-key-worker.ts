/**
 * Worker thread body for a trusted key on its own thread (see ./trusted-key-host.ts): the separate
 * chip the trusted key models, with memory no other thread can read. It opens the key from its
 * directory, connects over transports the main thread (the REE, which carries the frames) hands it
 * as MessagePorts, and closes on request. Only frames, public status and typed errors cross.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { teeErrorFromWire, toTeeError } from '../common/errors.js';
import type { TraceEvent } from '../common/trace.js';
import { createPortTransport, type Transport } from '../channel/index.js';
import { PROVIDERS } from '../crypto/index.js';
import { TrustedKey } from '../trusted-key/index.js';
import type { HostToWorker, WorkerStart, WorkerToHost } from './trusted-key-host.js';

const port = parentPort!;
const start = workerData as WorkerStart;
const post = (message: WorkerToHost, transfer?: MessagePort[]) => port.postMessage(message, transfer ?? []);

let nextOpen = 1;
const opening = new Map<number, { resolve: (t: Transport) => void; reject: (e: Error) => void }>();
let trustedKey: TrustedKey | undefined;

port.on('message', (message: HostToWorker) => {
  switch (message.type) {
    case 'opened': {
      const waiter = opening.get(message.id);
      opening.delete(message.id);
      waiter?.resolve(createPortTransport(message.port));
      return;
    }
    case 'open-failed': {
      const waiter = opening.get(message.id);
      opening.delete(message.id);
      waiter?.reject(teeErrorFromWire(message.error, 'COMMS'));
      return;
    }
    case 'close':
      void (async () => {
        await trustedKey?.close().catch(() => undefined);
        post({ type: 'closed' });
        port.close();
      })();
  }
});

const openTransport = (): Promise<Transport> =>
  new Promise((resolve, reject) => {
    const id = nextOpen++;
    opening.set(id, { resolve, reject });
    post({ type: 'open', id });
  });

try {
  const trace = start.trace ? (event: TraceEvent) => post({ type: 'trace', event }) : undefined;
  trustedKey = await TrustedKey.open({ ...start.options, provider: PROVIDERS[start.provider], ...(trace ? { trace } : {}) });
  await trustedKey.connect(openTransport);
  post({ type: 'ready', subject: trustedKey.subject });
} catch (err) {
  await trustedKey?.close().catch(() => undefined);
  post({ type: 'failed', error: toTeeError(err, 'GENERIC', 'TRUSTED_KEY').toWire() });
  port.close();
}
