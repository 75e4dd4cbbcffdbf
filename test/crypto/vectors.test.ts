/**
 * Known-answer tests: the RFC and NIST vectors in test/vectors/*.json, each run through every provider.
 * The JSON files are the data; this file only loops over them (noble-curves style).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../../src/common/bytes.js';
import { TeeError } from '../../src/common/errors.js';
import { PROVIDERS, type AeadAlgorithm } from '../../src/crypto/index.js';

const VECTOR_DIR = new URL('../vectors/', import.meta.url);
const providers = Object.values(PROVIDERS);

function load<T>(file: string): T {
  return JSON.parse(readFileSync(new URL(file, VECTOR_DIR), 'utf8')) as T;
}

const b = (hex: string) => fromHex(hex);

/** The files this suite runs; every vector file except the CPK ones (owned by the CPK tests) must be listed. */
const RUNNERS: Record<string, () => void> = {};

interface Ed25519File {
  vectors: { name: string; secretKey: string; publicKey: string; message: string; signature: string }[];
}
RUNNERS['rfc8032-ed25519.json'] = () => {
  const { vectors } = load<Ed25519File>('rfc8032-ed25519.json');
  for (const p of providers) {
    describe(`RFC 8032 Ed25519 [${p.name}]`, () => {
      for (const v of vectors) {
        it(v.name, () => {
          expect(toHex(p.publicKeyOf('ed25519', b(v.secretKey)))).toBe(v.publicKey);
          expect(toHex(p.sign('ed25519', b(v.secretKey), b(v.message)))).toBe(v.signature);
          expect(p.verify('ed25519', b(v.publicKey), b(v.message), b(v.signature))).toBe(true);
          const flipped = b(v.signature);
          flipped[5]! ^= 0x01;
          expect(p.verify('ed25519', b(v.publicKey), b(v.message), flipped)).toBe(false);
          expect(p.verify('ed25519', b(v.publicKey), new Uint8Array([...b(v.message), 0]), b(v.signature))).toBe(false);
        });
      }
    });
  }
};

interface Ed25519BoundFile {
  vectors: { name: string; publicKey: string; message: string; signature: string; valid: boolean }[];
}
RUNNERS['ed25519-s-bound.json'] = () => {
  const { vectors } = load<Ed25519BoundFile>('ed25519-s-bound.json');
  for (const p of providers) {
    describe(`Ed25519 S bound [${p.name}]`, () => {
      for (const v of vectors) {
        it(`${v.name} -> ${v.valid ? 'valid' : 'invalid'}`, () => {
          expect(p.verify('ed25519', b(v.publicKey), b(v.message), b(v.signature))).toBe(v.valid);
        });
      }
    });
  }
};

interface X25519File {
  scalarMult: { name: string; scalar: string; u: string; output: string }[];
  diffieHellman: {
    name: string; alicePrivate: string; alicePublic: string; bobPrivate: string; bobPublic: string; shared: string;
  }[];
}
RUNNERS['rfc7748-x25519.json'] = () => {
  const { scalarMult, diffieHellman } = load<X25519File>('rfc7748-x25519.json');
  for (const p of providers) {
    describe(`RFC 7748 X25519 [${p.name}]`, () => {
      for (const v of scalarMult) {
        it(v.name, () => {
          expect(toHex(p.x25519(b(v.scalar), b(v.u)))).toBe(v.output);
        });
      }
      for (const v of diffieHellman) {
        it(v.name, () => {
          expect(toHex(p.publicKeyOf('x25519', b(v.alicePrivate)))).toBe(v.alicePublic);
          expect(toHex(p.publicKeyOf('x25519', b(v.bobPrivate)))).toBe(v.bobPublic);
          expect(toHex(p.x25519(b(v.alicePrivate), b(v.bobPublic)))).toBe(v.shared);
          expect(toHex(p.x25519(b(v.bobPrivate), b(v.alicePublic)))).toBe(v.shared);
        });
      }
    });
  }
};

interface AeadFile {
  algorithm: AeadAlgorithm;
  vectors: { name: string; key: string; nonce: string; aad: string; plaintext: string; ciphertext: string; tag: string }[];
}
function aeadRunner(file: string, title: string): () => void {
  return () => {
    const { algorithm, vectors } = load<AeadFile>(file);
    for (const p of providers) {
      describe(`${title} [${p.name}]`, () => {
        for (const v of vectors) {
          it(v.name, () => {
            const sealed = p.aeadSeal(algorithm, b(v.key), b(v.nonce), b(v.plaintext), b(v.aad));
            expect(toHex(sealed)).toBe(v.ciphertext + v.tag);
            expect(toHex(p.aeadOpen(algorithm, b(v.key), b(v.nonce), sealed, b(v.aad)))).toBe(v.plaintext);
            const badTag = b(v.ciphertext + v.tag);
            badTag[badTag.length - 1]! ^= 0x80;
            expect(() => p.aeadOpen(algorithm, b(v.key), b(v.nonce), badTag, b(v.aad))).toThrow(TeeError);
            const otherAad = new Uint8Array([...b(v.aad), 1]);
            expect(() => p.aeadOpen(algorithm, b(v.key), b(v.nonce), sealed, otherAad)).toThrow(/authentication failed/);
          });
        }
      });
    }
  };
}
RUNNERS['rfc8439-chacha20poly1305.json'] = aeadRunner('rfc8439-chacha20poly1305.json', 'RFC 8439 ChaCha20-Poly1305');
RUNNERS['gcm-aes256.json'] = aeadRunner('gcm-aes256.json', 'GCM spec AES-256-GCM');

