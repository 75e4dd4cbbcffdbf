/**
 * The wallet's side of the backend API over fetch. Error bodies become TeeErrors again (origin
 * 'BACKEND'); a reply that is not the expected shape is a COMMUNICATION error. A receipt is only as
 * good as its seal: check it with `verifyReceipt` against a backend key obtained out of band.
 */
import { TeeError, teeErrorFromWire } from '../../common/errors.js';
import { fromBase64url, toBase64url } from '../../common/bytes.js';
import { aobject, astring } from '../../common/checks.js';
import type { CryptoProvider } from '../../crypto/provider.js';
import type { PartyId } from '../../protocol/payment.js';
import { encodePublicMatrix, type PublicMatrix } from '../../cpk/index.js';
import { decodeSealedReceipt, verifySealedReceipt, type SealedReceipt } from './receipts.js';

export interface SubmittedPayment {
  receipt: SealedReceipt;
  receiptBytes: Uint8Array;
}

export type ReconcileReply =
  | { status: 'settled' | 'already-reconciled'; receipt: SealedReceipt; receiptBytes: Uint8Array }
  | { status: 'duplicate'; reason: 'counter' | 'txId'; conflictsWith: { reference: string; ledgerSeq: number } };

export interface SubdomainInfo {
  subdomainId: string;
  mode: string;
  rows: number;
  cols: number;
  matrix: Uint8Array;
}

const MAX_REPLY_BYTES = 1024 * 1024;

function malformed(what: string): TeeError {
  return new TeeError('COMMUNICATION', `backend reply: ${what}`, 'BACKEND');
}

/**
 * Decode a receipt and check its seal (Merkle path to a batch root the backend key signed); throws
 * SECURITY if it does not verify, BAD_PARAMETERS if malformed.
 */
export function verifyReceipt(provider: CryptoProvider, receiptBytes: Uint8Array, backendPublicKey: Uint8Array): SealedReceipt {
  return verifySealedReceipt(provider, receiptBytes, backendPublicKey);
}

export class BackendClient {
  private readonly base: string;

  constructor(baseUrl: string) {
    this.base = baseUrl.replace(/\/+$/, '');
  }

  async health(): Promise<{ status: string }> {
    const r = await this.request('GET', '/v1/health');
    return { status: astring(r.status, 'status') };
  }

  /** The backend's receipt-signing public key as it claims it (pin it; do not trust it blindly). */
  async backendKey(): Promise<Uint8Array> {
    return this.bytes(await this.request('GET', '/v1/backend-key'), 'publicKey');
  }

  async registerSubdomain(matrix: PublicMatrix | Uint8Array): Promise<{ subdomainId: string; status: 'added' | 'unchanged' }> {
    const bytes = matrix instanceof Uint8Array ? matrix : encodePublicMatrix(matrix);
    const r = await this.request('POST', '/v1/subdomains', { matrix: toBase64url(bytes) });
    return { subdomainId: astring(r.subdomainId, 'subdomainId'), status: r.status === 'added' ? 'added' : 'unchanged' };
  }

  async subdomain(subdomainId: string): Promise<SubdomainInfo> {
    const r = await this.request('GET', `/v1/subdomains/${encodeURIComponent(subdomainId)}`);
    if (typeof r.rows !== 'number' || typeof r.cols !== 'number') throw malformed('subdomain');
    return { subdomainId: astring(r.subdomainId, 'subdomainId'), mode: astring(r.mode, 'mode'), rows: r.rows, cols: r.cols, matrix: this.bytes(r, 'matrix') };
  }

  async openAccount(party: PartyId, currency: string, balance: number): Promise<Record<string, number>> {
    const r = await this.request('POST', '/v1/accounts', { subdomainId: party.subdomainId, userId: party.userId, currency, balance });
    return this.balancesOf(r);
  }

  async balance(subdomainId: string, userId: string): Promise<Record<string, number>> {
    const r = await this.request('GET', `/v1/accounts/${encodeURIComponent(subdomainId)}/${encodeURIComponent(userId)}`);
    return this.balancesOf(r);
  }

  /** Submit encodeSigned(online payment) bytes; resolves with the (decoded, not yet verified) receipt. */
  async submitPayment(signedBytes: Uint8Array): Promise<SubmittedPayment> {
    const r = await this.request('POST', '/v1/payments', { payment: toBase64url(signedBytes) });
    return this.receiptOf(r);
  }

  /** The receipt the backend handed out for a settlement, fetched again by payee and reference (ITEM_NOT_FOUND if none). */
  async storedReceipt(kind: 'online' | 'offline', payee: PartyId, reference: string): Promise<SubmittedPayment> {
    const path = `/v1/receipts/${kind}/${encodeURIComponent(payee.subdomainId)}/${encodeURIComponent(payee.userId)}/${encodeURIComponent(reference)}`;
    return this.receiptOf(await this.request('GET', path));
  }

  async reconcileOffline(offerBytes: Uint8Array, paymentBytes: Uint8Array): Promise<ReconcileReply> {
    const r = await this.request('POST', '/v1/offline/reconcile', { offer: toBase64url(offerBytes), payment: toBase64url(paymentBytes) });
    if (r.status === 'duplicate') {
      const c = aobject(r.conflictsWith, 'conflictsWith');
      if (typeof c.ledgerSeq !== 'number' || (r.reason !== 'counter' && r.reason !== 'txId')) throw malformed('duplicate');
      return { status: 'duplicate', reason: r.reason, conflictsWith: { reference: astring(c.reference, 'reference'), ledgerSeq: c.ledgerSeq } };
    }
    if (r.status !== 'settled' && r.status !== 'already-reconciled') throw malformed('unknown status');
    return { status: r.status, ...this.receiptOf(r) };
  }

  /** One JSON round trip; error bodies become TeeErrors, transport failures COMMUNICATION. */
  private async request(method: 'GET' | 'POST', path: string, body?: unknown): Promise<Record<string, unknown>> {
    let res: Response;
    try {
      res = await fetch(this.base + path, {
        method,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    } catch {
      throw new TeeError('COMMUNICATION', 'backend unreachable', 'BACKEND');
    }
    const text = await res.text();
    if (text.length > MAX_REPLY_BYTES) throw malformed('too large');
    let value: Record<string, unknown>;
    try {
      value = aobject(JSON.parse(text) as unknown, 'reply');
    } catch {
      throw malformed(`not JSON (HTTP ${res.status})`);
    }
    if (!res.ok) {
      const err = teeErrorFromWire(value.error, 'BACKEND');
      throw new TeeError(err.code, err.message, 'BACKEND');
    }
    return value;
  }

  private bytes(r: Record<string, unknown>, field: string): Uint8Array {
    try {
      return fromBase64url(astring(r[field], field, { max: MAX_REPLY_BYTES }));
    } catch {
      throw malformed(field);
    }
  }

  private receiptOf(r: Record<string, unknown>): SubmittedPayment {
    const receiptBytes = this.bytes(r, 'receipt');
    try {
      return { receipt: decodeSealedReceipt(receiptBytes), receiptBytes };
    } catch {
      throw malformed('receipt');
    }
  }

  private balancesOf(r: Record<string, unknown>): Record<string, number> {
    const b = aobject(r.balances, 'balances');
    const out: Record<string, number> = {};
    for (const [currency, amount] of Object.entries(b)) {
      if (typeof amount !== 'number') throw malformed('balances');
      out[currency] = amount;
    }
    return out;
  }
}
