import { describe, expect, it } from 'vitest';
import { TeeError } from '../../src/common/errors.js';
import { utf8 } from '../../src/common/bytes.js';
import { PROVIDERS, type SignatureAlgorithm } from '../../src/crypto/index.js';
import { measureTaCode, signTaManifest, verifyTaPackage, type TaPackage } from '../../src/tee/ta-manifest.js';
import { readTaCode } from '../../src/tee/ta-code.js';

const provider = PROVIDERS.native;
const code = utf8('export const ta = { onInvokeCommand() {} };');
const UUID = '0b9f0a4e-1c2d-4e5f-8a9b-0c1d2e3f4a5b';

function signer(name: string, algorithm: SignatureAlgorithm) {
  const kp = provider.generateKeyPair(algorithm);
  return { signing: { name, algorithm, secretKey: kp.secretKey }, trusted: { name, algorithm, publicKey: kp.publicKey } };
}

function securityMessage(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(TeeError);
    expect((err as TeeError).code).toBe('SECURITY');
    return (err as TeeError).message;
  }
  throw new Error('expected SECURITY');
}

describe.each(['p256', 'ed25519'] as const)('TA packages signed with %s', (algorithm) => {
  const vendor = signer('ta-vendor', algorithm);
  const pkg = signTaManifest(provider, vendor.signing, {
    uuid: UUID,
    name: 'test.ta',
    version: '1.0.0',
    measurement: measureTaCode(provider, code),
    flags: { singleInstance: false },
  });

  it('verifies a package from a trusted signer with matching code', () => {
    const m = verifyTaPackage(provider, pkg, [vendor.trusted], code);
    expect(m.uuid).toBe(UUID);
    expect(m.signer).toBe('ta-vendor');
  });

  it('refuses an unsigned package', () => {
    const unsigned: TaPackage = { manifest: pkg.manifest };
    expect(securityMessage(() => verifyTaPackage(provider, unsigned, [vendor.trusted], code))).toMatch(/unsigned/);
  });

  it('refuses a package re-signed by an unknown key under the trusted name', () => {
    const impostor = signer('ta-vendor', algorithm);
    const resigned = signTaManifest(provider, impostor.signing, pkg.manifest);
    expect(securityMessage(() => verifyTaPackage(provider, resigned, [vendor.trusted], code))).toMatch(/signature does not verify/);
  });

  it('refuses a package whose signer is not trusted at all', () => {
    const other = signer('someone-else', algorithm);
    const theirs = signTaManifest(provider, other.signing, { ...pkg.manifest, signer: 'someone-else' });
    expect(securityMessage(() => verifyTaPackage(provider, theirs, [vendor.trusted], code))).toMatch(/not a trusted TA signer/);
  });

  it.each([
    ['uuid', { uuid: '0b9f0a4e-1c2d-4e5f-8a9b-0c1d2e3f4a5c' }],
    ['name', { name: 'evil.ta' }],
    ['version', { version: '1.0.1' }],
    ['measurement', { measurement: provider.sha256(utf8('other code')) }],
    ['flags', { flags: { singleInstance: true } }],
  ])('refuses an altered manifest (%s)', (_field, change) => {
    const altered: TaPackage = { manifest: { ...pkg.manifest, ...change }, signature: pkg.signature! };
    expect(securityMessage(() => verifyTaPackage(provider, altered, [vendor.trusted], code))).toMatch(/signature does not verify/);
  });

  it('refuses code that does not match the measurement', () => {
    const altered = utf8('export const ta = { onInvokeCommand() { leak(); } };');
    expect(securityMessage(() => verifyTaPackage(provider, pkg, [vendor.trusted], altered))).toMatch(/code does not match the measurement/);
  });

  it('refuses a malformed manifest as SECURITY, not a crash', () => {
    const bad = { manifest: { ...pkg.manifest, uuid: 'not-a-uuid' }, signature: pkg.signature } as TaPackage;
    expect(securityMessage(() => verifyTaPackage(provider, bad, [vendor.trusted], code))).toMatch(/malformed manifest/);
    expect(securityMessage(() => verifyTaPackage(provider, null as unknown as TaPackage, [vendor.trusted], code))).toMatch(/TA package/);
  });
});

describe('signTaManifest', () => {
  it('refuses a manifest naming a different signer than the key', () => {
    const s = signer('a', 'ed25519');
    expect(() =>
      signTaManifest(provider, s.signing, { uuid: UUID, name: 'x', version: '1', measurement: new Uint8Array(32), flags: {}, signer: 'b' }),
    ).toThrowError(/different signer/);
  });
});

describe('readTaCode', () => {
  it('reads a module source as the bytes to measure, and fails typed for a missing file', async () => {
    const code = await readTaCode(new URL('./fixtures/test-ta.ts', import.meta.url));
    expect(new TextDecoder().decode(code)).toContain('export const testTa');
    await expect(readTaCode(new URL('./fixtures/missing-ta.ts', import.meta.url))).rejects.toMatchObject({ code: 'ITEM_NOT_FOUND' });
  });
});
