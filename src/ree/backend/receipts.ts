/**
 * Settlement receipts sealed in batches. The backend signs one Merkle root per group of receipts
 * (one per group commit) instead of one signature per receipt, and each receipt carries its audit
 * path, so its holder checks it alone: leaf hash → root (RFC 9162 Merkle tree hash and inclusion
 * proof) → the backend's P-256 signature over the root. Changing any receipt field changes the leaf
 * and so the root; a receipt of another batch, another position or another tree size fails the path.
 *
 * Wire form (msgpack): [receipt statement bytes (encodeStatement), signature, index, size, [path...]].
 * Leaves hash `signingBytes(receipt)` (domain-labelled by payment.ts) behind 0x00, inner nodes behind
 * 0x01; the root is signed behind its own label, and the backend's key signs nothing else.
 */
import { TeeError } from '../../common/errors.js';
import { encode, decode } from '../../common/codec.js';
import { aarray, abytes, aint } from '../../common/checks.js';
import { concatBytes, constantTimeEqual, utf8 } from '../../common/bytes.js';
import type { CryptoProvider } from '../../crypto/provider.js';
import { decodeStatement, encodeStatement, signingBytesAfter, type Receipt } from '../../protocol/payment.js';

/** A receipt as the backend hands it out. */
export interface SealedReceipt {
  statement: Receipt;
  /** The backend's P-256 signature over `batchSigningBytes(root, size)` of the receipt's batch. */
  signature: Uint8Array;
  /** Where the receipt sits in its batch, and the sibling hashes from its leaf up to the root. */
  proof: { index: number; size: number; path: Uint8Array[] };
}

/** Receipts per signed batch, at most (a group commit is far smaller); bounds the path at 20 hashes. */
export const MAX_BATCH_RECEIPTS = 1 << 20;
const MAX_PATH = 20;
const BATCH_LABEL = utf8('tee-sim/backend/receipt-batch/v1');
const LEAF = new Uint8Array([0]);
const NODE = new Uint8Array([1]);

type Hash = (data: Uint8Array) => Uint8Array;

function bad(message: string): TeeError {
  return new TeeError('BAD_PARAMETERS', `receipt: ${message}`, 'BACKEND');
}

/** What the backend signs for a batch: label, a zero byte, then [version, size, root]. */
export function batchSigningBytes(root: Uint8Array, size: number): Uint8Array {
  return concatBytes(BATCH_LABEL, LEAF, encode([1, size, root]));
}

export function receiptLeafHash(sha256: Hash, statement: Receipt): Uint8Array {
  return sha256(leafInputOf(statement));
}

/** What a leaf hashes: LEAF || signing bytes, built in one buffer (`.subarray(LEAF.length)` is the signing bytes). */
function leafInputOf(statement: Receipt): Uint8Array {
  const b = signingBytesAfter(LEAF.length, statement);
  b.set(LEAF, 0);
  return b;
}

/** `n` leaf hashes of 32 bytes, concatenated, as views. */
function leafViews(leaves: Uint8Array, n: number): Uint8Array[] {
  return Array.from({ length: n }, (_, i) => leaves.subarray(i * 32, i * 32 + 32));
}

/** signingBytes is label, 0, encodeStatement: the statement's encoding is what follows the first zero. */
function statementBytesOf(signing: Uint8Array): Uint8Array {
  return signing.subarray(signing.indexOf(0) + 1);
}

const node = (sha256: Hash, left: Uint8Array, right: Uint8Array): Uint8Array => sha256(concatBytes(NODE, left, right));

/** RFC 9162 §2.1.1 tree hash over `leaves` (already leaf-hashed), with every leaf's audit path. */
function treeWithPaths(sha256: Hash, leaves: Uint8Array[]): { root: Uint8Array; paths: Uint8Array[][] } {
  if (leaves.length === 1) return { root: leaves[0]!, paths: [[]] };
  // k: the largest power of two smaller than n; the left subtree is complete.
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  const left = treeWithPaths(sha256, leaves.slice(0, k));
  const right = treeWithPaths(sha256, leaves.slice(k));
  for (const p of left.paths) p.push(right.root);
  for (const p of right.paths) p.push(left.root);
  return { root: node(sha256, left.root, right.root), paths: [...left.paths, ...right.paths] };
}

