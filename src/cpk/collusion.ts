/**
 * The collusion bound of plain CPK, demonstrated.
 *
 * A plain CPK private key is a 0/1 combination of the matrix scalars, one per column:
 *   k_u = Σ_j r[sel_u(j)][j]  (mod n).
 * Adding δ_j to every entry of column j with Σ_j δ_j = 0 changes no key, so the selection vectors
 * span at most rows·cols − (cols − 1) dimensions, and colluders holding that many keys with
 * independent selections can solve (Gaussian elimination mod n) for an *equivalent* matrix: not r
 * itself, but one that yields every user's private key. For the default 32x32 matrix that is
 * 32·32 − 32 + 1 = 993 keys; for 4x4 it is 13, for 6x6 31. Selections are public (anyone can hash an
 * ID), so colluders can pick user IDs whose selections are independent and need no more than that.
 *
 * Hardened mode (./hardened.ts) adds an independent unknown s_u to every key, so the same attack
 * yields a matrix that fits the stolen keys but no one else's key.
 *
 * The elimination is dense: fine for the small matrices of tests and demos (up to about 8x8); a
 * 32x32 recovery (993 x 1025 system) works in principle but takes minutes in bigint arithmetic.
 */
import { toHex, zeroize } from '../common/bytes.js';
import { aint } from '../common/checks.js';
import { TeeError } from '../common/errors.js';
import type { CryptoProvider } from '../crypto/provider.js';
import { bytesToBigInt, checkShape } from './encoding.js';
import { openIssuancePackage } from './issuance.js';
import type { KeyManagementCentre } from './kmc.js';
import type { PublicMatrix } from './matrix.js';
import { selectIndices } from './select.js';

/** The order of the P-256 group (the default modulus for `forgePrivateKey`). */
export const P256_ORDER = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;

export interface CollusionSample {
  /** The row picked in each column (from `selectIndices`). */
  indices: number[];
  secretKey: bigint;
}

export type RecoveryResult =
  | { matrix: bigint[][] }
  /** Fewer independent keys than `collusionKeysNeeded`: the matrix is not determined. */
  | { insufficient: true; rank: number }
  /** The keys fit no matrix at all (as in hardened mode, where each key has its own unknown). */
  | { inconsistent: true; rank: number };

/** Independent keys that determine an equivalent matrix: rows·cols − cols + 1 (993 for 32x32). */
export function collusionKeysNeeded(rows: number, cols: number): number {
  checkShape(rows, cols);
  return rows * cols - cols + 1;
}

function mod(a: bigint, n: bigint): bigint {
  const r = a % n;
  return r < 0n ? r + n : r;
}

/** a⁻¹ mod n by the extended Euclidean algorithm (n prime, a ≠ 0). */
function modInverse(a: bigint, n: bigint): bigint {
  let [oldR, r] = [mod(a, n), n];
  let [oldS, s] = [1n, 0n];
  while (r !== 0n) {
    const q = oldR / r;
    [oldR, r] = [r, oldR - q * r];
    [oldS, s] = [s, oldS - q * s];
  }
  if (oldR !== 1n) throw new TeeError('BAD_PARAMETERS', 'collusion: value has no inverse mod n', 'API');
  return mod(oldS, n);
}

/** 0/1 selection vector over the rows·cols unknowns, row-major like the public matrix. */
function selectionVector(indices: readonly number[], rows: number, cols: number): bigint[] {
  if (indices.length !== cols) throw new TeeError('BAD_PARAMETERS', `collusion sample: expected ${cols} indices, got ${indices.length}`, 'API');
  const v = new Array<bigint>(rows * cols).fill(0n);
  indices.forEach((row, col) => {
    aint(row, 'collusion sample index', 0, rows - 1);
    v[row * cols + col] = 1n;
  });
  return v;
}

/**
 * Solve the colluders' keys for an equivalent matrix by Gauss-Jordan elimination mod n. Free
 * unknowns are set to 0; with full rank any solution yields every user's key.
 */
