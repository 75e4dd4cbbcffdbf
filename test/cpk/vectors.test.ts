import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../../src/common/bytes.js';
import { PROVIDERS } from '../../src/crypto/index.js';
import {
  decodePublicMatrix, decodeSeparatingCertificate, encodePublicMatrix, mapHardenedPublicKey, mapPublicKey, selectIndices,
  verifyPublicMatrix, type CpkMode,
} from '../../src/cpk/index.js';

interface VectorCase { userId: string; indices: number[]; secretKey: string; publicKey: string; separatingScalar?: string; certificate?: string }
interface VectorSubdomain { subdomainId: string; rows: number; cols: number; mode: CpkMode; scalars: string[][]; encodedPublicMatrix: string; cases: VectorCase[] }
const vectors = JSON.parse(readFileSync(new URL('../vectors/cpk-v1.json', import.meta.url), 'utf8')) as {
  kmcPublicKey: string;
  subdomains: VectorSubdomain[];
};

describe.each(Object.values(PROVIDERS))('CPK known-answer vectors ($name)', (provider) => {
  const p256 = provider.p256;
  const kmcPublicKey = fromHex(vectors.kmcPublicKey);

  it.each(vectors.subdomains.map((s) => [s.subdomainId, s] as const))('%s', (_, sub) => {
    // The public matrix: wire format pinned byte for byte, signature valid, points = scalars·G.
    const encoded = fromHex(sub.encodedPublicMatrix);
    const matrix = decodePublicMatrix(encoded);
    expect(toHex(encodePublicMatrix(matrix))).toBe(sub.encodedPublicMatrix);
    expect([matrix.subdomainId, matrix.rows, matrix.cols, matrix.mode]).toEqual([sub.subdomainId, sub.rows, sub.cols, sub.mode]);
    verifyPublicMatrix(provider, matrix, kmcPublicKey);
    const scalars = sub.scalars.map((row) => row.map((h) => p256.scalarFromBytes(fromHex(h))));
    scalars.forEach((row, i) => row.forEach((r, j) => expect(toHex(p256.multiplyBase(r))).toBe(toHex(matrix.points[i * sub.cols + j]!))));

    for (const c of sub.cases) {
      const indices = selectIndices(provider, sub.subdomainId, c.userId, sub.rows, sub.cols);
      expect(indices, c.userId).toEqual(c.indices);
      let key = p256.mod(indices.reduce((acc, row, col) => acc + scalars[row]![col]!, 0n));
      if (sub.mode === 'hardened') {
        key = p256.mod(key + p256.scalarFromBytes(fromHex(c.separatingScalar!)));
        const certificate = decodeSeparatingCertificate(fromHex(c.certificate!));
        expect(toHex(mapHardenedPublicKey(provider, matrix, sub.subdomainId, c.userId, certificate))).toBe(c.publicKey);
      } else {
        expect(toHex(mapPublicKey(provider, matrix, sub.subdomainId, c.userId))).toBe(c.publicKey);
      }
      expect(toHex(p256.scalarToBytes(key))).toBe(c.secretKey);
      expect(toHex(provider.publicKeyOf('p256', fromHex(c.secretKey)))).toBe(c.publicKey);
    }
  });
});
