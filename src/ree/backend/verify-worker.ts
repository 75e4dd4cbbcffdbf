/**
 * Worker thread body for VerifyPool (./verify-pool.ts): P-256 signature checks (and, when the pool
 * holds the backend's receipt key, receipt signatures) through the named crypto provider, a batch
 * per message. Per job only public data crosses: keys, messages, signatures.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { PROVIDERS } from '../../crypto/index.js';
import type { ProviderName } from '../../crypto/provider.js';

interface Job {
  id: number;
  items: ({ publicKey: Uint8Array; message: Uint8Array; signature: Uint8Array } | { sign: Uint8Array })[];
}

const data = workerData as { provider: ProviderName; signingKey?: Uint8Array };
const provider = PROVIDERS[data.provider];
const signingKey = data.signingKey;
// The same key object for repeated keys lets the provider reuse its parsed key.
const keys = new Map<string, Uint8Array>();

parentPort!.on('message', (job: Job) => {
  const results = job.items.map((item) => {
    if ('sign' in item) {
      if (!signingKey) return null;
      try {
        return provider.sign('p256', signingKey, item.sign);
      } catch {
        return null;
      }
    }
    const { publicKey, message, signature } = item;
    const id = Buffer.from(publicKey.buffer, publicKey.byteOffset, publicKey.byteLength).toString('base64');
    let key = keys.get(id);
    if (!key) {
      if (keys.size >= 4096) keys.clear();
      key = new Uint8Array(publicKey);
      keys.set(id, key);
    }
    return provider.verify('p256', key, message, signature);
  });
  parentPort!.postMessage({ id: job.id, results });
});