/** RFC 9162 §2.1.3.2: the root an inclusion proof leads to, or null if the path does not fit (index, size). */
function rootFromPath(sha256: Hash, leaf: Uint8Array, index: number, size: number, path: Uint8Array[]): Uint8Array | null {
  if (index >= size) return null;
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of path) {
    if (sn === 0) return null;
    if (fn % 2 === 1 || fn === sn) {
      r = node(sha256, p, r);
      while (fn % 2 === 0 && fn !== 0) {
        fn = Math.floor(fn / 2);
        sn = Math.floor(sn / 2);
      }
    } else {
      r = node(sha256, r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 ? r : null;
}

/** A batch whose tree is built: `message` is what the backend signs; `seal` attaches the signature. */
export interface PreparedBatch {
  message: Uint8Array;
  /**
   * The leaf hashes in order, 32 bytes each, concatenated: with the signature, what it takes to
   * rebuild any receipt of the batch (rebuildSealed).
   */
  leaves: Uint8Array;
  seal(signature: Uint8Array): { receipt: SealedReceipt; bytes: Uint8Array }[];
}

/** Build the Merkle tree of a batch (each statement encoded once) and the bytes to sign for it. */
export function prepareBatch(sha256: Hash, statements: Receipt[]): PreparedBatch {
  const size = statements.length;
  if (size < 1 || size > MAX_BATCH_RECEIPTS) throw new TeeError('BAD_PARAMETERS', 'receipt batch: size out of range', 'BACKEND');
  const leafInputs = statements.map(leafInputOf);
  const signing = leafInputs.map((b) => b.subarray(LEAF.length));
  const leaves = new Uint8Array(size * 32);
  leafInputs.forEach((b, i) => leaves.set(sha256(b), i * 32));
  const { root, paths } = treeWithPaths(sha256, leafViews(leaves, size));
  return {
    message: batchSigningBytes(root, size),
    leaves,
    seal: (signature) =>
      statements.map((statement, index) => {
        const receipt: SealedReceipt = { statement, signature, proof: { index, size, path: paths[index]! } };
        return { receipt, bytes: encodeSealed(statementBytesOf(signing[index]!), receipt) };
      }),
  };
}

/**
 * Seal a batch with one signature: `sign` gets `batchSigningBytes(root, n)` and returns the signature.
 * Returns each receipt with its encoding (encodeSealedReceipt).
 */
export function sealBatch(sha256: Hash, statements: Receipt[], sign: (message: Uint8Array) => Uint8Array): { receipt: SealedReceipt; bytes: Uint8Array }[] {
  const batch = prepareBatch(sha256, statements);
  return batch.seal(sign(batch.message));
}

/**
 * One receipt of a sealed batch again, from its statement, the batch's signature and its leaf hashes
 * (`leaves`: 32 bytes each, concatenated): the same bytes as when it was handed out. Throws
 * BAD_PARAMETERS if the statement's leaf is not the one at `index` (the statement is not that receipt).
 */
export function rebuildSealed(sha256: Hash, statement: Receipt, signature: Uint8Array, leaves: Uint8Array, index: number): { receipt: SealedReceipt; bytes: Uint8Array } {
  const size = leaves.length / 32;
  if (!Number.isInteger(size) || size < 1 || size > MAX_BATCH_RECEIPTS) throw bad('batch leaves malformed');
  if (!Number.isInteger(index) || index < 0 || index >= size) throw bad('index out of range');
  const hashes = leafViews(leaves, size);
  const input = leafInputOf(statement);
  if (!constantTimeEqual(sha256(input), hashes[index]!)) throw bad('statement does not match its leaf');
  const receipt: SealedReceipt = { statement, signature, proof: { index, size, path: treeWithPaths(sha256, hashes).paths[index]! } };
  return { receipt, bytes: encodeSealed(statementBytesOf(input.subarray(LEAF.length)), receipt) };
}

function encodeSealed(statementBytes: Uint8Array, r: SealedReceipt): Uint8Array {
  return encode([statementBytes, r.signature, r.proof.index, r.proof.size, r.proof.path]);
}

export function encodeSealedReceipt(r: SealedReceipt): Uint8Array {
  return encodeSealed(encodeStatement(r.statement), r);
}

/** Decode and validate the shape of a sealed receipt (untrusted bytes); does not check the signature. */
export function decodeSealedReceipt(bytes: Uint8Array): SealedReceipt {
  let v: unknown[];
  try {
    v = aarray(decode(bytes, 8192, 'BACKEND'), 'receipt', 5);
  } catch (err) {
    if (err instanceof TeeError) throw new TeeError(err.code, err.message, 'BACKEND');
    throw bad('malformed');
  }
  if (v.length !== 5) throw bad('expected [statement, signature, index, size, path]');
  try {
    const statement = decodeStatement(abytes(v[0], 'receipt statement', { min: 1, max: 4096 }), 'receipt');
    const signature = abytes(v[1], 'signature', 64);
    const size = aint(v[3], 'size', 1, MAX_BATCH_RECEIPTS);
    const index = aint(v[2], 'index', 0, size - 1);
    const path = aarray(v[4], 'path', MAX_PATH).map((h) => abytes(h, 'path hash', 32));
    return { statement, signature, proof: { index, size, path } };
  } catch (err) {
    if (err instanceof TeeError) throw new TeeError(err.code, err.message, 'BACKEND');
    throw bad('malformed');
  }
}

/** Decode a sealed receipt and check it against the backend's key; SECURITY if it does not verify. */
export function verifySealedReceipt(provider: CryptoProvider, bytes: Uint8Array, backendPublicKey: Uint8Array): SealedReceipt {
  const r = decodeSealedReceipt(bytes);
  const sha256 = (b: Uint8Array) => provider.sha256(b);
  const root = rootFromPath(sha256, receiptLeafHash(sha256, r.statement), r.proof.index, r.proof.size, r.proof.path);
  if (!root || !provider.verify('p256', backendPublicKey, batchSigningBytes(root, r.proof.size), r.signature)) {
    throw new TeeError('SECURITY', 'receipt: backend signature does not verify', 'BACKEND');
  }
  return r;
}
