/**
 * The teaching page's local web server (127.0.0.1 only).
 *
 *   GET  /                  the page (built by ./assets.ts)
 *   GET  /api/scenarios     the flows, attacks (with the flows each applies to) and user choices it offers, and the
 *                           amount above which the PIN is asked
 *   POST /api/run           {flow: 'online'|'offline'|'channel',
 *                            attack?: 'none'|'tamper-frame'|'replay-frame'|'replay-payment'|'alter-amount'|'impersonate-tee-os',
 *                            user?: 'confirm'|'reject'|'wrong-pin', amount?: minor units}
 *                           -> {flow, attack, user, events: TeachEvent[], outcome}
 *
 * Runs are serialised: one payment at a time, each on a fresh simulated world. Every event passes
 * ./redact.ts before it leaves. Errors are `{error: {code, message}}` with a 4xx/5xx status, never a
 * stack trace. A Host header other than the server's own address is refused (DNS rebinding).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { aobject, aoneOf, aint } from '../../common/checks.js';
import { TeeError } from '../../common/errors.js';
import { pageAssets } from './assets.js';
import { redactEvent } from './redact.js';
import {
  ATTACK_FLOWS, ATTACK_TITLES, ATTACKS, FLOW_TITLES, FLOWS, PIN_ABOVE, USER_CHOICE_TITLES, USER_CHOICES, type RunRequest, type RunResult,
} from './scenario.js';

export type ScenarioRunner = (request: RunRequest) => Promise<RunResult>;

export interface TeachServerOptions {
  /** 0 (default): any free port. */
  port?: number;
  host?: string;
  runner: ScenarioRunner;
  /** Build the page when starting rather than on the first request (default true). */
  buildPage?: boolean;
}

export interface RunningTeachServer {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

const MAX_BODY = 4096;

function send(res: ServerResponse, status: number, body: Uint8Array | string, contentType: string): void {
  res.writeHead(status, {
    'content-type': contentType,
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'content-security-policy': "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  });
  res.end(body);
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  send(res, status, JSON.stringify(value), 'application/json; charset=utf-8');
}

function sendError(res: ServerResponse, err: unknown): void {
  if (err instanceof TeeError) {
    const status = err.code === 'BAD_PARAMETERS' ? 400 : err.code === 'ITEM_NOT_FOUND' ? 404 : err.code === 'NOT_SUPPORTED' ? 405 : err.code === 'ACCESS_DENIED' ? 403 : 500;
    sendJson(res, status, { error: { code: err.code, message: err.message } });
  } else sendJson(res, 500, { error: { code: 'GENERIC', message: 'internal error' } });
}

async function readBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) throw new TeeError('BAD_PARAMETERS', 'teach: request body too large', 'API');
    chunks.push(chunk);
  }
  let value: unknown;
  try {
    value = size === 0 ? {} : JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new TeeError('BAD_PARAMETERS', 'teach: request body is not JSON', 'API');
  }
  return aobject(value, 'run request') as Record<string, unknown>;
}

export function parseRunRequest(body: Record<string, unknown>): RunRequest {
  const request: RunRequest = {
    flow: aoneOf(body.flow, 'flow', FLOWS),
    attack: body.attack === undefined ? 'none' : aoneOf(body.attack, 'attack', ATTACKS),
  };
  if (body.amount !== undefined) request.amount = aint(body.amount, 'amount', 1, 1_000_000);
  if (!ATTACK_FLOWS[request.attack].includes(request.flow)) {
    throw new TeeError('BAD_PARAMETERS', `teach: attack '${request.attack}' does not apply to the ${request.flow} flow`, 'API');
  }
  if (body.user !== undefined) request.user = aoneOf(body.user, 'user', USER_CHOICES);
  // A refusal at the trusted UI and a compromised REE would each stop the run: one lesson at a time.
  if (request.user && request.user !== 'confirm' && request.attack !== 'none') {
    throw new TeeError('BAD_PARAMETERS', `teach: user '${request.user}' needs an honest REE (attack 'none')`, 'API');
  }
  if (request.user === 'wrong-pin' && request.amount !== undefined && request.amount <= PIN_ABOVE) {
    throw new TeeError('BAD_PARAMETERS', `teach: a wrong PIN needs an amount above ${PIN_ABOVE} minor units (${(PIN_ABOVE / 100).toFixed(2)}; the trusted key asks for the PIN only then)`, 'API');
  }
  return request;
}

export async function startTeachServer(options: TeachServerOptions): Promise<RunningTeachServer> {
  const host = options.host ?? '127.0.0.1';
  if (options.buildPage !== false) await pageAssets();
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(task: () => Promise<T>): Promise<T> => {
    const next = queue.then(task, task);
    queue = next.catch(() => undefined);
    return next;
  };
  let port = 0;

  const server = createServer((req, res) => {
    void (async () => {
      const hostHeader = req.headers.host ?? '';
      if (hostHeader !== `${host}:${port}` && hostHeader !== `localhost:${port}`) {
        throw new TeeError('ACCESS_DENIED', 'teach: unexpected Host header', 'API');
      }
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      if (path === '/api/scenarios' && req.method === 'GET') {
        sendJson(res, 200, {
          flows: FLOWS.map((id) => ({ id, title: FLOW_TITLES[id] })),
          attacks: ATTACKS.map((id) => ({ id, title: ATTACK_TITLES[id], flows: ATTACK_FLOWS[id] })),
          users: USER_CHOICES.map((id) => ({ id, title: USER_CHOICE_TITLES[id] })),
          pinAbove: PIN_ABOVE,
        });
      } else if (path === '/api/run') {
        if (req.method !== 'POST') throw new TeeError('NOT_SUPPORTED', 'teach: use POST /api/run', 'API');
        const request = parseRunRequest(await readBody(req));
        const result = await serial(() => options.runner(request));
        sendJson(res, 200, { ...result, events: result.events.map(redactEvent) });
      } else if (req.method === 'GET' || req.method === 'HEAD') {
        const files = await pageAssets();
        const file = files.get(path === '/' ? '/index.html' : path);
        if (!file) throw new TeeError('ITEM_NOT_FOUND', 'teach: no such page', 'API');
        send(res, 200, file.body, file.contentType);
      } else throw new TeeError('NOT_SUPPORTED', 'teach: method not allowed', 'API');
    })().catch((err: unknown) => {
      if (process.env.NODE_DEBUG?.includes('tee-sim') && !(err instanceof TeeError)) process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
      if (!res.headersSent) sendError(res, err);
      else res.end();
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  port = (server.address() as AddressInfo).port;
  return {
    url: `http://${host}:${port}/`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
