import { beforeAll, describe, expect, it } from 'vitest';
import { encode } from '../../src/common/codec.js';
import { nativeProvider } from '../../src/crypto/index.js';
import { decodePublicMatrix, encodePublicMatrix, verifyPublicMatrix, type PublicMatrix } from '../../src/cpk/index.js';
import { expectTeeError, flipBit, makeKmc } from './helpers.js';

const provider = nativeProvider;
let matrix: PublicMatrix;
let kmcPublicKey: Uint8Array;

beforeAll(async () => {
  const { kmc, matrices } = await makeKmc(provider, { retail: { rows: 4, cols: 3 } });
  matrix = matrices.retail!;
  kmcPublicKey = kmc.kmcPublicKey;
});

describe('public matrix', () => {
  it('round-trips through its encoding and verifies against the KMC key', () => {
    const bytes = encodePublicMatrix(matrix);
    const decoded = decodePublicMatrix(bytes);
    expect(decoded).toEqual(matrix);
    expect(encodePublicMatrix(decoded)).toEqual(bytes);
    verifyPublicMatrix(provider, decoded, kmcPublicKey);
  });

  it('rejects a matrix signed by another KMC, even one that names itself in the matrix', async () => {
    const other = await makeKmc(provider, { retail: { rows: 4, cols: 3 } });
    const foreign = other.matrices.retail!;
    expectTeeError(() => verifyPublicMatrix(provider, foreign, kmcPublicKey), 'SECURITY', /untrusted KMC key/);
    // Claiming the trusted key does not help: the signature is the other KMC's.
    expectTeeError(() => verifyPublicMatrix(provider, { ...foreign, kmcPublicKey }, kmcPublicKey), 'SECURITY', /does not verify/);
  });

  it('rejects any altered field with SECURITY', () => {
    const swapped = [...matrix.points];
    [swapped[0], swapped[1]] = [swapped[1]!, swapped[0]!];
    const altered: PublicMatrix[] = [
      { ...matrix, subdomainId: 'transit' },
      { ...matrix, mode: 'hardened' },
      { ...matrix, points: swapped },
      { ...matrix, points: matrix.points.map((p, k) => (k === 5 ? provider.p256.multiplyBase(7n) : p)) },
      { ...matrix, signature: flipBit(matrix.signature, 9) },
    ];
    for (const m of altered) expectTeeError(() => verifyPublicMatrix(provider, m, kmcPublicKey), 'SECURITY');
    // Reshaping the same points (4x3 -> 3x4) is another matrix too.
    expectTeeError(() => verifyPublicMatrix(provider, { ...matrix, rows: 3, cols: 4 }, kmcPublicKey), 'SECURITY');
  });

  it('decodes malformed bytes to BAD_PARAMETERS, never a crash', () => {
    const good = encodePublicMatrix(matrix);
    const fields = [1, matrix.subdomainId, 4, 3, 'plain', new Uint8Array(12 * 33).fill(2), matrix.kmcPublicKey, matrix.signature];
    const bad: Uint8Array[] = [
      new Uint8Array(0),
      good.subarray(0, good.length - 1),
      new Uint8Array([...good, 0]),
      encode({ version: 1 }),
      encode(fields.slice(0, 7)),
      encode(fields.map((f, i) => (i === 0 ? 2 : f))),
      encode(fields.map((f, i) => (i === 1 ? 'bad id!' : f))),
      encode(fields.map((f, i) => (i === 2 ? 1 : f))),
      encode(fields.map((f, i) => (i === 3 ? 1e9 : f))),
      encode(fields.map((f, i) => (i === 4 ? 'fancy' : f))),
      encode(fields.map((f, i) => (i === 5 ? new Uint8Array(11 * 33) : f))),
      encode(fields.map((f, i) => (i === 5 ? new Uint8Array(12 * 33).fill(4) : f))), // uncompressed prefix
      encode(fields.map((f, i) => (i === 6 ? new Uint8Array(65) : f))),
      encode(fields.map((f, i) => (i === 7 ? 'sig' : f))),
    ];
    for (const bytes of bad) expectTeeError(() => decodePublicMatrix(bytes), 'BAD_PARAMETERS');
    for (let bit = 0; bit < 64; bit++) {
      try {
        decodePublicMatrix(flipBit(good, bit * 13));
      } catch (err) {
        expect((err as { code?: string }).code).toBe('BAD_PARAMETERS');
      }
    }
  });
});
