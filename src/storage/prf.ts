/**
 * A keyed PRF over generation numbers, computed in blocks: value(g) is the 32-byte slice g mod 64 of
 *
 *   HKDF-SHA256(ikm = key, salt, info = domain || u64 BE (floor(g / 64)), length = 64 * 32)
 *
 * HKDF's output is a PRF of its info under a uniformly random key, so every value is pseudorandom
 * and independent of the others, exactly as one HMAC per generation would be, at about 1/30 of the
 * cost: one provider call covers 64 generations. Writes use consecutive generations, so the state
 * masks and the anchor MACs of a run of writes come from one or two blocks. Secret: the blocks are
 * zeroed when replaced and on close.
 */
import { concatBytes } from '../common/bytes.js';
import type { CryptoProvider } from '../crypto/provider.js';

export const PRF_BYTES = 32;
const PER_BLOCK = 64;
const CACHED_BLOCKS = 2;

export class GenerationPrf {
  /** Block number -> 64 values, at most CACHED_BLOCKS of them (the current and the next). */
  private readonly blocks = new Map<number, Uint8Array>();

  constructor(
    private readonly provider: CryptoProvider,
    private readonly key: Uint8Array,
    private readonly salt: Uint8Array,
    private readonly domain: Uint8Array,
  ) {}

  /** The value for generation g (a fresh copy the caller may keep). */
  value(generation: number): Uint8Array {
    const start = (generation % PER_BLOCK) * PRF_BYTES;
    return this.block(Math.floor(generation / PER_BLOCK)).slice(start, start + PRF_BYTES);
  }

  /** Write the value for generation g into `out` at `offset` (no copy of its own to zero). */
  copyInto(generation: number, out: Uint8Array, offset: number): void {
    const block = this.block(Math.floor(generation / PER_BLOCK));
    const start = (generation % PER_BLOCK) * PRF_BYTES;
    // Byte by byte: a subarray to copy from would be one more object per write.
    for (let i = 0; i < PRF_BYTES; i++) out[offset + i] = block[start + i]!;
  }

  /** Compute g's block ahead of need (called while a write is in flight). */
  warm(generation: number): void {
    this.block(Math.floor(generation / PER_BLOCK));
  }

  private block(n: number): Uint8Array {
    let block = this.blocks.get(n);
    if (block) return block;
    const info = concatBytes(this.domain, new Uint8Array(8));
    new DataView(info.buffer).setBigUint64(this.domain.length, BigInt(n));
    block = this.provider.hkdfSha256(this.key, this.salt, info, PER_BLOCK * PRF_BYTES);
    if (this.blocks.size >= CACHED_BLOCKS) {
      // Generations only grow, so the lowest block is the one no longer needed.
      const lowest = Math.min(...this.blocks.keys());
      this.blocks.get(lowest)!.fill(0);
      this.blocks.delete(lowest);
    }
    this.blocks.set(n, block);
    return block;
  }

  /** Zero the cached blocks (the key belongs to the caller). */
  clear(): void {
    for (const b of this.blocks.values()) b.fill(0);
    this.blocks.clear();
  }
}