interface HkdfFile {
  vectors: { name: string; ikm: string; salt: string; info: string; length: number; prk: string; okm: string }[];
}
RUNNERS['rfc5869-hkdf-sha256.json'] = () => {
  const { vectors } = load<HkdfFile>('rfc5869-hkdf-sha256.json');
  for (const p of providers) {
    describe(`RFC 5869 HKDF-SHA256 [${p.name}]`, () => {
      for (const v of vectors) {
        it(v.name, () => {
          expect(toHex(p.hkdfSha256(b(v.ikm), b(v.salt), b(v.info), v.length))).toBe(v.okm);
          // Extract is HMAC(salt, ikm); an empty salt means HashLen zero bytes (RFC 5869 2.2).
          const salt = v.salt === '' ? new Uint8Array(32) : b(v.salt);
          expect(toHex(p.hmacSha256(salt, b(v.ikm)))).toBe(v.prk);
        });
      }
    });
  }
};

interface ShaFile {
  vectors: { name: string; message: string; digest: string }[];
}
RUNNERS['sha256.json'] = () => {
  const { vectors } = load<ShaFile>('sha256.json');
  for (const p of providers) {
    describe(`SHA-256 [${p.name}]`, () => {
      for (const v of vectors) {
        it(v.name, () => expect(toHex(p.sha256(b(v.message)))).toBe(v.digest));
      }
    });
  }
};

interface HmacFile {
  vectors: { name: string; key: string; data: string; mac: string }[];
}
RUNNERS['rfc4231-hmac-sha256.json'] = () => {
  const { vectors } = load<HmacFile>('rfc4231-hmac-sha256.json');
  for (const p of providers) {
    describe(`RFC 4231 HMAC-SHA256 [${p.name}]`, () => {
      for (const v of vectors) {
        it(v.name, () => expect(toHex(p.hmacSha256(b(v.key), b(v.data)))).toBe(v.mac));
      }
    });
  }
};

interface P256File {
  key: { secretKey: string; publicKeyX: string; publicKeyY: string };
  signatures: { name: string; message: string; k: string; r: string; s: string; sIsHigh: boolean; lowS: string }[];
  ecdh: { name: string; i: string; gix: string; giy: string; r: string; grx: string; gry: string; girx: string }[];
}
RUNNERS['rfc6979-p256.json'] = () => {
  const { key, signatures, ecdh } = load<P256File>('rfc6979-p256.json');
  const uncompressed = b('04' + key.publicKeyX + key.publicKeyY);
  const n = PROVIDERS.noble.p256.order;
  for (const p of providers) {
    describe(`RFC 6979 / RFC 5903 P-256 [${p.name}]`, () => {
      it('derives the RFC public key (compressed SEC1)', () => {
        const parity = BigInt('0x' + key.publicKeyY) & 1n ? '03' : '02';
        expect(toHex(p.publicKeyOf('p256', b(key.secretKey)))).toBe(parity + key.publicKeyX);
      });
      for (const v of signatures) {
        it(v.name, () => {
          const s = BigInt('0x' + v.s);
          expect(s > n / 2n).toBe(v.sIsHigh);
          // The vector's k gives its r (a self-check of the data: r = x(k·G) mod n).
          expect(toHex(p.p256.multiplyBase(BigInt('0x' + v.k)).subarray(1))).toBe(v.r);
          const lowS = b(v.lowS);
          expect(toHex(lowS.subarray(32))).toBe((s > n / 2n ? n - s : s).toString(16).padStart(64, '0'));
          const pub = p.publicKeyOf('p256', b(key.secretKey));
          for (const pk of [pub, uncompressed]) {
            expect(p.verify('p256', pk, b(v.message), lowS)).toBe(true);
            // The RFC's own encoding is accepted only where it already is low-S.
            expect(p.verify('p256', pk, b(v.message), b(v.r + v.s))).toBe(!v.sIsHigh);
          }
          const sig = p.sign('p256', b(key.secretKey), b(v.message));
          expect(p.verify('p256', pub, b(v.message), sig)).toBe(true);
          // noble signs deterministically (RFC 6979); OpenSSL uses a random k, so only noble must match.
          if (p.name === 'noble') expect(toHex(sig)).toBe(v.lowS);
        });
      }
      for (const v of ecdh) {
        it(`ECDH ${v.name}`, () => {
          const gi = b('04' + v.gix + v.giy);
          const gr = b('04' + v.grx + v.gry);
          expect(toHex(p.p256Ecdh(b(v.i), gr))).toBe(v.girx);
          expect(toHex(p.p256Ecdh(b(v.r), gi))).toBe(v.girx);
          expect(toHex(p.publicKeyOf('p256', b(v.i)).subarray(1))).toBe(v.gix);
        });
      }
    });
  }
};

describe('vector files', () => {
  it('every file in test/vectors (except cpk*) has a runner here', () => {
    const files = readdirSync(VECTOR_DIR).filter((f) => f.endsWith('.json') && !f.startsWith('cpk'));
    expect(files.sort()).toEqual(Object.keys(RUNNERS).sort());
  });
});

for (const run of Object.values(RUNNERS)) run();
