/**
 * The manufacturer. It holds three signing keys:
 *   vendor root    certifies TEE OS channel keys ('tee-os') and device attestation keys ('device')
 *   issuer root    certifies trusted keys ('trusted-key')
 *   TA signer      signs TA packages the TEE installs
 * `Factory.open(dir)` creates them on first use and keeps them in `<dir>/factory-keys`. That file is
 * the simulator's stand-in for the manufacturer's HSM: it belongs to no phone and is not REE-visible
 * in the threat model (a real REE would never hold it). Only the public halves leave this class.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { zeroize } from '../common/bytes.js';
import { aarray, abytes, aoneOf, astring } from '../common/checks.js';
import { decode, encode } from '../common/codec.js';
import { TeeError } from '../common/errors.js';
import { defaultProvider } from '../crypto/index.js';
import type { CryptoProvider, SignatureAlgorithm } from '../crypto/provider.js';
import { issueCertificate, type ChannelIdentity, type RootKey } from '../channel/index.js';
import { signTaManifest, type DeviceIdentity, type TaManifest, type TaPackage, type TaSignerKey } from '../tee/index.js';
import type { AgentIdentity } from '../trusted-key/index.js';

const FILE = 'factory-keys';
const ALGORITHMS: readonly SignatureAlgorithm[] = ['p256', 'ed25519'];

interface Signer {
  name: string;
  algorithm: SignatureAlgorithm;
  secretKey: Uint8Array;
}

const NAMES = { vendor: 'vendor-root', issuer: 'issuer-root', ta: 'ta-signer' } as const;

function encodeSigners(signers: Signer[]): Uint8Array {
  return encode([1, ...signers.map((s) => [s.name, s.algorithm, s.secretKey])]);
}

function decodeSigners(bytes: Uint8Array): Signer[] {
  try {
    const v = aarray(decode(bytes, 4096, 'API'), 'factory keys', 4);
    if (v.length !== 4 || v[0] !== 1) throw new Error('shape');
    return v.slice(1).map((s) => {
      const f = aarray(s, 'factory key', 3);
      return {
        name: astring(f[0], 'factory key name', { min: 1, max: 64 }),
        algorithm: aoneOf(f[1], 'factory key algorithm', ALGORITHMS),
        secretKey: new Uint8Array(abytes(f[2], 'factory key secret', 32)),
      };
    });
  } catch {
    throw new TeeError('CORRUPT_OBJECT', 'factory: key file is malformed', 'API');
  }
}

export class Factory {
  readonly provider: CryptoProvider;
  readonly vendorRoot: RootKey;
  readonly issuerRoot: RootKey;
  readonly taSigner: TaSignerKey;
  readonly #vendor: Signer;
  readonly #issuer: Signer;
  readonly #ta: Signer;

  private constructor(provider: CryptoProvider, vendor: Signer, issuer: Signer, ta: Signer) {
    this.provider = provider;
    this.#vendor = vendor;
    this.#issuer = issuer;
    this.#ta = ta;
    const pub = (s: Signer) => ({ name: s.name, algorithm: s.algorithm, publicKey: provider.publicKeyOf(s.algorithm, s.secretKey) });
    this.vendorRoot = pub(vendor);
    this.issuerRoot = pub(issuer);
    this.taSigner = pub(ta);
  }

  /** Load the manufacturer's keys from `dir`, creating them on first use. */
  static async open(dir: string, provider: CryptoProvider = defaultProvider()): Promise<Factory> {
    astring(dir, 'factory dir', { min: 1 });
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const path = join(dir, FILE);
    let signers: Signer[];
    try {
      signers = decodeSigners(new Uint8Array(await readFile(path)));
    } catch (err) {
      if (err instanceof TeeError) throw err;
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new TeeError('GENERIC', 'factory: cannot read the key file', 'API');
      const make = (name: string, algorithm: SignatureAlgorithm): Signer => ({ name, algorithm, secretKey: provider.generateKeyPair(algorithm).secretKey });
      signers = [make(NAMES.vendor, 'p256'), make(NAMES.issuer, 'p256'), make(NAMES.ta, 'ed25519')];
      const bytes = encodeSigners(signers);
      try {
        await writeFile(path, bytes, { mode: 0o600, flag: 'wx' });
      } catch {
        throw new TeeError('GENERIC', 'factory: cannot create the key file', 'API');
      } finally {
        zeroize(bytes);
      }
    }
    const [vendor, issuer, ta] = signers as [Signer, Signer, Signer];
    return new Factory(provider, vendor, issuer, ta);
  }

  /** A TEE OS channel identity (role 'tee-os', vendor root) that accepts trusted keys of the issuer root. */
  issueTeeOsIdentity(subject: string, algorithm: SignatureAlgorithm = 'ed25519'): ChannelIdentity {
    const { secretKey, publicKey } = this.provider.generateKeyPair(algorithm);
    const certificate = issueCertificate(this.provider, this.#vendor, { role: 'tee-os', subject, algorithm, publicKey });
    return { role: 'tee-os', algorithm, secretKey, certificate, trustedRoots: [this.issuerRoot], expectedPeerRole: 'trusted-key' };
  }

  /** A device attestation identity (P-256, role 'device', vendor root). */
  issueDeviceIdentity(subject: string): DeviceIdentity {
    const { secretKey, publicKey } = this.provider.generateKeyPair('p256');
    return { secretKey, certificate: issueCertificate(this.provider, this.#vendor, { role: 'device', subject, algorithm: 'p256', publicKey }) };
  }

  /** A trusted key's channel identity (role 'trusted-key', issuer root). */
  issueTrustedKeyIdentity(subject: string, algorithm: SignatureAlgorithm = 'p256'): AgentIdentity {
    const { secretKey, publicKey } = this.provider.generateKeyPair(algorithm);
    return { algorithm, secretKey, certificate: issueCertificate(this.provider, this.#issuer, { role: 'trusted-key', subject, algorithm, publicKey }) };
  }

  signTa(manifest: Omit<TaManifest, 'signer'>): TaPackage {
    return signTaManifest(this.provider, this.#ta, manifest);
  }

  /** Forget the secret keys; the factory is unusable afterwards. */
  close(): void {
    zeroize(this.#vendor.secretKey, this.#issuer.secretKey, this.#ta.secretKey);
  }
}