export function recoverEquivalentMatrix(n: bigint, rows: number, cols: number, samples: readonly CollusionSample[]): RecoveryResult {
  checkShape(rows, cols);
  const width = rows * cols;
  const a = samples.map((s) => [...selectionVector(s.indices, rows, cols), mod(s.secretKey, n)]);
  const pivots: number[] = [];
  let rank = 0;
  for (let col = 0; col < width && rank < a.length; col++) {
    const found = a.findIndex((row, r) => r >= rank && row[col] !== 0n);
    if (found === -1) continue;
    [a[rank], a[found]] = [a[found]!, a[rank]!];
    const pivot = a[rank]!;
    const inv = modInverse(pivot[col]!, n);
    for (let k = col; k <= width; k++) pivot[k] = mod(pivot[k]! * inv, n);
    for (let r = 0; r < a.length; r++) {
      const row = a[r]!;
      const f = row[col]!;
      if (r === rank || f === 0n) continue;
      for (let k = col; k <= width; k++) if (pivot[k] !== 0n) row[k] = mod(row[k]! - f * pivot[k]!, n);
    }
    pivots.push(col);
    rank++;
  }
  // Rows below the rank have all-zero coefficients; a non-zero right side means no solution.
  if (a.slice(rank).some((row) => row[width] !== 0n)) return { inconsistent: true, rank };
  if (rank < rows * cols - cols + 1) return { insufficient: true, rank };
  const x = new Array<bigint>(width).fill(0n);
  pivots.forEach((col, i) => {
    x[col] = a[i]![width]!;
  });
  const matrix: bigint[][] = [];
  for (let i = 0; i < rows; i++) matrix.push(x.slice(i * cols, (i + 1) * cols));
  return { matrix };
}

/** The private key an (equivalent) matrix gives the identity with these indices. */
export function forgePrivateKey(equivalentMatrix: readonly (readonly bigint[])[], indices: readonly number[], n: bigint = P256_ORDER): bigint {
  let sum = 0n;
  indices.forEach((row, col) => {
    const v = equivalentMatrix[row]?.[col];
    if (v === undefined) throw new TeeError('BAD_PARAMETERS', `collusion: index (${row}, ${col}) outside the matrix`, 'API');
    sum += v;
  });
  return mod(sum, n);
}

/**
 * True if `candidate` yields the same key as the public matrix for every identity. It checks the
 * basis selections (all row 0; row 0 except row i in column j), which span every selection, so a
 * match on them is a match everywhere. Costs rows·cols − cols + 1 base multiplications.
 */
export function matchesPublicMatrix(provider: CryptoProvider, matrix: PublicMatrix, candidate: readonly (readonly bigint[])[]): boolean {
  const { rows, cols } = matrix;
  const basis: number[][] = [new Array<number>(cols).fill(0)];
  for (let i = 1; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      const v = new Array<number>(cols).fill(0);
      v[j] = i;
      basis.push(v);
    }
  }
  const n = provider.p256.order;
  for (const indices of basis) {
    const key = forgePrivateKey(candidate, indices, n);
    if (key === 0n) return false;
    const expected = provider.p256.addPoints(indices.map((row, col) => matrix.points[row * cols + col]!));
    if (toHex(provider.p256.multiplyBase(key)) !== toHex(expected)) return false;
  }
  return true;
}

/** Incremental row-echelon basis mod n: lets colluders keep only IDs with independent selections. */
class EchelonBasis {
  private readonly rowsByPivot = new Map<number, bigint[]>();
  constructor(private readonly n: bigint) {}

  get rank(): number {
    return this.rowsByPivot.size;
  }

