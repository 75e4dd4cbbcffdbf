/**
 * Worker thread body for VerifyPool (./verify-pool.ts): P-256 signature checks through the named
 * crypto provider, one packed batch per message (layout in ./verify-pool.ts), answered with one byte
 * per item (1 = verifies). Only public data crosses: keys, messages, signatures.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { PROVIDERS } from '../../crypto/index.js';
import type { ProviderName } from '../../crypto/provider.js';

interface Job {
  id: number;
  count: number;
  packed: Uint8Array;
}

const provider = PROVIDERS[(workerData as { provider: ProviderName }).provider];
// The same key array for repeated keys lets the provider reuse its parsed key object.
const keys = new Map<string, Uint8Array>();

parentPort!.on('message', ({ id, count, packed }: Job) => {
  const results = new Uint8Array(count);
  const view = new DataView(packed.buffer, packed.byteOffset, packed.byteLength);
  let o = 0;
  for (let i = 0; i < count; i++) {
    const keyLength = packed[o++]!;
    const keyBytes = packed.subarray(o, (o += keyLength));
    const signatureLength = packed[o++]!;
    const signature = packed.subarray(o, (o += signatureLength));
    const messageLength = view.getUint32(o);
    o += 4;
    const message = packed.subarray(o, (o += messageLength));
    const tag = Buffer.from(keyBytes.buffer, keyBytes.byteOffset, keyBytes.byteLength).toString('latin1');
    let key = keys.get(tag);
    if (!key) {
      if (keys.size >= 4096) keys.clear();
      key = new Uint8Array(keyBytes);
      keys.set(tag, key);
    }
    results[i] = provider.verify('p256', key, message, signature) ? 1 : 0;
  }
  parentPort!.postMessage({ id, results }, [results.buffer]);
});

// Loaded: the pool may now terminate this thread safely (see VerifyPool.close).
parentPort!.postMessage({ ready: true });
