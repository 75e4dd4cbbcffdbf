/**
 * Remote attestation: the device key (P-256, certified by the vendor root with role 'device') signs
 * the verifier's nonce, the measurements of the installed TAs, the trusted key's identity if one is
 * attached, and a timestamp, under a domain label. The REE reaches it through a pseudo-TA in the TEE
 * core (as OP-TEE's core/pta/attestation.c), and carries the report to a verifier it cannot fool.
 *
 * What this guarantees: the report was made by a device key the vendor certified, for this nonce, over
 * these measurements. What it does not: freshness beyond the nonce the verifier chose, or that the
 * device key was not extracted (the simulator keeps it in process memory).
 */
import { TeeError } from '../common/errors.js';
import { aarray, abytes, aint, aobject, aoneOf, astring } from '../common/checks.js';
import { constantTimeEqual, copyBytes } from '../common/bytes.js';
import { decode, encode } from '../common/codec.js';
import { SIGNATURE_ALGORITHMS, type CryptoProvider } from '../crypto/provider.js';
import { verifyCertificate, type Certificate, type RootKey } from '../channel/index.js';
import { expectParamTypes, MAX_MEMREF_BYTES, type MemrefParam } from './params.js';
import { UUID_PATTERN } from './ta-manifest.js';
import type { TrustedApplication } from './ta.js';

export const ATTESTATION_DOMAIN = 'tee-sim/attestation/v1';
/** Fixed UUID of the attestation pseudo-TA. */
export const ATTESTATION_TA_UUID = 'a77e5a7e-0000-4000-8000-000000000001';
/** Commands of the attestation pseudo-TA. */
export const ATTESTATION_CMD = { ATTEST: 1 } as const;
/** Role the vendor root must have given the device key's certificate. */
export const DEVICE_ROLE = 'device';

export const ATTESTATION_NONCE_MIN_BYTES = 16;
export const ATTESTATION_NONCE_MAX_BYTES = 64;
const MAX_MEASUREMENTS = 256;
const MAX_REPORT_BYTES = 64 * 1024;

export interface TaMeasurement {
  uuid: string;
  measurement: Uint8Array;
}

export interface TrustedKeyIdentity {
  subject: string;
  publicKey: Uint8Array;
}

export interface AttestationClaims {
  nonce: Uint8Array;
  measurements: TaMeasurement[];
  trustedKeyIdentity?: TrustedKeyIdentity;
  /** ms since the epoch, by the TEE's clock. */
  timestamp: number;
}

export interface AttestationReport {
  claims: AttestationClaims;
  /** The device key's certificate, issued by the vendor root. */
  certificate: Certificate;
  signature: Uint8Array;
}

/** The device's attestation identity; the secret key never leaves the TEE OS. */
export interface DeviceIdentity {
  secretKey: Uint8Array;
  certificate: Certificate;
}

/** The exact bytes signed: label and claims in a fixed order, so the encoding has one form. */
export function attestationSigningBytes(claims: AttestationClaims): Uint8Array {
  return encode([
    ATTESTATION_DOMAIN,
    claims.nonce,
    claims.measurements.map((m) => [m.uuid, m.measurement]),
    claims.trustedKeyIdentity ? [claims.trustedKeyIdentity.subject, claims.trustedKeyIdentity.publicKey] : null,
    claims.timestamp,
  ]);
}

export function createAttestationReport(provider: CryptoProvider, device: DeviceIdentity, claims: AttestationClaims): AttestationReport {
  const checked = parseClaims(claims);
  if (device.certificate.algorithm !== 'p256') throw new TeeError('BAD_PARAMETERS', 'attestation: device key must be P-256', 'TEE');
  const signature = provider.sign('p256', device.secretKey, attestationSigningBytes(checked));
  return { claims: checked, certificate: device.certificate, signature };
}

function parseClaims(raw: unknown): AttestationClaims {
  const c = aobject(raw, 'attestation claims');
  const measurements = aarray(c.measurements, 'attestation measurements', MAX_MEASUREMENTS).map((m, i) => {
    const o = aobject(m, `attestation measurements[${i}]`);
    return {
      uuid: astring(o.uuid, `attestation measurements[${i}].uuid`, { pattern: UUID_PATTERN }),
      measurement: abytes(o.measurement, `attestation measurements[${i}].measurement`, 32),
    };
  });
  let trustedKeyIdentity: TrustedKeyIdentity | undefined;
  if (c.trustedKeyIdentity !== undefined && c.trustedKeyIdentity !== null) {
    const t = aobject(c.trustedKeyIdentity, 'attestation trustedKeyIdentity');
    trustedKeyIdentity = {
      subject: astring(t.subject, 'attestation trustedKeyIdentity.subject', { min: 1, max: 128 }),
      publicKey: abytes(t.publicKey, 'attestation trustedKeyIdentity.publicKey', { min: 32, max: 65 }),
    };
  }
  return {
    nonce: abytes(c.nonce, 'attestation nonce', { min: ATTESTATION_NONCE_MIN_BYTES, max: ATTESTATION_NONCE_MAX_BYTES }),
    measurements,
    ...(trustedKeyIdentity ? { trustedKeyIdentity } : {}),
    timestamp: aint(c.timestamp, 'attestation timestamp'),
  };
}

