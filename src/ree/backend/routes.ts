/**
 * The backend's JSON API as a route table: each route checks its inputs and calls the settle
 * service. Bytes travel as base64url strings. See ./server.ts for the transport around it.
 */
import { astring, aint } from '../../common/checks.js';
import { TeeError } from '../../common/errors.js';
import { MAX_AMOUNT, type PartyId } from '../../protocol/payment.js';
import { ID_PATTERN } from '../../cpk/index.js';
import { b64, bytesField } from './http.js';
import type { SettlementService } from './settle.js';

const CURRENCY_PATTERN = /^[A-Z]{3}$/;

export interface RouteInput {
  service: SettlementService;
  /** Path segments captured by the route's pattern (already URI-decoded). */
  params: string[];
  /** Parsed JSON object for POST routes. */
  body: Record<string, unknown>;
}

export interface Route {
  method: 'GET' | 'POST';
  pattern: RegExp;
  handle(input: RouteInput): Promise<{ status?: number; body: unknown }>;
}

const id = (value: unknown, title: string): string => astring(value, title, { min: 1, max: 64, pattern: ID_PATTERN });
const party = (subdomainId: unknown, userId: unknown): PartyId => ({ subdomainId: id(subdomainId, 'subdomainId'), userId: id(userId, 'userId') });

export const ROUTES: readonly Route[] = [
  {
    method: 'GET',
    pattern: /^\/v1\/health$/,
    handle: async ({ service }) => ({ body: { status: 'ok', subdomains: service.directory.ids().length, ledgerSeq: service.ledger.sequence - 1 } }),
  },
  {
    method: 'GET',
    pattern: /^\/v1\/backend-key$/,
    handle: async ({ service }) => ({ body: { algorithm: 'p256', publicKey: b64(service.publicKey) } }),
  },
  {
    method: 'POST',
    pattern: /^\/v1\/subdomains$/,
    handle: async ({ service, body }) => {
      const result = await service.registerSubdomain(bytesField(body, 'matrix'));
      return { status: result.status === 'added' ? 201 : 200, body: result };
    },
  },
  {
    method: 'GET',
    pattern: /^\/v1\/subdomains\/([^/]+)$/,
    handle: async ({ service, params }) => {
      const subdomainId = id(params[0], 'subdomainId');
      const m = service.directory.get(subdomainId);
      return { body: { subdomainId, mode: m.mode, rows: m.rows, cols: m.cols, matrix: b64(service.directory.encoded(subdomainId)) } };
    },
  },
  {
    method: 'POST',
    pattern: /^\/v1\/accounts$/,
    handle: async ({ service, body }) => {
      const who = party(body.subdomainId, body.userId);
      const currency = astring(body.currency, 'currency', { min: 3, max: 3, pattern: CURRENCY_PATTERN });
      const balance = aint(body.balance, 'balance', 0, MAX_AMOUNT);
      const balances = await service.openAccount(who, currency, balance);
      return { status: 201, body: { ...who, balances } };
    },
  },
  {
    method: 'GET',
    pattern: /^\/v1\/accounts\/([^/]+)\/([^/]+)$/,
    handle: async ({ service, params }) => {
      const who = party(params[0], params[1]);
      return { body: { ...who, balances: await service.balances(who) } };
    },
  },
  {
    method: 'POST',
    pattern: /^\/v1\/payments$/,
    handle: async ({ service, body }) => {
      const { receiptBytes } = await service.submitOnline(bytesField(body, 'payment'));
      return { body: { status: 'settled', receipt: b64(receiptBytes) } };
    },
  },
  {
    // The receipt handed out for a settlement, again (a wallet that lost it asks for it by reference).
    method: 'GET',
    pattern: /^\/v1\/receipts\/(online|offline)\/([^/]+)\/([^/]+)\/([^/]+)$/,
    handle: async ({ service, params }) => {
      const payee = party(params[1], params[2]);
      const reference = id(params[3], 'reference');
      const stored = await service.storedReceipt(params[0] === 'online' ? 'online' : 'offline', payee, reference);
      if (!stored) throw new TeeError('ITEM_NOT_FOUND', `no settlement ${reference} for ${payee.userId}@${payee.subdomainId}`, 'BACKEND');
      return { body: { receipt: b64(stored.receiptBytes) } };
    },
  },
  {
    method: 'POST',
    pattern: /^\/v1\/offline\/reconcile$/,
    handle: async ({ service, body }) => {
      const result = await service.reconcileOffline(bytesField(body, 'offer'), bytesField(body, 'payment'));
      if (result.status === 'duplicate') {
        const d = result.duplicate;
        return { body: { status: 'duplicate', reason: d.reason, conflictsWith: { reference: d.conflictsWith.reference, ledgerSeq: d.conflictsWith.seq } } };
      }
      return { body: { status: result.status, receipt: b64(result.receiptBytes) } };
    },
  },
];
