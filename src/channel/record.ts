/**
 * Record layer. One frame = header | AEAD(plaintext) where
 *
 *   header = version (1) | type (1) | epoch (u32) | seq (u64), big-endian, 14 bytes
 *
 * The whole header is the AEAD associated data. The nonce is the direction's IV XOR (epoch | seq):
 * seq counts every record of the direction from 0 and never repeats, and each epoch has its own key,
 * so a (key, nonce) pair is never reused. The receiver accepts only the next seq, so a replayed,
 * reordered or dropped record is caught before decryption; any failure is fatal (the receiver stays
 * dead and the channel closes), so nothing after a bad record is ever delivered.
 *
 * Rekey without a round trip: once an epoch has carried `rekeyAfterRecords` records or
 * `rekeyAfterBytes` plaintext bytes, the sender derives the next key and IV with HKDF from the current
 * ones (just before its next record), zeroes the old, and bumps the epoch. The receiver follows the epoch in the header (current or current + 1
 * only), so both switch at the same record index; a forged epoch fails authentication.
 */
import { utf8, zeroize } from '../common/bytes.js';
import { TeeError } from '../common/errors.js';
import { AEAD_KEY_BYTES, AEAD_NONCE_BYTES, AEAD_TAG_BYTES, type AeadAlgorithm, type CryptoProvider } from '../crypto/provider.js';
import { DEFAULT_MAX_FRAME_BYTES } from './transport.js';
import type { KeyLog, TrafficSecret } from './handshake.js';

export const RECORD_VERSION = 1;
export const RECORD_HEADER_BYTES = 14;
export const RECORD_OVERHEAD_BYTES = RECORD_HEADER_BYTES + AEAD_TAG_BYTES;

export const RecordType = { DATA: 1, READY: 2, CLOSE: 3 } as const;
export type RecordType = (typeof RecordType)[keyof typeof RecordType];

export const DEFAULT_REKEY_AFTER_RECORDS = 2 ** 20;
export const DEFAULT_REKEY_AFTER_BYTES = 2 ** 32;
const MAX_EPOCH = 0xffffffff;
const MAX_SEQ = Number.MAX_SAFE_INTEGER; // far beyond any session; keeps seq an exact number
const REKEY_LABEL = 'tee-sim/record/v1 rekey';

export interface RecordOptions {
  rekeyAfterRecords?: number;
  rekeyAfterBytes?: number;
  /** Largest frame accepted or produced, header and tag included. */
  maxFrameBytes?: number;
  keyLog?: KeyLog;
  /** Names the direction in key-log labels. */
  direction?: string;
}

export interface OpenedRecord {
  type: RecordType;
  payload: Uint8Array;
}

function positive(value: number | undefined, fallback: number, title: string): number {
  const v = value ?? fallback;
  if (!Number.isSafeInteger(v) || v < 1) throw new TeeError('BAD_PARAMETERS', `${title}: expected a positive integer`, 'CHANNEL');
  return v;
}

/** Key, IV and counters of one direction; shared by the sending and the receiving end. */
class DirectionState {
  key: Uint8Array;
  iv: Uint8Array;
  epoch = 0;
  seq = 0;
  recordsInEpoch = 0;
  bytesInEpoch = 0;
  rekeys = 0;
  readonly nonce = new Uint8Array(AEAD_NONCE_BYTES);
  readonly suite: AeadAlgorithm;
  readonly rekeyAfterRecords: number;
  readonly rekeyAfterBytes: number;
  readonly maxFrameBytes: number;
  private readonly keyLog: KeyLog | undefined;
  private readonly direction: string;

  constructor(readonly provider: CryptoProvider, suite: AeadAlgorithm, secret: TrafficSecret, opts: RecordOptions) {
    if (!(secret.key instanceof Uint8Array) || secret.key.length !== AEAD_KEY_BYTES || !(secret.iv instanceof Uint8Array) || secret.iv.length !== AEAD_NONCE_BYTES) {
      throw new TeeError('BAD_PARAMETERS', 'record layer: traffic secret must be a 32-byte key and a 12-byte IV', 'CHANNEL');
    }
    this.suite = suite;
    // Own copies: the record layer zeroes them on rekey and on close.
    this.key = new Uint8Array(secret.key);
    this.iv = new Uint8Array(secret.iv);
    this.rekeyAfterRecords = positive(opts.rekeyAfterRecords, DEFAULT_REKEY_AFTER_RECORDS, 'rekeyAfterRecords');
    this.rekeyAfterBytes = positive(opts.rekeyAfterBytes, DEFAULT_REKEY_AFTER_BYTES, 'rekeyAfterBytes');
    this.maxFrameBytes = positive(opts.maxFrameBytes, DEFAULT_MAX_FRAME_BYTES, 'maxFrameBytes');
    if (this.maxFrameBytes <= RECORD_OVERHEAD_BYTES) throw new TeeError('BAD_PARAMETERS', 'maxFrameBytes: too small for a record', 'CHANNEL');
    this.keyLog = opts.keyLog;
    this.direction = opts.direction ?? 'record';
  }