/** Shape of a certificate as carried in a report; its signature is checked by `verifyCertificate`. */
function parseCertificateShape(raw: unknown): Certificate {
  const c = aobject(raw, 'attestation certificate');
  if (c.version !== 1) throw new TeeError('BAD_PARAMETERS', 'attestation certificate: unsupported version', 'API');
  return {
    version: 1,
    role: astring(c.role, 'attestation certificate.role', { min: 1, max: 128 }),
    subject: astring(c.subject, 'attestation certificate.subject', { min: 1, max: 128 }),
    algorithm: aoneOf(c.algorithm, 'attestation certificate.algorithm', SIGNATURE_ALGORITHMS),
    publicKey: abytes(c.publicKey, 'attestation certificate.publicKey', { min: 32, max: 65 }),
    issuer: astring(c.issuer, 'attestation certificate.issuer', { min: 1, max: 128 }),
    notAfter: aint(c.notAfter, 'attestation certificate.notAfter'),
    signature: abytes(c.signature, 'attestation certificate.signature', 64),
  };
}

export function encodeAttestationReport(report: AttestationReport): Uint8Array {
  return encode(report);
}

/** Parse a report from untrusted bytes (shape only: call `verifyAttestation` before believing it). */
export function decodeAttestationReport(bytes: Uint8Array): AttestationReport {
  try {
    const r = aobject(decode(bytes, MAX_REPORT_BYTES, 'API'), 'attestation report');
    return {
      claims: parseClaims(r.claims),
      certificate: parseCertificateShape(r.certificate),
      signature: abytes(r.signature, 'attestation signature', 64),
    };
  } catch (err) {
    if (err instanceof TeeError) throw new TeeError('SECURITY', `attestation: malformed report (${err.message})`, 'API');
    throw err;
  }
}

function reject(reason: string): never {
  throw new TeeError('SECURITY', `attestation: ${reason}`, 'API');
}

/**
 * Verify a report for the nonce the verifier chose. Checks, in order: shape, the device certificate
 * under `vendorRoot` (role 'device'), the signature, the nonce, and each expected measurement (TAs
 * not listed in `expectedMeasurements` may also be present). Returns the claims; throws SECURITY.
 */
export function verifyAttestation(
  provider: CryptoProvider,
  report: AttestationReport,
  vendorRoot: RootKey,
  expectedNonce: Uint8Array,
  expectedMeasurements?: readonly TaMeasurement[],
  now?: number,
): AttestationClaims {
  let claims: AttestationClaims;
  let signature: Uint8Array;
  let cert: Certificate;
  try {
    const r = aobject(report, 'attestation report');
    claims = parseClaims(r.claims);
    signature = abytes(r.signature, 'attestation signature', 64);
    cert = parseCertificateShape(r.certificate);
  } catch (err) {
    if (err instanceof TeeError) reject(`malformed report (${err.message})`);
    throw err;
  }
  try {
    verifyCertificate(provider, cert, [vendorRoot], DEVICE_ROLE, now);
  } catch (err) {
    if (err instanceof TeeError) reject(`device ${err.message}`);
    throw err;
  }
  if (cert.algorithm !== 'p256') reject('device key is not P-256');
  if (!provider.verify('p256', cert.publicKey, attestationSigningBytes(claims), signature)) {
    reject('signature does not verify under the device key');
  }
  if (!constantTimeEqual(claims.nonce, abytes(expectedNonce, 'expected nonce'))) reject('nonce does not match');
  for (const want of expectedMeasurements ?? []) {
    const got = claims.measurements.find((m) => m.uuid === want.uuid);
    if (!got) reject(`no measurement for TA ${want.uuid}`);
    if (!constantTimeEqual(got.measurement, want.measurement)) reject(`measurement of TA ${want.uuid} does not match`);
  }
  return claims;
}

export interface AttestationPtaDeps {
  provider: CryptoProvider;
  device: DeviceIdentity | undefined;
  measurements(): TaMeasurement[];
  trustedKeyIdentity(): TrustedKeyIdentity | undefined;
  now(): number;
}

/**
 * The attestation pseudo-TA. ATTEST: params[0] memref_input nonce (16..64 bytes), params[1]
 * memref_output receiving the encoded report. Only public data leaves: the report and certificate.
 */
export function createAttestationPta(deps: AttestationPtaDeps): TrustedApplication {
  return {
    onInvokeCommand(_session, commandId, params) {
      if (commandId !== ATTESTATION_CMD.ATTEST) throw new TeeError('NOT_SUPPORTED', 'attestation: unknown command');
      expectParamTypes(params, ['memref_input', 'memref_output', 'none', 'none']);
      const nonce = abytes((params[0] as MemrefParam).buffer, 'attestation nonce', {
        min: ATTESTATION_NONCE_MIN_BYTES,
        max: ATTESTATION_NONCE_MAX_BYTES,
      });
      if (!deps.device) throw new TeeError('NOT_SUPPORTED', 'attestation: this device has no attestation key');
      const identity = deps.trustedKeyIdentity();
      const report = createAttestationReport(deps.provider, deps.device, {
        nonce: copyBytes(nonce),
        measurements: deps.measurements(),
        ...(identity ? { trustedKeyIdentity: identity } : {}),
        timestamp: deps.now(),
      });
      const bytes = encodeAttestationReport(report);
      if (bytes.length > MAX_MEMREF_BYTES) throw new TeeError('OVERFLOW', 'attestation: report too large');
      const out = params[1] as MemrefParam;
      out.buffer = bytes;
      out.size = bytes.length;
    },
  };
}
