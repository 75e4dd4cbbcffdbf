import { describe, expect, it } from 'vitest';
import { encode } from '../../src/common/codec.js';
import { utf8, containsBytes } from '../../src/common/bytes.js';
import { PROVIDERS } from '../../src/crypto/index.js';
import { SIGNATURE_ALGORITHMS } from '../../src/crypto/provider.js';
import {
  certificateSignedBytes,
  CERTIFICATE_SIGNATURE_LABEL,
  createRoot,
  decodeCertificate,
  encodeCertificate,
  flipBit,
  issueCertificate,
  verifyCertificate,
  type Certificate,
} from '../../src/channel/index.js';
import { expectTeeError } from './fixtures.js';

const providers = Object.values(PROVIDERS);

function verifyError(fn: () => void): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected verifyCertificate to throw');
}

describe('certificates', () => {
  for (const issuerP of providers) {
    for (const verifierP of providers) {
      for (const alg of SIGNATURE_ALGORITHMS) {
        it(`issued by ${issuerP.name} (${alg}) verify under ${verifierP.name}, also after an encode/decode round trip`, () => {
          const { root, issuer } = createRoot(issuerP, 'vendor-root', alg);
          const subjectKey = issuerP.generateKeyPair('ed25519');
          const cert = issueCertificate(issuerP, issuer, { role: 'tee-os', subject: 'tee-os-1', algorithm: 'ed25519', publicKey: subjectKey.publicKey });
          verifyCertificate(verifierP, cert, [root], 'tee-os');
          const again = decodeCertificate(encodeCertificate(cert));
          expect(again).toEqual(cert);
          verifyCertificate(verifierP, again, [root], 'tee-os');
        });
      }
    }
  }

  const p = PROVIDERS.native;
  const { root, issuer } = createRoot(p, 'vendor-root', 'ed25519');
  const key = p.generateKeyPair('p256');
  const cert = issueCertificate(p, issuer, { role: 'tee-os', subject: 'tee-os-1', algorithm: 'p256', publicKey: key.publicKey, notAfter: Date.now() + 60_000 });

  it('signs a domain-separated encoding of every field but the signature', () => {
    const signed = certificateSignedBytes(cert);
    expect(containsBytes(signed, utf8(CERTIFICATE_SIGNATURE_LABEL))).toBe(true);
    expect(containsBytes(signed, cert.publicKey)).toBe(true);
    expect(p.verify('ed25519', root.publicKey, signed, cert.signature)).toBe(true);
  });

  const tampered: [string, Partial<Certificate>][] = [
    ['subject', { subject: 'tee-os-2' }],
    ['public key', { publicKey: p.generateKeyPair('p256').publicKey }],
    ['algorithm', { algorithm: 'ed25519', publicKey: key.publicKey.subarray(1) }],
    ['notAfter', { notAfter: cert.notAfter + 1 }],
    ['signature', { signature: flipBit(cert.signature, 3) }],
  ];
  for (const [field, change] of tampered) {
    it(`rejects a certificate whose ${field} was changed`, () => {
      expectTeeError(verifyError(() => verifyCertificate(p, { ...cert, ...change }, [root], 'tee-os')), 'SECURITY', /does not verify/);
    });
  }

  it('rejects a certificate whose role was changed, naming the role', () => {
    expectTeeError(verifyError(() => verifyCertificate(p, { ...cert, role: 'trusted-key' }, [root], 'trusted-key')), 'SECURITY', /does not verify/);
    expectTeeError(verifyError(() => verifyCertificate(p, cert, [root], 'trusted-key')), 'SECURITY', /role "tee-os" where "trusted-key" is required/);
  });

  it('rejects a self-signed certificate that borrows the trusted root name', () => {
    const impostor = createRoot(p, 'vendor-root', 'ed25519');
    const forged = issueCertificate(p, impostor.issuer, { role: 'tee-os', subject: 'tee-os-1', algorithm: 'p256', publicKey: key.publicKey });
    expectTeeError(verifyError(() => verifyCertificate(p, forged, [root], 'tee-os')), 'SECURITY', /signature by "vendor-root" does not verify/);
  });

  it('rejects an issuer that is not a trusted root, and an expired certificate', () => {
    expectTeeError(verifyError(() => verifyCertificate(p, { ...cert, issuer: 'other-root' }, [root], 'tee-os')), 'SECURITY', /not a trusted root/);
    expectTeeError(verifyError(() => verifyCertificate(p, cert, [root], 'tee-os', cert.notAfter + 1)), 'SECURITY', /expired/);
    verifyCertificate(p, cert, [root], 'tee-os', cert.notAfter); // valid up to and including notAfter
  });

  it('decodes only well-formed certificates', () => {
    const fields = [1, 'tee-os', 'tee-os-1', 'p256', cert.publicKey, 'vendor-root', cert.notAfter, cert.signature];
    const bad: unknown[] = [
      fields.slice(0, 7),
      [...fields, 'extra'],
      [2, ...fields.slice(1)],
      fields.map((f, i) => (i === 3 ? 'rsa' : f)),
      fields.map((f, i) => (i === 4 ? cert.publicKey.subarray(1) : f)),
      fields.map((f, i) => (i === 1 ? 'x'.repeat(200) : f)),
      fields.map((f, i) => (i === 2 ? 'bad\nname' : f)),
      fields.map((f, i) => (i === 6 ? -1 : f)),
      fields.map((f, i) => (i === 7 ? new Uint8Array(63) : f)),
      { role: 'tee-os' },
    ];
    for (const value of bad) expectTeeError(verifyError(() => decodeCertificate(encode(value))), 'BAD_PARAMETERS');
    expectTeeError(verifyError(() => decodeCertificate(new Uint8Array(2000))), 'BAD_PARAMETERS');
    expect(decodeCertificate(encode(fields))).toEqual(cert);
  });
});
