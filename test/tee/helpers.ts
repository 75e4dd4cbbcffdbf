/** Shared set-up for the TEE conformance tests: keys, signed test TAs, a booted TEE OS in a temp dir. */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROVIDERS } from '../../src/crypto/index.js';
import { createRoot, issueCertificate } from '../../src/channel/index.js';
import { TeeOs, measureTaCode, signTaManifest, type DeviceIdentity, type TaPackage, type TeeOsOptions } from '../../src/tee/index.js';
import { testTa } from './fixtures/test-ta.js';

export const provider = PROVIDERS.native;

export const TA_A = 'aaaaaaaa-0000-4000-8000-00000000000a';
export const TA_B = 'bbbbbbbb-0000-4000-8000-00000000000b';
export const UNKNOWN_TA = 'cccccccc-0000-4000-8000-00000000000c';

/** The TA's "code": the source text of its implementation module, as the installer reads it. */
export const testTaCode = new Uint8Array(readFileSync(new URL('./fixtures/test-ta.ts', import.meta.url)));

const taSigner = (() => {
  const kp = provider.generateKeyPair('ed25519');
  return {
    signing: { name: 'ta-vendor', algorithm: 'ed25519' as const, secretKey: kp.secretKey },
    trusted: { name: 'ta-vendor', algorithm: 'ed25519' as const, publicKey: kp.publicKey },
  };
})();

export const trustedTaSigners = [taSigner.trusted];
export const taSigningKey = taSigner.signing;

export const vendor = createRoot(provider, 'vendor-root', 'p256');

export function makeDevice(): DeviceIdentity {
  const kp = provider.generateKeyPair('p256');
  return {
    secretKey: kp.secretKey,
    certificate: issueCertificate(provider, vendor.issuer, { role: 'device', subject: 'device-test', algorithm: 'p256', publicKey: kp.publicKey }),
  };
}

export function testPackage(uuid: string, flags: { singleInstance?: boolean; multiSession?: boolean } = {}): TaPackage {
  return signTaManifest(provider, taSigningKey, {
    uuid,
    name: `test.${uuid.slice(0, 4)}`,
    version: '1.0.0',
    measurement: measureTaCode(provider, testTaCode),
    flags,
  });
}

export async function tempDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'tee-sim-tee-'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export interface BootedTee {
  tee: TeeOs;
  dir: string;
  device: DeviceIdentity;
  /** Close the TEE and delete its data dir. */
  cleanup(): Promise<void>;
}

/** A TEE OS with the test TA installed as TA_A and TA_B. */
export async function bootTee(options: Partial<TeeOsOptions> & { dir?: string } = {}): Promise<BootedTee> {
  const own = options.dir ? undefined : await tempDir();
  const dir = options.dir ?? own!.dir;
  const device = options.device ?? makeDevice();
  const tee = await TeeOs.create({ provider, trustedTaSigners, device, ...options, dataDir: dir });
  tee.installTa(testPackage(TA_A), testTaCode, testTa);
  tee.installTa(testPackage(TA_B), testTaCode, testTa);
  return {
    tee,
    dir,
    device,
    async cleanup() {
      await tee.close();
      await own?.cleanup();
    },
  };
}
