/**
 * A set-membership filter over string keys that can only answer "certainly absent" or "maybe
 * present" (a Bloom filter), growing as keys are added: when a layer holds as many keys as it was
 * sized for, a new layer twice as large takes the new keys (a scalable Bloom filter, Almeida et al.
 * 2007). The ledger puts it in front of LevelDB for the two lookups every online payment makes (is
 * the nonce new, is the order unpaid), which almost always miss: a "certainly absent" answer saves
 * the database read. A "maybe" costs the read as before, so a false positive, even one an attacker
 * provokes with chosen keys, costs time and never changes an answer.
 *
 * About 10 bits and 7 probes per key: under 1% false positives per layer. Keys are hashed with two
 * 32-bit FNV-1a variants combined by double hashing (Kirsch and Mitzenmacher 2006); not a
 * cryptographic hash, and it needs not be one.
 */

const BITS_PER_KEY = 10;
const PROBES = 7;
const FIRST_CAPACITY = 1 << 16;

interface Layer {
  readonly bits: Uint32Array;
  /** Number of bits, a power of two. */
  readonly size: number;
  readonly capacity: number;
  count: number;
}

function layer(capacity: number): Layer {
  let size = 32;
  while (size < capacity * BITS_PER_KEY) size *= 2;
  return { bits: new Uint32Array(size / 32), size, capacity, count: 0 };
}

/** Two independent 32-bit hashes of a string's UTF-16 code units. */
function hashes(key: string): [number, number] {
  let a = 0x811c9dc5;
  let b = 0x050c5d1f;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x01000193) ^ (b >>> 15);
  }
  // An odd step visits PROBES distinct bits of a power-of-two table.
  return [a >>> 0, (b | 1) >>> 0];
}

export class KeyFilter {
  private readonly layers: Layer[] = [layer(FIRST_CAPACITY)];

  /** Keys added so far (a key added twice counts twice). */
  get count(): number {
    let n = 0;
    for (const l of this.layers) n += l.count;
    return n;
  }

  add(key: string): void {
    let top = this.layers[this.layers.length - 1]!;
    if (top.count >= top.capacity) {
      top = layer(top.capacity * 2);
      this.layers.push(top);
    }
    const [h1, h2] = hashes(key);
    const mask = top.size - 1;
    for (let i = 0; i < PROBES; i++) {
      const bit = (h1 + Math.imul(i, h2)) & mask;
      top.bits[bit >>> 5]! |= 1 << (bit & 31);
    }
    top.count++;
  }

  /** False only if `key` was certainly never added. */
  mayContain(key: string): boolean {
    const [h1, h2] = hashes(key);
    for (const l of this.layers) {
      const mask = l.size - 1;
      let all = true;
      for (let i = 0; i < PROBES && all; i++) {
        const bit = (h1 + Math.imul(i, h2)) & mask;
        all = (l.bits[bit >>> 5]! & (1 << (bit & 31))) !== 0;
      }
      if (all) return true;
    }
    return false;
  }
}
