/**
 * The backend management system as a loopback HTTP server (node:http). It owns a data directory:
 * `ledger/` (level) and `key.json` (its receipt-signing key, mode 0600). The API has no client
 * authentication (account opening is a demo/admin call), so it binds to loopback only.
 *
 * Every request is wrapped: a bad path, method, body, encoding or signature gets a 4xx with
 * `{ error: { code, message } }`; anything unexpected is a 500 'internal error' with no detail.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { TeeError } from '../../common/errors.js';
import { defaultProvider } from '../../crypto/index.js';
import type { CryptoProvider, KeyPair } from '../../crypto/provider.js';
import type { PublicMatrix } from '../../cpk/index.js';
import { Ledger } from './ledger.js';
import { SubdomainDirectory } from './directory.js';
import { SettlementService } from './settle.js';
import { VerifyPool } from './verify-pool.js';
import { loadOrCreateBackendKey } from './keyfile.js';
import { DEFAULT_MAX_BODY_BYTES, HttpError, parseJsonObject, readBody, sendError, sendJson } from './http.js';
import { ROUTES } from './routes.js';

const LOOPBACK = ['127.0.0.1', '::1', 'localhost'] as const;

export interface BackendOptions {
  /** Directory for `ledger/` and `key.json` (created if missing). */
  dataDir: string;
  /** TCP port; 0 (default) picks an ephemeral one. */
  port?: number;
  /** Loopback address to bind (default 127.0.0.1); anything else is refused. */
  host?: string;
  provider?: CryptoProvider;
  /** The KMC key every registered public matrix must be signed by. */
  trustedKmcPublicKey: Uint8Array;
  /** Subdomains to admit at start (each verified; also remembered in the ledger). */
  matrices?: PublicMatrix[];
  /** Use this receipt-signing key instead of `key.json`. */
  backendKey?: KeyPair;
  /** Clock in ms since the epoch (tests). */
  now?: () => number;
  /** fsync every ledger write (default true). */
  sync?: boolean;
  /** Request body cap in bytes (default 64 KiB). */
  maxBodyBytes?: number;
  /**
   * Worker threads that check payment signatures (a VerifyPool), 0..MAX_VERIFY_THREADS; 0 (default)
   * checks them on libuv's thread pool. Under load a pool settles more (docs/BENCHMARKS.md).
   */
  verifyThreads?: number;
}

export const MAX_VERIFY_THREADS = 64;

export interface RunningBackend {
  url: string;
  port: number;
  /** The backend's P-256 receipt-signing public key (33 bytes, compressed). */
  publicKey: Uint8Array;
  ledger: Ledger;
  service: SettlementService;
  /** Worker threads checking payment signatures (0: libuv's thread pool). */
  verifyThreads: number;
  /** Stop accepting, let requests in flight finish, close the ledger. Idempotent. */
  close(): Promise<void>;
}

export async function startBackend(options: BackendOptions): Promise<RunningBackend> {
  const host = options.host ?? '127.0.0.1';
  if (!(LOOPBACK as readonly string[]).includes(host)) throw new TeeError('BAD_PARAMETERS', 'backend: host must be a loopback address', 'BACKEND');
  const port = options.port ?? 0;
  if (!Number.isSafeInteger(port) || port < 0 || port > 65535) throw new TeeError('BAD_PARAMETERS', 'backend: port must be in [0, 65535]', 'BACKEND');
  const provider = options.provider ?? defaultProvider();
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const verifyThreads = options.verifyThreads ?? 0;
  if (!Number.isSafeInteger(verifyThreads) || verifyThreads < 0 || verifyThreads > MAX_VERIFY_THREADS) {
    throw new TeeError('BAD_PARAMETERS', `backend: verifyThreads must be an integer in [0, ${MAX_VERIFY_THREADS}]`, 'BACKEND');
  }

  await mkdir(options.dataDir, { recursive: true, mode: 0o700 });
  const backendKey = options.backendKey ?? (await loadOrCreateBackendKey(provider, join(options.dataDir, 'key.json')));
  const ledger = await Ledger.open(join(options.dataDir, 'ledger'), { sync: options.sync ?? true });
  let server: Server | undefined;
  let verifyPool: VerifyPool | undefined;
  try {
    if (verifyThreads > 0) verifyPool = new VerifyPool({ provider: provider.name, size: verifyThreads });
    const directory = new SubdomainDirectory(provider, options.trustedKmcPublicKey);
    const service = new SettlementService({
      provider, ledger, directory, backendKey, ...(options.now ? { now: options.now } : {}), ...(verifyPool ? { verifyPool } : {}),
    });
    await service.restoreSubdomains();
    for (const m of options.matrices ?? []) await service.registerSubdomain(m);

    server = createServer({ requestTimeout: 30_000, headersTimeout: 10_000 }, (req, res) => {
      handle(service, maxBodyBytes, req, res).catch((err: unknown) => sendError(res, err));
    });
    const s = server;
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.listen(port, host, () => {
        s.off('error', reject);
        resolve();
      });
    });
    const bound = (s.address() as AddressInfo).port;
    const urlHost = host === '::1' ? '[::1]' : host;
    let closing: Promise<void> | undefined;
    return {
      url: `http://${urlHost}:${bound}`,
      port: bound,
      publicKey: backendKey.publicKey,
      verifyThreads,
      ledger,
      service,
      close: () => (closing ??= closeAll(s, ledger, verifyPool)),
    };
  } catch (err) {
    server?.close();
    await ledger.close();
    await verifyPool?.close();
    throw err;
  }
}

async function closeAll(server: Server, ledger: Ledger, verifyPool: VerifyPool | undefined): Promise<void> {
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
    // Keep-alive sockets that are mid-request get a moment to finish, then are cut.
    setTimeout(() => server.closeAllConnections(), 2000).unref();
  });
  await ledger.close();
  await verifyPool?.close();
}

async function handle(service: SettlementService, maxBodyBytes: number, req: IncomingMessage, res: ServerResponse): Promise<void> {
  try {
    const path = (req.url ?? '/').split('?')[0]!;
    const matches = ROUTES.map((route) => ({ route, m: route.pattern.exec(path) })).filter((x) => x.m !== null);
    if (matches.length === 0) {
      req.resume();
      throw new HttpError(404, 'ITEM_NOT_FOUND', 'no such route');
    }
    const match = matches.find((x) => x.route.method === req.method);
    if (!match) {
      req.resume();
      res.setHeader('allow', matches.map((x) => x.route.method).join(', '));
      throw new HttpError(405, 'NOT_SUPPORTED', 'method not allowed');
    }
    let params: string[];
    try {
      params = match.m!.slice(1).map((p) => decodeURIComponent(p));
    } catch {
      throw new TeeError('BAD_PARAMETERS', 'path: malformed escape', 'BACKEND');
    }
    let body: Record<string, unknown> = {};
    if (match.route.method === 'POST') body = parseJsonObject(await readBody(req, maxBodyBytes));
    else req.resume();
    const out = await match.route.handle({ service, params, body });
    sendJson(res, out.status ?? 200, out.body);
  } catch (err) {
    sendError(res, err);
  }
}
