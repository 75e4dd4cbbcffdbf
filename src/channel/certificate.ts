/**
 * Certificate-like statements: "issuer says: this public key belongs to subject, acting as role,
 * until notAfter". Not X.509: a fixed-order msgpack array, signed under a domain-separation label
 * so a certificate signature can never be mistaken for a handshake or payment signature.
 */
import { aarray, abytes, aint, aoneOf, astring } from '../common/checks.js';
import { decode, encode } from '../common/codec.js';
import { TeeError } from '../common/errors.js';
import { SIGNATURE_ALGORITHMS, type CryptoProvider, type SignatureAlgorithm } from '../crypto/provider.js';

export interface Certificate {
  version: 1;
  /** What the key may act as: 'tee-os', 'trusted-key', 'device', … */
  role: string;
  subject: string;
  algorithm: SignatureAlgorithm;
  publicKey: Uint8Array;
  /** Name of the root that signed it. */
  issuer: string;
  /** Expiry, ms since the epoch. */
  notAfter: number;
  signature: Uint8Array;
}

export interface RootKey {
  name: string;
  algorithm: SignatureAlgorithm;
  publicKey: Uint8Array;
}

/** What signs certificates. Keep `secretKey` inside the provisioning code. */
export interface CertificateIssuer {
  name: string;
  algorithm: SignatureAlgorithm;
  secretKey: Uint8Array;
}

export interface CertificateBody {
  role: string;
  subject: string;
  algorithm: SignatureAlgorithm;
  publicKey: Uint8Array;
  notAfter?: number;
}

export const CERTIFICATE_SIGNATURE_LABEL = 'tee-sim/cert/v1';
/** Certificates issued without an explicit expiry last ten years. */
export const DEFAULT_CERTIFICATE_LIFETIME_MS = 10 * 365 * 24 * 3600 * 1000;
export const MAX_CERTIFICATE_BYTES = 1024;

const NAME_PATTERN = /^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$/; // printable ASCII, no edge spaces
const PUBLIC_KEY_BYTES: Record<SignatureAlgorithm, number> = { p256: 33, ed25519: 32 };

function checkName(value: unknown, title: string): string {
  return astring(value, title, { min: 1, max: 128, pattern: NAME_PATTERN });
}

function checkPublicKey(algorithm: SignatureAlgorithm, value: unknown, title: string): Uint8Array {
  return abytes(value, title, PUBLIC_KEY_BYTES[algorithm]);
}

/** The exact bytes an issuer signs: the label then every field but the signature, in a fixed order. */
export function certificateSignedBytes(cert: Omit<Certificate, 'signature'>): Uint8Array {
  return encode([CERTIFICATE_SIGNATURE_LABEL, cert.version, cert.role, cert.subject, cert.algorithm, cert.publicKey, cert.issuer, cert.notAfter]);
}

export function createRoot(provider: CryptoProvider, name: string, algorithm: SignatureAlgorithm): { secretKey: Uint8Array; root: RootKey; issuer: CertificateIssuer } {
  checkName(name, 'root name');
  aoneOf(algorithm, 'root algorithm', SIGNATURE_ALGORITHMS);
  const { secretKey, publicKey } = provider.generateKeyPair(algorithm);
  return { secretKey, root: { name, algorithm, publicKey }, issuer: { name, algorithm, secretKey } };
}

export function issueCertificate(provider: CryptoProvider, issuer: CertificateIssuer, body: CertificateBody): Certificate {
  const algorithm = aoneOf(body.algorithm, 'certificate algorithm', SIGNATURE_ALGORITHMS);
  const unsigned: Omit<Certificate, 'signature'> = {
    version: 1,
    role: checkName(body.role, 'certificate role'),
    subject: checkName(body.subject, 'certificate subject'),
    algorithm,
    publicKey: new Uint8Array(checkPublicKey(algorithm, body.publicKey, 'certificate public key')),
    issuer: checkName(issuer.name, 'issuer name'),
    notAfter: aint(body.notAfter ?? Date.now() + DEFAULT_CERTIFICATE_LIFETIME_MS, 'certificate notAfter'),
  };
  aoneOf(issuer.algorithm, 'issuer algorithm', SIGNATURE_ALGORITHMS);
  const signature = provider.sign(issuer.algorithm, issuer.secretKey, certificateSignedBytes(unsigned));
  return { ...unsigned, signature };
}

function reject(reason: string): never {
  throw new TeeError('SECURITY', `certificate: ${reason}`, 'CHANNEL');
}

/**
 * Accept `cert` only if a trusted root of the named issuer signed it, it is for `expectedRole`, and
 * it has not expired at `now`. Throws TeeError('SECURITY', 'certificate: <reason>') otherwise.
 */
export function verifyCertificate(provider: CryptoProvider, cert: Certificate, trustedRoots: readonly RootKey[], expectedRole: string, now: number = Date.now()): void {
  if (cert.version !== 1) reject('unsupported version');
  if (cert.role !== expectedRole) reject(`role "${cert.role}" where "${expectedRole}" is required`);
  const roots = trustedRoots.filter((r) => r.name === cert.issuer);
  if (roots.length === 0) reject(`issuer "${cert.issuer}" is not a trusted root`);
  const signed = certificateSignedBytes(cert);
  if (!roots.some((r) => provider.verify(r.algorithm, r.publicKey, signed, cert.signature))) {
    reject(`signature by "${cert.issuer}" does not verify`);
  }
  if (!(now <= cert.notAfter)) reject('expired');
}

export function encodeCertificate(cert: Certificate): Uint8Array {
  return encode([cert.version, cert.role, cert.subject, cert.algorithm, cert.publicKey, cert.issuer, cert.notAfter, cert.signature]);
}

/** Parse untrusted bytes into a well-formed certificate (not yet verified). Throws BAD_PARAMETERS. */
export function decodeCertificate(bytes: Uint8Array): Certificate {
  const fields = aarray(decode(bytes, MAX_CERTIFICATE_BYTES, 'CHANNEL'), 'certificate', 8);
  if (fields.length !== 8) throw new TeeError('BAD_PARAMETERS', 'certificate: expected 8 fields', 'CHANNEL');
  const [version, role, subject, algorithm, publicKey, issuer, notAfter, signature] = fields;
  if (version !== 1) throw new TeeError('BAD_PARAMETERS', 'certificate: unsupported version', 'CHANNEL');
  const alg = aoneOf(algorithm, 'certificate algorithm', SIGNATURE_ALGORITHMS);
  return {
    version: 1,
    role: checkName(role, 'certificate role'),
    subject: checkName(subject, 'certificate subject'),
    algorithm: alg,
    publicKey: checkPublicKey(alg, publicKey, 'certificate public key'),
    issuer: checkName(issuer, 'certificate issuer'),
    notAfter: aint(notAfter, 'certificate notAfter'),
    signature: abytes(signature, 'certificate signature', 64),
  };
}