  /** Nonce for the header at the start of `frame`: IV XOR (epoch | seq), the header's last 12 bytes. */
  nonceFor(frame: Uint8Array): Uint8Array {
    const n = this.nonce;
    const iv = this.iv;
    for (let i = 0; i < AEAD_NONCE_BYTES; i++) n[i] = iv[i]! ^ frame[2 + i]!;
    return n;
  }

  /** Next epoch's key and IV from the current ones; the old ones are zeroed. */
  ratchet(): void {
    if (this.epoch >= MAX_EPOCH) throw new TeeError('BAD_STATE', 'record layer: epoch space exhausted', 'CHANNEL');
    const info = new Uint8Array(REKEY_LABEL.length + 4);
    info.set(utf8(REKEY_LABEL));
    new DataView(info.buffer).setUint32(REKEY_LABEL.length, this.epoch + 1);
    const okm = this.provider.hkdfSha256(this.key, this.iv, info, AEAD_KEY_BYTES + AEAD_NONCE_BYTES);
    zeroize(this.key, this.iv);
    this.key = okm.slice(0, AEAD_KEY_BYTES);
    this.iv = okm.slice(AEAD_KEY_BYTES);
    zeroize(okm);
    this.epoch++;
    this.recordsInEpoch = 0;
    this.bytesInEpoch = 0;
    this.rekeys++;
    if (this.keyLog) {
      this.keyLog(`traffic key ${this.direction} epoch ${this.epoch}`, new Uint8Array(this.key));
      this.keyLog(`traffic iv ${this.direction} epoch ${this.epoch}`, new Uint8Array(this.iv));
    }
  }

  count(plaintextBytes: number): void {
    this.seq++;
    this.recordsInEpoch++;
    this.bytesInEpoch += plaintextBytes;
  }

  /** Whether this epoch's budget is spent, so the next record must use a new key. */
  get rekeyDue(): boolean {
    return this.recordsInEpoch >= this.rekeyAfterRecords || this.bytesInEpoch >= this.rekeyAfterBytes;
  }

  destroy(): void {
    zeroize(this.key, this.iv, this.nonce);
  }
}

// Byte-wise big-endian access: cheaper than a DataView per record on the hot path.
function writeU32(frame: Uint8Array, off: number, value: number): void {
  frame[off] = value >>> 24;
  frame[off + 1] = value >>> 16;
  frame[off + 2] = value >>> 8;
  frame[off + 3] = value;
}

function readU32(frame: Uint8Array, off: number): number {
  return ((frame[off]! << 24) | (frame[off + 1]! << 16) | (frame[off + 2]! << 8) | frame[off + 3]!) >>> 0;
}

/** The header's u64 sequence number (an exact number: seq never passes MAX_SEQ). */
function readSeq(frame: Uint8Array): number {
  return readU32(frame, 6) * 0x100000000 + readU32(frame, 10);
}

/** A record's header as anyone carrying the frame reads it (it is plaintext: the AEAD's associated data). */
export interface RecordHeader {
  type: keyof typeof RecordType;
  epoch: number;
  seq: number;
  /** Sealed bytes after the header, the AEAD tag included. */
  sealedBytes: number;
}

const RECORD_TYPE_NAMES = new Map<number, keyof typeof RecordType>(Object.entries(RecordType).map(([name, id]) => [id, name as keyof typeof RecordType]));

/**
 * The header of a frame, if it is shaped like a record of this version (a handshake message, which
 * starts with a msgpack array, is not). Reads only what the carrier sees; authenticates nothing.
 */
export function peekRecordHeader(frame: Uint8Array): RecordHeader | undefined {
  if (frame.length < RECORD_OVERHEAD_BYTES || frame[0] !== RECORD_VERSION) return undefined;
  const type = RECORD_TYPE_NAMES.get(frame[1]!);
  if (type === undefined) return undefined;
  return { type, epoch: readU32(frame, 2), seq: readSeq(frame), sealedBytes: frame.length - RECORD_HEADER_BYTES };
}

function writeHeader(frame: Uint8Array, type: RecordType, epoch: number, seq: number): void {
  frame[0] = RECORD_VERSION;
  frame[1] = type;
  writeU32(frame, 2, epoch);
  writeU32(frame, 6, Math.floor(seq / 0x100000000));
  writeU32(frame, 10, seq >>> 0);
}

function rejectRecord(seq: number, reason: string): never {
  throw new TeeError('SECURITY', `record ${seq}: ${reason}`, 'CHANNEL');
}

const SLAB_BYTES = 64 * 1024;
const SLAB_FRAME_LIMIT = 4096;

/**
 * Carves small frames out of a shared slab: one ArrayBuffer allocation per 64 KiB of frames instead
 * of one per frame (a fresh typed array costs about as much as sealing 100 bytes). A slab only ever
 * holds this sender's finished frames — header and ciphertext, all public — so a frame's backing
 * buffer shows the REE nothing it does not already carry.
 */
class FrameAllocator {
  private slab = new ArrayBuffer(0);
  private offset = 0;

