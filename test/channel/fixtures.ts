/** Shared set-up for the channel tests: a small PKI, connected channel pairs, and waiting helpers. */
import { expect } from 'vitest';
import { TeeError, type TeeErrorCode } from '../../src/common/errors.js';
import type { CryptoProvider, SignatureAlgorithm } from '../../src/crypto/provider.js';
import {
  acceptChannel,
  connectChannel,
  createChannelIdentity,
  createInterceptedPair,
  createRoot,
  type ChannelIdentity,
  type ChannelOptions,
  type InterceptedPair,
  type SecureChannel,
} from '../../src/channel/index.js';

export interface Pki {
  provider: CryptoProvider;
  /** Signs TEE OS certificates; the trusted key trusts it. */
  vendor: ReturnType<typeof createRoot>;
  /** Signs trusted-key certificates; the TEE OS trusts it. */
  issuer: ReturnType<typeof createRoot>;
  teeOs: ChannelIdentity;
  trustedKey: ChannelIdentity;
}

/** Vendor root (Ed25519) certifies the TEE OS (Ed25519); issuer root (P-256) certifies the trusted key (P-256). */
export function makePki(provider: CryptoProvider, algs: { teeOs?: SignatureAlgorithm; trustedKey?: SignatureAlgorithm } = {}): Pki {
  const vendor = createRoot(provider, 'vendor-root', 'ed25519');
  const issuer = createRoot(provider, 'issuer-root', 'p256');
  const teeOs = createChannelIdentity(provider, vendor.issuer, {
    role: 'tee-os',
    subject: 'tee-os-1',
    algorithm: algs.teeOs ?? 'ed25519',
    trustedRoots: [issuer.root],
    expectedPeerRole: 'trusted-key',
  });
  const trustedKey = createChannelIdentity(provider, issuer.issuer, {
    role: 'trusted-key',
    subject: 'tk-0001',
    algorithm: algs.trustedKey ?? 'p256',
    trustedRoots: [vendor.root],
    expectedPeerRole: 'tee-os',
  });
  return { provider, vendor, issuer, teeOs, trustedKey };
}

export interface OpenPair {
  wire: InterceptedPair;
  /** Initiator end (the trusted key). */
  tk: SecureChannel;
  /** Responder end (the TEE OS). */
  tee: SecureChannel;
}

export async function openPair(
  pki: Pki,
  opts: { initiator?: ChannelOptions; responder?: ChannelOptions; wire?: InterceptedPair } = {},
): Promise<OpenPair> {
  const wire = opts.wire ?? createInterceptedPair();
  const [tk, tee] = await Promise.all([
    connectChannel(wire.initiator, pki.trustedKey, { provider: pki.provider, ...opts.initiator }),
    acceptChannel(wire.responder, pki.teeOs, { provider: pki.provider, ...opts.responder }),
  ]);
  return { wire, tk, tee };
}

/** Run the handshake and return both outcomes, for tests where one side must fail. */
export async function handshakeOutcomes(
  wire: InterceptedPair,
  initiator: ChannelIdentity,
  responder: ChannelIdentity,
  provider: CryptoProvider,
  extra: { initiator?: ChannelOptions; responder?: ChannelOptions } = {},
) {
  const [i, r] = await Promise.allSettled([
    connectChannel(wire.initiator, initiator, { provider, handshakeTimeoutMs: 5000, ...extra.initiator }),
    acceptChannel(wire.responder, responder, { provider, handshakeTimeoutMs: 5000, ...extra.responder }),
  ]);
  return { initiator: i, responder: r };
}

export function rejection(outcome: PromiseSettledResult<unknown>): TeeError {
  expect(outcome.status).toBe('rejected');
  const reason = (outcome as PromiseRejectedResult).reason as unknown;
  expect(reason).toBeInstanceOf(TeeError);
  return reason as TeeError;
}

export function expectTeeError(err: unknown, code: TeeErrorCode, message?: RegExp): void {
  expect(err).toBeInstanceOf(TeeError);
  const e = err as TeeError;
  expect(e.code, e.message).toBe(code);
  if (message) expect(e.message).toMatch(message);
}

export async function rejects(promise: Promise<unknown>): Promise<TeeError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(TeeError);
    return err as TeeError;
  }
  throw new Error('expected a rejection');
}

/** Let queued microtasks and one macrotask turn run (frame delivery, the channel's start gate). */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Wait (by event-loop turns, not by time) until `predicate` holds; fails after `turns` turns. */
export async function until(predicate: () => boolean, turns = 2000): Promise<void> {
  for (let i = 0; i < turns; i++) {
    if (predicate()) return;
    await settle();
  }
  throw new Error('condition not reached');
}

/** Resolve with the error a channel closed with (undefined for an orderly close). */
export function closedWith(channel: SecureChannel): Promise<TeeError | undefined> {
  return new Promise((resolve) => channel.onClose(resolve));
}

export const numRuns = (fallback = 300): number => {
  const env = Number(process.env.FC_NUM_RUNS);
  return Number.isSafeInteger(env) && env > 0 ? env : fallback;
};
