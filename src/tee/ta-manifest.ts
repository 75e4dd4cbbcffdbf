/**
 * Signed TA packages, after OP-TEE's signed TA header: a manifest naming the TA (UUID, name,
 * version, flags), the SHA-256 measurement of its code, and the name of the key that signed it, plus a
 * signature over a domain-separated canonical encoding of the manifest. The TEE installs a TA only if
 * a trusted TA-signing key signed exactly this manifest and the code hashes to the measurement.
 *
 * What this guarantees: integrity and origin of the TA as installed. What it does not: it says nothing
 * about whether the signer's code is correct, and there is no version rollback check between packages.
 */
import { TeeError } from '../common/errors.js';
import { abool, abytes, aobject, astring } from '../common/checks.js';
import { constantTimeEqual } from '../common/bytes.js';
import { encode } from '../common/codec.js';
import type { CryptoProvider, SignatureAlgorithm } from '../crypto/provider.js';

/** Domain label: a manifest signature can never be mistaken for any other signed object. */
export const TA_MANIFEST_DOMAIN = 'tee-sim/ta-manifest/v1';

/** Canonical lower-case UUID text, as TAs are named in OP-TEE. */
export const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export interface TaFlags {
  /** One instance serves every session (TA_FLAG_SINGLE_INSTANCE). */
  singleInstance?: boolean;
  /** A single instance accepts more than one session at a time (TA_FLAG_MULTI_SESSION). */
  multiSession?: boolean;
}

export interface TaManifest {
  uuid: string;
  name: string;
  version: string;
  /** SHA-256 of the TA's code bytes. */
  measurement: Uint8Array;
  flags: TaFlags;
  /** Name of the TA-signing key; must match a trusted signer's `name`. */
  signer: string;
}

export interface TaPackage {
  manifest: TaManifest;
  /** Absent for an unsigned package, which is always refused. */
  signature?: Uint8Array;
}

/** A TA-signing public key the TEE trusts (structurally the channel's `RootKey`). */
export interface TaSignerKey {
  name: string;
  algorithm: SignatureAlgorithm;
  publicKey: Uint8Array;
}

/** The secret half, held by whoever builds TAs (never by the TEE). */
export interface TaSigningKey {
  name: string;
  algorithm: SignatureAlgorithm;
  secretKey: Uint8Array;
}

export function measureTaCode(provider: CryptoProvider, code: Uint8Array): Uint8Array {
  return provider.sha256(abytes(code, 'TA code'));
}

function security(message: string): never {
  throw new TeeError('SECURITY', message, 'TEE');
}

/** Check a manifest's shape; an ill-formed manifest is a SECURITY failure of the package. */
export function parseTaManifest(raw: unknown): TaManifest {
  try {
    const m = aobject(raw, 'TA manifest');
    const flags = m.flags === undefined ? {} : aobject(m.flags, 'TA manifest.flags');
    return {
      uuid: astring(m.uuid, 'TA manifest.uuid', { pattern: UUID_PATTERN }),
      name: astring(m.name, 'TA manifest.name', { min: 1, max: 64 }),
      version: astring(m.version, 'TA manifest.version', { min: 1, max: 32 }),
      measurement: abytes(m.measurement, 'TA manifest.measurement', 32),
      flags: {
        singleInstance: flags.singleInstance === undefined ? false : abool(flags.singleInstance, 'TA manifest.flags.singleInstance'),
        multiSession: flags.multiSession === undefined ? false : abool(flags.multiSession, 'TA manifest.flags.multiSession'),
      },
      signer: astring(m.signer, 'TA manifest.signer', { min: 1, max: 64 }),
    };
  } catch (err) {
    if (err instanceof TeeError) security(`TA package: malformed manifest (${err.message})`);
    throw err;
  }
}

/** The exact bytes signed: a fixed-order array, so the encoding has one form. */
export function taManifestSigningBytes(manifest: TaManifest): Uint8Array {
  const m = parseTaManifest(manifest);
  return encode([
    TA_MANIFEST_DOMAIN,
    m.uuid,
    m.name,
    m.version,
    m.measurement,
    m.flags.singleInstance === true,
    m.flags.multiSession === true,
    m.signer,
  ]);
}

/** Sign a manifest; its `signer` is set to the key's name (a different name given is refused). */
export function signTaManifest(
  provider: CryptoProvider,
  signingKey: TaSigningKey,
  manifest: Omit<TaManifest, 'signer'> & { signer?: string },
): TaPackage {
  if (manifest.signer !== undefined && manifest.signer !== signingKey.name) {
    throw new TeeError('BAD_PARAMETERS', 'signTaManifest: manifest names a different signer than the key', 'API');
  }
  const full = parseTaManifest({ ...manifest, signer: signingKey.name });
  const signature = provider.sign(signingKey.algorithm, signingKey.secretKey, taManifestSigningBytes(full));
  return { manifest: full, signature };
}

/**
 * Verify a package against the trusted TA signers and the code it claims to measure. Returns the
 * checked manifest. Every failure is TeeError('SECURITY') naming the check that failed.
 */
export function verifyTaPackage(
  provider: CryptoProvider,
  pkg: TaPackage,
  trustedTaSigners: readonly TaSignerKey[],
  code: Uint8Array,
): TaManifest {
  if (typeof pkg !== 'object' || pkg === null) security('TA package: expected an object');
  const manifest = parseTaManifest(pkg.manifest);
  if (pkg.signature === undefined) security(`TA package ${manifest.uuid}: unsigned`);
  if (!(pkg.signature instanceof Uint8Array)) security(`TA package ${manifest.uuid}: signature is not bytes`);
  const candidates = trustedTaSigners.filter((k) => k.name === manifest.signer);
  if (candidates.length === 0) security(`TA package ${manifest.uuid}: signer is not a trusted TA signer`);
  const message = taManifestSigningBytes(manifest);
  const signed = candidates.some((k) => provider.verify(k.algorithm, k.publicKey, message, pkg.signature as Uint8Array));
  if (!signed) security(`TA package ${manifest.uuid}: signature does not verify under the trusted signer`);
  if (!(code instanceof Uint8Array)) security(`TA package ${manifest.uuid}: code is not bytes`);
  if (!constantTimeEqual(provider.sha256(code), manifest.measurement)) {
    security(`TA package ${manifest.uuid}: code does not match the measurement`);
  }
  return manifest;
}
