import { describe, expect, it } from 'vitest';
import { TeeError } from '../../src/common/errors.js';
import { PROVIDERS } from '../../src/crypto/index.js';
import { createRoot, issueCertificate } from '../../src/channel/index.js';
import {
  createAttestationReport,
  decodeAttestationReport,
  encodeAttestationReport,
  verifyAttestation,
  type AttestationReport,
  type DeviceIdentity,
} from '../../src/tee/attestation.js';

const provider = PROVIDERS.native;
const vendor = createRoot(provider, 'vendor-root', 'p256');

function makeDevice(issuer = vendor.issuer, role = 'device'): DeviceIdentity {
  const kp = provider.generateKeyPair('p256');
  return {
    secretKey: kp.secretKey,
    certificate: issueCertificate(provider, issuer, { role, subject: 'device-001', algorithm: 'p256', publicKey: kp.publicKey }),
  };
}

const device = makeDevice();
const nonce = provider.randomBytes(32);
const measurements = [
  { uuid: '11111111-1111-4111-8111-111111111111', measurement: provider.sha256(new Uint8Array([1])) },
  { uuid: '22222222-2222-4222-8222-222222222222', measurement: provider.sha256(new Uint8Array([2])) },
];
const tk = { subject: 'trusted-key-7', publicKey: provider.generateKeyPair('ed25519').publicKey };

function report(d = device, n = nonce): AttestationReport {
  return createAttestationReport(provider, d, { nonce: n, measurements, trustedKeyIdentity: tk, timestamp: 1_800_000_000_000 });
}

function rejection(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(TeeError);
    expect((err as TeeError).code).toBe('SECURITY');
    return (err as TeeError).message;
  }
  throw new Error('expected SECURITY');
}

describe('attestation reports', () => {
  it('verify for the right nonce, root and measurements, after an encode/decode round trip', () => {
    const decoded = decodeAttestationReport(encodeAttestationReport(report()));
    const claims = verifyAttestation(provider, decoded, vendor.root, nonce, measurements);
    expect(claims.trustedKeyIdentity).toEqual(tk);
    expect(claims.measurements).toEqual(measurements);
  });

  it('verify across providers (native signs, noble verifies)', () => {
    expect(() => verifyAttestation(PROVIDERS.noble, report(), vendor.root, nonce)).not.toThrow();
  });

  it('reject a wrong nonce (replayed report)', () => {
    expect(rejection(() => verifyAttestation(provider, report(), vendor.root, provider.randomBytes(32)))).toMatch(/nonce does not match/);
  });

  it('reject an altered measurement', () => {
    const r = report();
    const forged: AttestationReport = {
      ...r,
      claims: { ...r.claims, measurements: [{ ...measurements[0]!, measurement: provider.sha256(new Uint8Array([66])) }, measurements[1]!] },
    };
    expect(rejection(() => verifyAttestation(provider, forged, vendor.root, nonce))).toMatch(/signature does not verify/);
  });

  it('reject a report whose measurement differs from what the verifier expects', () => {
    const expected = [{ ...measurements[0]!, measurement: provider.sha256(new Uint8Array([9])) }];
    expect(rejection(() => verifyAttestation(provider, report(), vendor.root, nonce, expected))).toMatch(/measurement of TA/);
    const missing = [{ uuid: '33333333-3333-4333-8333-333333333333', measurement: measurements[0]!.measurement }];
    expect(rejection(() => verifyAttestation(provider, report(), vendor.root, nonce, missing))).toMatch(/no measurement/);
  });

  it('reject a report signed by a non-device key under the real device certificate', () => {
    const r = report();
    const rogue = provider.generateKeyPair('p256');
    const forged = createAttestationReport(provider, { secretKey: rogue.secretKey, certificate: device.certificate }, r.claims);
    expect(rejection(() => verifyAttestation(provider, forged, vendor.root, nonce))).toMatch(/signature does not verify/);
  });

  it('reject a device certified by another root, or with another role', () => {
    const otherVendor = createRoot(provider, 'vendor-root', 'p256');
    expect(rejection(() => verifyAttestation(provider, report(makeDevice(otherVendor.issuer)), vendor.root, nonce))).toMatch(/device certificate/);
    expect(rejection(() => verifyAttestation(provider, report(makeDevice(vendor.issuer, 'tee-os')), vendor.root, nonce))).toMatch(/role/);
  });

  it('reject malformed reports as SECURITY', () => {
    expect(rejection(() => verifyAttestation(provider, {} as AttestationReport, vendor.root, nonce))).toMatch(/malformed/);
    expect(rejection(() => decodeAttestationReport(new Uint8Array([0xc1])))).toMatch(/malformed/);
    const short = { ...report(), claims: { ...report().claims, nonce: new Uint8Array(4) } };
    expect(rejection(() => verifyAttestation(provider, short, vendor.root, nonce))).toMatch(/malformed/);
  });
});
