/**
 * Secret-leak scanner: an oracle that knows every secret the TEE and the trusted key hold and searches
 * every byte the REE saw for them (raw, lower/upper hex, base64, base64url). Sources register bytes
 * (frames, Client API buffers, HTTP bodies, QR text, LevelDB files, log and error lines); secrets
 * come from a recording CryptoProvider (every key that passes through crypto) plus explicit ones
 * (PIN, PUK, channel keys from the channel `keyLog`).
 *
 *   const rec = recordingProvider(nativeProvider);   // give rec.provider to the world
 *   const scan = new LeakScanner(); scan.addSecrets('provider', rec.secrets());
 *   scan.addBytes('frame', bytes); const report = scan.scan(); // report.leaks.length === 0
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CryptoProvider, P256Arithmetic } from '../../crypto/provider.js';

/** Secrets shorter than this are searched raw only when given as text (PINs); shorter byte strings match by chance. */
const MIN_SECRET_BYTES = 16;
/** Shortest secret also searched in text encodings. */
const MIN_ENCODED = 8;

export interface LeakFinding {
  secret: string;
  source: string;
  encoding: string;
}

export interface LeakReport {
  bytesScanned: number;
  buffers: number;
  secrets: number;
  leaks: LeakFinding[];
}

/**
 * Wrap a provider and keep a copy of every secret passed through it (generated secret keys, signing
 * and agreement keys, shared secrets, AEAD/HMAC/HKDF keys, CPK scalars). Copies are taken on entry,
 * before callers zeroize: that is the point of an oracle.
 */
export function recordingProvider(base: CryptoProvider): { provider: CryptoProvider; secrets: () => Uint8Array[] } {
  const seen = new Map<string, Uint8Array>();
  const keep = (b: Uint8Array | undefined): void => {
    if (!(b instanceof Uint8Array) || b.length < MIN_SECRET_BYTES || b.every((x) => x === 0)) return;
    const copy = new Uint8Array(b);
    seen.set(Buffer.from(copy).toString('hex'), copy);
  };
  const p256: P256Arithmetic = {
    ...base.p256,
    order: base.p256.order,
    multiplyBase: (k) => base.p256.multiplyBase(k),
    multiply: (p, k) => base.p256.multiply(p, k),
    addPoints: (ps) => base.p256.addPoints(ps),
    isValidPoint: (p) => base.p256.isValidPoint(p),
    mod: (v) => base.p256.mod(v),
    scalarToBytes: (k) => {
      const out = base.p256.scalarToBytes(k);
      keep(out);
      return out;
    },
    scalarFromBytes: (b) => (keep(b), base.p256.scalarFromBytes(b)),
  };
  const provider: CryptoProvider = {
    name: base.name,
    randomBytes: (n) => base.randomBytes(n),
    sha256: (d) => base.sha256(d),
    hmacSha256: (k, d) => (keep(k), base.hmacSha256(k, d)),
    hkdfSha256: (ikm, salt, info, len) => {
      keep(ikm);
      const out = base.hkdfSha256(ikm, salt, info, len);
      keep(out);
      return out;
    },
    generateKeyPair: (alg) => {
      const kp = base.generateKeyPair(alg);
      keep(kp.secretKey);
      return kp;
    },
    publicKeyOf: (alg, sk) => (keep(sk), base.publicKeyOf(alg, sk)),
    sign: (alg, sk, m) => (keep(sk), base.sign(alg, sk, m)),
    loadSigningKey: (alg, sk) => (keep(sk), base.loadSigningKey(alg, sk)),
    verify: (alg, pk, m, s) => base.verify(alg, pk, m, s),
    x25519: (sk, pk) => {
      keep(sk);
      const out = base.x25519(sk, pk);
      keep(out);
      return out;
    },
    p256Ecdh: (sk, pk) => {
      keep(sk);
      const out = base.p256Ecdh(sk, pk);
      keep(out);
      return out;
    },
    aeadSeal: (alg, k, n, pt, aad) => (keep(k), base.aeadSeal(alg, k, n, pt, aad)),
    aeadOpen: (alg, k, n, ct, aad) => (keep(k), base.aeadOpen(alg, k, n, ct, aad)),
    p256,
  };
  return { provider, secrets: () => [...seen.values()] };
}

interface Needle {
  /** Which secret (several secrets share a label). */
  id: string;
  label: string;
  encoding: string;
  bytes: Buffer;
}

