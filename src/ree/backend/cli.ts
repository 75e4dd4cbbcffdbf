/**
 * `tee-sim backend serve --port <n> [--verify-threads <n>]`: run the backend on loopback until
 * SIGINT/SIGTERM. Layout under the data dir: `backend/ledger` (level), `backend/key.json`, and from the KMC `kmc/kmc-public.bin`
 * (the trusted KMC public key, 33 raw bytes) and `kmc/public/*.bin` (encodePublicMatrix bytes, one per subdomain).
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import { TeeError } from '../../common/errors.js';
import { defaultProvider } from '../../crypto/index.js';
import type { CryptoProvider } from '../../crypto/provider.js';
import { decodePublicMatrix, type PublicMatrix } from '../../cpk/index.js';
import { MAX_VERIFY_THREADS, startBackend, type RunningBackend } from './server.js';

export interface BackendLayout {
  backendDir: string;
  kmcPublicKeyFile: string;
  matricesDir: string;
}

export function backendLayout(dataDir: string): BackendLayout {
  return {
    backendDir: join(dataDir, 'backend'),
    kmcPublicKeyFile: join(dataDir, 'kmc', 'kmc-public.bin'),
    matricesDir: join(dataDir, 'kmc', 'public'),
  };
}

/** Read the KMC's public key and published matrices; ITEM_NOT_FOUND if the KMC was never set up. */
export async function loadKmcPublicState(dataDir: string): Promise<{ kmcPublicKey: Uint8Array; matrices: PublicMatrix[] }> {
  const layout = backendLayout(dataDir);
  let kmcPublicKey: Uint8Array;
  try {
    kmcPublicKey = new Uint8Array(await readFile(layout.kmcPublicKeyFile));
  } catch {
    throw new TeeError('ITEM_NOT_FOUND', 'run "tee-sim kmc init" first', 'BACKEND');
  }
  // Raw compressed P-256 point, as the KMC publishes it.
  if (kmcPublicKey.length !== 33 || (kmcPublicKey[0] !== 0x02 && kmcPublicKey[0] !== 0x03)) {
    throw new TeeError('CORRUPT_OBJECT', 'kmc/kmc-public.bin: expected a 33-byte compressed P-256 key', 'BACKEND');
  }
  const matrices: PublicMatrix[] = [];
  let names: string[] = [];
  try {
    names = (await readdir(layout.matricesDir)).filter((n) => n.endsWith('.bin')).sort();
  } catch {
    // No subdomains published yet: the backend starts with none and learns them via the API.
  }
  for (const name of names) {
    try {
      matrices.push(decodePublicMatrix(new Uint8Array(await readFile(join(layout.matricesDir, name)))));
    } catch {
      throw new TeeError('CORRUPT_OBJECT', `public matrix file ${name} is malformed`, 'BACKEND');
    }
  }
  return { kmcPublicKey, matrices };
}

/** Start the backend for a data dir, as `backend serve` does (also used by demos and tests). */
export async function serveDataDir(dataDir: string, options: { port?: number; provider?: CryptoProvider; verifyThreads?: number } = {}): Promise<RunningBackend> {
  const { kmcPublicKey, matrices } = await loadKmcPublicState(dataDir);
  return startBackend({
    dataDir: backendLayout(dataDir).backendDir,
    port: options.port ?? 0,
    provider: options.provider ?? defaultProvider(),
    trustedKmcPublicKey: kmcPublicKey,
    matrices,
    ...(options.verifyThreads !== undefined ? { verifyThreads: options.verifyThreads } : {}),
  });
}

/** A whole number option in [0, max], written in decimal digits only. */
function parseCount(text: string, flag: string, max: number): number {
  if (!/^\d+$/.test(text) || text.length > String(max).length || Number(text) > max) {
    throw new TeeError('BAD_PARAMETERS', `${flag}: expected an integer in [0, ${max}]`, 'BACKEND');
  }
  return Number(text);
}

export function registerBackendCommands(program: Command, getDataDir: () => string): void {
  const backend = program.command('backend').description('the backend management system (ledger, settlement, receipts)');
  backend
    .command('serve')
    .description('serve the backend HTTP API on loopback until interrupted')
    .option('--port <n>', 'TCP port (0 = ephemeral)', '8787')
    .option('--verify-threads <n>', "worker threads that check payment signatures (0 = libuv's thread pool)", '0')
    .action(async (opts: { port: string; verifyThreads: string }) => {
      const running = await serveDataDir(getDataDir(), {
        port: parseCount(opts.port, '--port', 65535),
        verifyThreads: parseCount(opts.verifyThreads, '--verify-threads', MAX_VERIFY_THREADS),
      });
      const threads = running.verifyThreads > 0 ? ` (${running.verifyThreads} signature-checking threads)` : '';
      process.stdout.write(`backend listening on ${running.url}${threads}\n`);
      await new Promise<void>((resolve) => {
        const stop = () => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          resolve();
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
      await running.close();
      process.stdout.write('backend stopped\n');
    });
}