  /** Add the vector if it is independent of the basis; report whether it was. */
  tryAdd(vector: readonly bigint[]): boolean {
    const v = [...vector];
    for (let col = 0; col < v.length; col++) {
      if (v[col] === 0n) continue;
      const row = this.rowsByPivot.get(col);
      if (!row) {
        const inv = modInverse(v[col]!, this.n);
        this.rowsByPivot.set(col, v.map((x) => mod(x * inv, this.n)));
        return true;
      }
      const f = v[col]!;
      for (let k = col; k < v.length; k++) if (row[k] !== 0n) v[k] = mod(v[k]! - f * row[k]!, this.n);
    }
    return false;
  }
}

export interface CollusionOptions {
  /** Keys the colluders hold (default `collusionKeysNeeded`). */
  maxKeys?: number;
}

export interface CollusionReport {
  subdomainId: string;
  mode: PublicMatrix['mode'];
  keysNeeded: number;
  keysUsed: number;
  rank: number;
  /** The colluders found a matrix that gives every identity its public key. */
  recovered: boolean;
  /** The key they forged for a fresh victim ID equals the key the KMC issued to the victim. */
  forgedMatchesVictim: boolean;
}

/** Issue a key as a colluding key holder would receive it, and open it. */
async function stolenKey(provider: CryptoProvider, kmc: KeyManagementCentre, subdomainId: string, userId: string): Promise<bigint> {
  const recipient = provider.generateKeyPair('p256');
  const pkg = await kmc.issuePrivateKey(subdomainId, userId, { publicKey: recipient.publicKey });
  const opened = openIssuancePackage(provider, recipient.secretKey, pkg, kmc.kmcPublicKey);
  zeroize(recipient.secretKey);
  const key = bytesToBigInt(opened.secretKey);
  zeroize(opened.secretKey);
  return key;
}

/**
 * Run the collusion attack against a subdomain of `kmc`: colluders pick user IDs with independent
 * selections (then random ones, past the bound), get their keys issued, solve for an equivalent
 * matrix and forge the key of a fresh victim ID, which is then compared with the victim's real key.
 */
export async function demonstrateCollusion(
  provider: CryptoProvider, kmc: KeyManagementCentre, subdomainId: string, options: CollusionOptions = {},
): Promise<CollusionReport> {
  const matrix = await kmc.publicMatrix(subdomainId);
  const { rows, cols } = matrix;
  const n = provider.p256.order;
  const keysNeeded = collusionKeysNeeded(rows, cols);
  const budget = aint(options.maxKeys ?? keysNeeded, 'collusion maxKeys', 1, 100_000);
  const randomId = (prefix: string) => `${prefix}-${toHex(provider.randomBytes(8))}`;

  const basis = new EchelonBasis(n);
  const chosen: { userId: string; indices: number[] }[] = [];
  let attempts = 0;
  while (chosen.length < budget && attempts < 1000 * keysNeeded) {
    attempts++;
    const userId = randomId('colluder');
    const indices = selectIndices(provider, subdomainId, userId, rows, cols);
    if (basis.rank < keysNeeded && !basis.tryAdd(selectionVector(indices, rows, cols))) continue;
    chosen.push({ userId, indices });
  }

  const samples: CollusionSample[] = [];
  for (const { userId, indices } of chosen) samples.push({ indices, secretKey: await stolenKey(provider, kmc, subdomainId, userId) });
  const result = recoverEquivalentMatrix(n, rows, cols, samples);
  const rank = 'matrix' in result ? keysNeeded : result.rank;

  const victimId = randomId('victim');
  const victimKey = await stolenKey(provider, kmc, subdomainId, victimId);
  let recovered = false;
  let forgedMatchesVictim = false;
  if ('matrix' in result) {
    recovered = matchesPublicMatrix(provider, matrix, result.matrix);
    const forged = forgePrivateKey(result.matrix, selectIndices(provider, subdomainId, victimId, rows, cols), n);
    forgedMatchesVictim = forged === victimKey;
  }
  for (const s of samples) s.secretKey = 0n;
  return { subdomainId, mode: matrix.mode, keysNeeded, keysUsed: samples.length, rank, recovered, forgedMatchesVictim };
}
