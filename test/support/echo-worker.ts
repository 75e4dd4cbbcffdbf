/** Worker fixture for test/common/worker-module.test.ts: answers each message with its SHA-256 and what this thread sees. */
import { parentPort } from 'node:worker_threads';
import { sha256 } from '@noble/hashes/sha2.js';
import { toHex } from '../../src/common/bytes.js';

parentPort!.on('message', (message: Uint8Array) => {
  parentPort!.postMessage({ digest: toHex(sha256(message)), execArgv: process.execArgv });
});
