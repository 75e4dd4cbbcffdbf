/** Who an endpoint is on the channel, and whom it will accept as its peer. */
import { constantTimeEqual } from '../common/bytes.js';
import { TeeError } from '../common/errors.js';
import type { CryptoProvider, SignatureAlgorithm } from '../crypto/provider.js';
import { issueCertificate, type Certificate, type CertificateIssuer, type RootKey } from './certificate.js';

export interface ChannelIdentity {
  /** This endpoint's role; must match its certificate. */
  role: string;
  algorithm: SignatureAlgorithm;
  /** Static identity key. Never leaves the endpoint. */
  secretKey: Uint8Array;
  certificate: Certificate;
  /** Roots whose certificates this endpoint accepts for its peer. */
  trustedRoots: RootKey[];
  /** The only peer role this endpoint accepts ('tee-os' for the trusted key, 'trusted-key' for the TEE OS). */
  expectedPeerRole: string;
}

export interface PeerIdentity {
  role: string;
  subject: string;
  algorithm: SignatureAlgorithm;
  publicKey: Uint8Array;
}

/** Generate a fresh identity key and have `issuer` certify it. For provisioning and tests. */
export function createChannelIdentity(
  provider: CryptoProvider,
  issuer: CertificateIssuer,
  opts: { role: string; subject: string; algorithm?: SignatureAlgorithm; trustedRoots: RootKey[]; expectedPeerRole: string; notAfter?: number },
): ChannelIdentity {
  const algorithm = opts.algorithm ?? 'ed25519';
  const { secretKey, publicKey } = provider.generateKeyPair(algorithm);
  const body = { role: opts.role, subject: opts.subject, algorithm, publicKey, ...(opts.notAfter !== undefined ? { notAfter: opts.notAfter } : {}) };
  const certificate = issueCertificate(provider, issuer, body);
  return { role: opts.role, algorithm, secretKey, certificate, trustedRoots: opts.trustedRoots, expectedPeerRole: opts.expectedPeerRole };
}

const checked = new WeakSet<ChannelIdentity>();

/**
 * Catch a misconfigured identity before it reaches the wire (a certificate for another key or role
 * would only fail at the peer, with a less helpful error). Checked once per identity object.
 */
export function checkIdentity(provider: CryptoProvider, identity: ChannelIdentity): void {
  if (checked.has(identity)) return;
  const cert = identity.certificate;
  if (!cert || cert.role !== identity.role || cert.algorithm !== identity.algorithm) {
    throw new TeeError('BAD_PARAMETERS', 'identity: certificate role or algorithm does not match the identity', 'CHANNEL');
  }
  if (!Array.isArray(identity.trustedRoots) || identity.trustedRoots.length === 0) {
    throw new TeeError('BAD_PARAMETERS', 'identity: no trusted roots', 'CHANNEL');
  }
  if (typeof identity.expectedPeerRole !== 'string' || identity.expectedPeerRole === '') {
    throw new TeeError('BAD_PARAMETERS', 'identity: expectedPeerRole missing', 'CHANNEL');
  }
  const publicKey = provider.publicKeyOf(identity.algorithm, identity.secretKey);
  if (!constantTimeEqual(publicKey, cert.publicKey)) {
    throw new TeeError('BAD_PARAMETERS', 'identity: certificate is for another key', 'CHANNEL');
  }
  checked.add(identity);
}
