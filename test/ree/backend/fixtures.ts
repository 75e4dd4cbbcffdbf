/**
 * Shared fixtures for the backend tests: a small KMC (8x8 matrices), CPK private keys opened from
 * issuance packages (standing in for payers' trusted keys), statement builders and a running
 * backend on an ephemeral loopback port in a fresh temp dir.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { TeeError } from '../../../src/common/errors.js';
import type { CryptoProvider } from '../../../src/crypto/provider.js';
import { nativeProvider } from '../../../src/crypto/index.js';
import {
  encodeSigned, offlineDisplayText, onlineDisplayText, signingBytes,
  type OfflineOffer, type OfflinePayment, type OnlinePayment, type PartyId, type SignedStatement,
} from '../../../src/protocol/payment.js';
import { KeyManagementCentre, openIssuancePackage, type PublicMatrix } from '../../../src/cpk/index.js';
import { startBackend, type BackendOptions, type RunningBackend } from '../../../src/ree/backend/server.js';
import { BackendClient } from '../../../src/ree/backend/client.js';

export interface Identity {
  party: PartyId;
  secretKey: Uint8Array;
  /** Hardened subdomains: the separating certificate carried as `identityProof`. */
  proof?: Uint8Array;
}

export interface Kmc {
  provider: CryptoProvider;
  kmc: KeyManagementCentre;
  kmcPublicKey: Uint8Array;
  matrices: Record<string, PublicMatrix>;
  /** Issue a user's private key into a fresh recipient key and open it, as a trusted key would. */
  issue(subdomainId: string, userId: string): Promise<Identity>;
  /** An identity issued earlier (by `issue` or the `users` list). */
  identity(subdomainId: string, userId: string): Identity;
}

/** A KMC with 8x8 subdomains and pre-issued identities ('subdomain/user'). */
export async function makeKmc(
  provider: CryptoProvider = nativeProvider,
  subdomains: Record<string, 'plain' | 'hardened'> = { retail: 'plain' },
  users: string[] = [],
): Promise<Kmc> {
  const kmc = await KeyManagementCentre.create({ provider });
  const matrices: Record<string, PublicMatrix> = {};
  for (const [id, mode] of Object.entries(subdomains)) matrices[id] = await kmc.createSubdomain(id, { rows: 8, cols: 8, mode });
  const kmcPublicKey = kmc.kmcPublicKey;
  const identities = new Map<string, Identity>();
  const world: Kmc = {
    provider, kmc, kmcPublicKey, matrices,
    identity(subdomainId, userId) {
      const known = identities.get(`${subdomainId}/${userId}`);
      if (!known) throw new Error(`fixture: ${subdomainId}/${userId} was not issued`);
      return known;
    },
    async issue(subdomainId, userId) {
      const key = `${subdomainId}/${userId}`;
      const known = identities.get(key);
      if (known) return known;
      const recipient = provider.generateKeyPair('p256');
      const pkg = await kmc.issuePrivateKey(subdomainId, userId, { publicKey: recipient.publicKey });
      const opened = openIssuancePackage(provider, recipient.secretKey, pkg, kmcPublicKey, matrices[subdomainId]);
      const id: Identity = { party: { subdomainId, userId }, secretKey: opened.secretKey };
      if (opened.certificate) id.proof = opened.certificate;
      identities.set(key, id);
      return id;
    },
  };
  for (const u of users) {
    const [subdomainId, userId] = u.split('/') as [string, string];
    await world.issue(subdomainId, userId);
  }
  return world;
}

let counter = 0;
/** A fresh 16-byte nonce (random: nonces are unique per payer in real life). */
export function nonce(provider: CryptoProvider = nativeProvider): Uint8Array {
  counter++;
  return provider.randomBytes(16);
}

export function onlinePayment(payer: PartyId, payee: PartyId, o: { amount?: number; orderId?: string; currency?: string; expiresAt?: number; nonce?: Uint8Array } = {}): OnlinePayment {
  const base = {
    version: 1 as const, kind: 'online-payment' as const, nonce: o.nonce ?? nonce(), payee, amount: o.amount ?? 1234, currency: o.currency ?? 'CNY',
    orderId: o.orderId ?? `ORD-${Date.now()}-${counter}`, expiresAt: o.expiresAt ?? Date.now() + 600_000, payer, signedAt: Date.now(),
  };
  return { ...base, display: onlineDisplayText(base) };
}

export function offlineOffer(payee: PartyId, o: { txId?: string; amount?: number; expiresAt?: number } = {}): OfflineOffer {
  return {
    version: 1, kind: 'offline-offer', nonce: nonce(), txId: o.txId ?? `TX-${counter}`, amount: o.amount ?? 500, currency: 'CNY', payee,
    expiresAt: o.expiresAt ?? Date.now() + 600_000,
  };
}

export function offlinePayment(provider: CryptoProvider, offer: OfflineOffer, payer: PartyId, payerCounter: number): OfflinePayment {
  const base = {
    version: 1 as const, kind: 'offline-payment' as const, offerNonce: offer.nonce, offerDigest: provider.sha256(signingBytes(offer)), txId: offer.txId,
    amount: offer.amount, currency: offer.currency, payee: offer.payee, payer, counter: payerCounter, signedAt: Date.now(),
  };
  return { ...base, display: offlineDisplayText(base) };
}

/** Sign a statement as the identity's trusted key would and carry it as encodeSigned bytes. */
export function signAs<T extends SignedStatement>(provider: CryptoProvider, who: Identity, statement: T): Uint8Array {
  const signature = provider.sign('p256', who.secretKey, signingBytes(statement));
  return encodeSigned(who.proof ? { statement, signature, identityProof: who.proof } : { statement, signature });
}

export interface TestBackend {
  backend: RunningBackend;
  client: BackendClient;
  dataDir: string;
  /** Close the server (if still open) and delete the data dir. */
  dispose(): Promise<void>;
}

export async function startTestBackend(world: Kmc, extra: Partial<BackendOptions> = {}): Promise<TestBackend> {
  const dataDir = extra.dataDir ?? (await mkdtemp(join(tmpdir(), 'tee-sim-backend-')));
  const backend = await startBackend({
    dataDir, port: 0, provider: world.provider, trustedKmcPublicKey: world.kmcPublicKey, matrices: Object.values(world.matrices), sync: false, ...extra,
  });
  return {
    backend, dataDir, client: new BackendClient(backend.url),
    async dispose() {
      await backend.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Await a promise that must reject with a TeeError of `code`; returns the error. */
export async function expectTeeError(p: Promise<unknown>, code: string): Promise<TeeError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err, `expected ${code}`).toBeInstanceOf(TeeError);
  expect((err as TeeError).code).toBe(code);
  return err as TeeError;
}

/** Raw HTTP for malformed requests the client would never send. */
export async function rawRequest(url: string, init: RequestInit = {}): Promise<{ status: number; body: unknown }> {
  const res = await fetch(url, init);
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: res.status, body };
}