  alloc(length: number): Uint8Array {
    if (length > SLAB_FRAME_LIMIT) return new Uint8Array(length);
    if (this.offset + length > this.slab.byteLength) {
      this.slab = new ArrayBuffer(SLAB_BYTES);
      this.offset = 0;
    }
    const frame = new Uint8Array(this.slab, this.offset, length);
    this.offset += (length + 7) & ~7;
    return frame;
  }
}

/** Seals this side's outgoing records. */
export class RecordSender {
  private readonly state: DirectionState;
  private readonly frames = new FrameAllocator();
  private destroyed = false;

  constructor(provider: CryptoProvider, suite: AeadAlgorithm, secret: TrafficSecret, opts: RecordOptions = {}) {
    this.state = new DirectionState(provider, suite, secret, opts);
  }

  /** Largest plaintext one record can carry. */
  get maxPlaintextBytes(): number {
    return this.state.maxFrameBytes - RECORD_OVERHEAD_BYTES;
  }
  get recordsSent(): number {
    return this.state.seq;
  }
  get epoch(): number {
    return this.state.epoch;
  }
  get rekeys(): number {
    return this.state.rekeys;
  }

  /** One frame for `plaintext`. Throws BAD_PARAMETERS if it is too large (the session stays usable). */
  seal(type: RecordType, plaintext: Uint8Array): Uint8Array {
    const s = this.state;
    if (this.destroyed) throw new TeeError('BAD_STATE', 'record layer: sender is closed', 'CHANNEL');
    if (plaintext.length > this.maxPlaintextBytes) {
      throw new TeeError('BAD_PARAMETERS', `record: ${plaintext.length} bytes exceeds limit ${this.maxPlaintextBytes}`, 'CHANNEL');
    }
    if (s.seq >= MAX_SEQ) throw new TeeError('BAD_STATE', 'record layer: sequence space exhausted', 'CHANNEL');
    // Rekey just before the first record of the new epoch, so both sides count the same rekeys.
    if (s.rekeyDue) s.ratchet();
    const frame = this.frames.alloc(RECORD_OVERHEAD_BYTES + plaintext.length);
    writeHeader(frame, type, s.epoch, s.seq);
    const header = frame.subarray(0, RECORD_HEADER_BYTES);
    frame.set(s.provider.aeadSeal(s.suite, s.key, s.nonceFor(frame), plaintext, header), RECORD_HEADER_BYTES);
    s.count(plaintext.length);
    return frame;
  }

  destroy(): void {
    this.destroyed = true;
    this.state.destroy();
  }
}

/** Opens the peer's records, strictly in order. */
export class RecordReceiver {
  private readonly state: DirectionState;
  private dead = false;

  constructor(provider: CryptoProvider, suite: AeadAlgorithm, secret: TrafficSecret, opts: RecordOptions = {}) {
    this.state = new DirectionState(provider, suite, secret, opts);
  }

  get recordsReceived(): number {
    return this.state.seq;
  }
  get epoch(): number {
    return this.state.epoch;
  }
  get rekeys(): number {
    return this.state.rekeys;
  }

  /** Authenticate and decrypt the next record, or throw TeeError('SECURITY') and stay dead. */
  open(frame: Uint8Array): OpenedRecord {
    if (this.dead) throw new TeeError('SECURITY', 'record layer: closed after an earlier failure', 'CHANNEL');
    try {
      return this.openNext(frame);
    } catch (err) {
      this.destroy();
      if (err instanceof TeeError) throw err;
      throw new TeeError('SECURITY', `record ${this.state.seq}: internal error`, 'CHANNEL');
    }
  }

  private openNext(frame: Uint8Array): OpenedRecord {
    const s = this.state;
    if (!(frame instanceof Uint8Array)) rejectRecord(s.seq, 'not bytes');
    if (frame.length < RECORD_OVERHEAD_BYTES) rejectRecord(s.seq, `truncated (${frame.length} bytes)`);
    if (frame.length > s.maxFrameBytes) rejectRecord(s.seq, `${frame.length} bytes exceeds limit ${s.maxFrameBytes}`);
    if (frame[0] !== RECORD_VERSION) rejectRecord(s.seq, 'unknown record version');
    const type = frame[1]!;
    if (type !== RecordType.DATA && type !== RecordType.READY && type !== RecordType.CLOSE) rejectRecord(s.seq, 'unknown record type');
    const epoch = readU32(frame, 2);
    const seq = readSeq(frame);
    if (seq !== s.seq) rejectRecord(s.seq, `out of sequence (got ${seq}): replayed, reordered or dropped`);
    if (epoch === s.epoch + 1) s.ratchet();
    else if (epoch !== s.epoch) rejectRecord(s.seq, `unexpected epoch ${epoch}`);
    let payload: Uint8Array;
    try {
      payload = s.provider.aeadOpen(s.suite, s.key, s.nonceFor(frame), frame.subarray(RECORD_HEADER_BYTES), frame.subarray(0, RECORD_HEADER_BYTES));
    } catch {
      return rejectRecord(s.seq, 'authentication failed (altered, truncated or from another session)');
    }
    s.count(payload.length);
    return { type: type as RecordType, payload };
  }

  destroy(): void {
    this.dead = true;
    this.state.destroy();
  }
}