function needlesOf(id: string, label: string, secret: Uint8Array, isText: boolean): Needle[] {
  const buf = Buffer.from(secret);
  const out: Needle[] = [{ id, label, encoding: isText ? 'text' : 'raw', bytes: buf }];
  if (isText || secret.length < MIN_ENCODED) return out;
  const hex = buf.toString('hex');
  // Drop base64 padding and the last character: it depends on bits outside the secret's alignment.
  const b64 = buf.toString('base64').replace(/=+$/, '').slice(0, -1);
  const b64url = buf.toString('base64url').slice(0, -1);
  out.push(
    { id, label, encoding: 'hex', bytes: Buffer.from(hex) },
    { id, label, encoding: 'HEX', bytes: Buffer.from(hex.toUpperCase()) },
    { id, label, encoding: 'base64', bytes: Buffer.from(b64) },
    { id, label, encoding: 'base64url', bytes: Buffer.from(b64url) },
  );
  return out;
}

export class LeakScanner {
  readonly #buffers: { source: string; bytes: Buffer }[] = [];
  readonly #secrets = new Map<string, { label: string; bytes: Uint8Array; text: boolean }>();
  #total = 0;

  /** Something the REE saw. */
  addBytes(source: string, bytes: Uint8Array): void {
    this.#buffers.push({ source, bytes: Buffer.from(bytes) });
    this.#total += bytes.length;
  }

  addText(source: string, text: string): void {
    this.addBytes(source, Buffer.from(text, 'utf8'));
  }

  /** Every file under `dir` (LevelDB directories), recursively. */
  async addDirectory(source: string, dir: string): Promise<void> {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = join(dir, e.name);
      if (e.isDirectory()) await this.addDirectory(source, p);
      else {
        try {
          this.addBytes(`${source}:${e.name}`, new Uint8Array(await readFile(p)));
        } catch {
          // a LevelDB file may vanish under compaction; it is re-read on the next scan
        }
      }
    }
  }

  /** A binary secret (searched raw and in text encodings). */
  addSecret(label: string, secret: Uint8Array): void {
    if (secret.length < MIN_SECRET_BYTES) return;
    this.#secrets.set(`b:${Buffer.from(secret).toString('hex')}`, { label, bytes: new Uint8Array(secret), text: false });
  }

  addSecrets(label: string, secrets: readonly Uint8Array[]): void {
    for (const s of secrets) this.addSecret(label, s);
  }

  /** A short text secret (PIN, PUK): searched as text, and as its bytes in binary buffers. */
  addTextSecret(label: string, secret: string): void {
    this.#secrets.set(`t:${secret}`, { label, bytes: Buffer.from(secret, 'utf8'), text: true });
  }

  get bytesScanned(): number {
    return this.#total;
  }

  scan(): LeakReport {
    const needles = [...this.#secrets.entries()].flatMap(([id, s]) => needlesOf(id, s.label, s.bytes, s.text));
    const leaks: LeakFinding[] = [];
    // One finding per (secret, source): base64 and base64url needles coincide for many secrets.
    const seen = new Set<string>();
    for (const n of needles) {
      for (const b of this.#buffers) {
        if (b.bytes.indexOf(n.bytes) >= 0) {
          const key = `${n.id}\u0000${b.source}`;
          if (!seen.has(key)) leaks.push({ secret: n.label, source: b.source, encoding: n.encoding });
          seen.add(key);
          break;
        }
      }
    }
    return { bytesScanned: this.#total, buffers: this.#buffers.length, secrets: this.#secrets.size, leaks };
  }

  clearBuffers(): void {
    this.#buffers.length = 0;
    this.#total = 0;
  }
}

export interface LeakScanInput {
  /** Binary secrets (keys), e.g. `recordingProvider(...).secrets()`. */
  secrets: readonly Uint8Array[];
  /** Short text secrets by label (PIN, PUK). */
  textSecrets?: Readonly<Record<string, string>>;
  buffers?: readonly { source: string; bytes: Uint8Array }[];
  texts?: readonly { source: string; text: string }[];
  /** REE-visible directories (LevelDB stores), read recursively. */
  directories?: readonly { source: string; dir: string }[];
}

/** One-call scan for callers outside the harness (the demo, the teaching page). */
export async function scanForLeaks(input: LeakScanInput): Promise<LeakReport> {
  const s = new LeakScanner();
  s.addSecrets('secret', input.secrets);
  for (const [label, text] of Object.entries(input.textSecrets ?? {})) s.addTextSecret(label, text);
  for (const b of input.buffers ?? []) s.addBytes(b.source, b.bytes);
  for (const t of input.texts ?? []) s.addText(t.source, t.text);
  for (const d of input.directories ?? []) await s.addDirectory(d.source, d.dir);
  return s.scan();
}
