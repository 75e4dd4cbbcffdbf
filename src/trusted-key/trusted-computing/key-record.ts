/**
 * What the trusted key stores for each key: algorithm, usage, secret and public halves, and for a
 * CPK identity key the identity it belongs to. Records live only inside the key's secure storage (or
 * its RAM, for transient keys); outside, a key is known only by its random id.
 */
import { aobject, aoneOf, abytes, aint, astring } from '../../common/checks.js';
import { decode, encode } from '../../common/codec.js';
import { TeeError } from '../../common/errors.js';
import { zeroize } from '../../common/bytes.js';
import { ID_PATTERN, type CpkMode } from '../../cpk/index.js';

const CPK_MODES: readonly CpkMode[] = ['plain', 'hardened'];

export type TkKeyAlgorithm = 'p256' | 'ed25519' | 'x25519' | 'chacha20-poly1305' | 'aes-256-gcm';
export const TK_KEY_ALGORITHMS: readonly TkKeyAlgorithm[] = ['p256', 'ed25519', 'x25519', 'chacha20-poly1305', 'aes-256-gcm'];

/**
 * What a key may do. 'payment' keys (CPK identities) sign only payment statements the key built
 * itself after the user confirmed; 'provision' is the key-agreement key that opens issuance packages.
 */
export type KeyUsage = 'sign' | 'agree' | 'encrypt' | 'payment' | 'provision';
export const KEY_USAGES: readonly KeyUsage[] = ['sign', 'agree', 'encrypt', 'payment', 'provision'];
/** Usages a caller may ask for when generating a key. */
export const GENERATED_USAGES: readonly KeyUsage[] = ['sign', 'agree', 'encrypt'];

/** Which usages each algorithm supports at generation. */
export const ALLOWED_USAGES: Readonly<Record<TkKeyAlgorithm, readonly KeyUsage[]>> = {
  p256: ['sign', 'agree'],
  ed25519: ['sign'],
  x25519: ['agree'],
  'chacha20-poly1305': ['encrypt'],
  'aes-256-gcm': ['encrypt'],
};

export interface IdentityInfo {
  subdomainId: string;
  userId: string;
  mode: CpkMode;
  /** Hardened mode: the encoded separating certificate presented beside signatures. */
  identityProof?: Uint8Array;
}

export interface KeyRecord {
  algorithm: TkKeyAlgorithm;
  usage: KeyUsage;
  secretKey: Uint8Array;
  publicKey?: Uint8Array;
  createdAt: number;
  identity?: IdentityInfo;
}

/** Public facts about a key: safe to hand to the TEE OS. */
export interface KeyInfo {
  keyId: string;
  algorithm: TkKeyAlgorithm;
  usage: KeyUsage;
  persistent: boolean;
  publicKey?: Uint8Array;
  identity?: IdentityInfo;
}

export const KEY_ID_PATTERN = /^[0-9a-f]{32}$/;

export function isAead(algorithm: TkKeyAlgorithm): algorithm is 'chacha20-poly1305' | 'aes-256-gcm' {
  return algorithm === 'chacha20-poly1305' || algorithm === 'aes-256-gcm';
}

export function encodeKeyRecord(r: KeyRecord): Uint8Array {
  return encode({
    v: 1,
    a: r.algorithm,
    u: r.usage,
    s: r.secretKey,
    p: r.publicKey ?? null,
    c: r.createdAt,
    i: r.identity ? { s: r.identity.subdomainId, u: r.identity.userId, m: r.identity.mode, p: r.identity.identityProof ?? null } : null,
  });
}

/** Parse a stored record (authenticated by the store, still checked: a bug must not become a crash). */
export function decodeKeyRecord(bytes: Uint8Array): KeyRecord {
  try {
    const o = aobject(decode(bytes, 64 * 1024, 'TRUSTED_KEY'), 'key record');
    aint(o.v, 'key record version', 1, 1);
    const record: KeyRecord = {
      algorithm: aoneOf(o.a, 'key record algorithm', TK_KEY_ALGORITHMS),
      usage: aoneOf(o.u, 'key record usage', KEY_USAGES),
      secretKey: new Uint8Array(abytes(o.s, 'key record secret', 32)),
      createdAt: aint(o.c, 'key record createdAt'),
    };
    if (o.p !== null) record.publicKey = new Uint8Array(abytes(o.p, 'key record public key', { min: 32, max: 33 }));
    if (o.i !== null) {
      const i = aobject(o.i, 'key record identity');
      record.identity = {
        subdomainId: astring(i.s, 'identity subdomainId', { pattern: ID_PATTERN }),
        userId: astring(i.u, 'identity userId', { pattern: ID_PATTERN }),
        mode: aoneOf(i.m, 'identity mode', CPK_MODES),
      };
      if (i.p !== null) record.identity.identityProof = new Uint8Array(abytes(i.p, 'identity proof', { min: 1, max: 1024 }));
    }
    return record;
  } catch {
    throw new TeeError('CORRUPT_OBJECT', 'trusted computing: key record is malformed', 'TRUSTED_KEY');
  } finally {
    zeroize(bytes);
  }
}
