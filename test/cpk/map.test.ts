import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { toHex } from '../../src/common/bytes.js';
import { PROVIDERS, nativeProvider } from '../../src/crypto/index.js';
import {
  ID_PATTERN, KeyManagementCentre, mapPublicKey, PublicKeyCache, signPublicMatrix, type PublicMatrix,
} from '../../src/cpk/index.js';
import { expectTeeError, issueAndOpen, makeKmc } from './helpers.js';

const userId = fc.stringMatching(ID_PATTERN);

describe.each(Object.values(PROVIDERS))('mapping matches issuance ($name)', (provider) => {
  let kmc: KeyManagementCentre;
  let matrix: PublicMatrix;
  beforeAll(async () => {
    const made = await makeKmc(provider, { retail: { rows: 4, cols: 4 } });
    kmc = made.kmc;
    matrix = made.matrices.retail!;
  });

  it('the opened secret key belongs to the offline-mapped public key, for any user id', async () => {
    await fc.assert(
      fc.asyncProperty(userId, async (id) => {
        const opened = await issueAndOpen(kmc, 'retail', id);
        const mapped = mapPublicKey(provider, matrix, 'retail', id);
        expect(toHex(provider.publicKeyOf('p256', opened.secretKey))).toBe(toHex(mapped));
        expect(toHex(opened.publicKey)).toBe(toHex(mapped));
        // A signature by the issued key verifies under the mapped key.
        const msg = new TextEncoder().encode(`pay from ${id}`);
        expect(provider.verify('p256', mapped, msg, provider.sign('p256', opened.secretKey, msg))).toBe(true);
      }),
      { numRuns: 30 },
    );
  });
});

describe('subdomain separation', () => {
  const provider = nativeProvider;
  let kmc: KeyManagementCentre;
  let matrices: Record<string, PublicMatrix>;
  beforeAll(async () => {
    ({ kmc, matrices } = await makeKmc(provider, { retail: { rows: 4, cols: 4 }, transit: { rows: 4, cols: 4 } }));
  });

  it('gives the same user id unrelated keys in two subdomains', async () => {
    const a = await issueAndOpen(kmc, 'retail', 'alice');
    const b = await issueAndOpen(kmc, 'transit', 'alice');
    expect(toHex(a.secretKey)).not.toBe(toHex(b.secretKey));
    expect(toHex(mapPublicKey(provider, matrices.retail!, 'retail', 'alice'))).not.toBe(toHex(mapPublicKey(provider, matrices.transit!, 'transit', 'alice')));
    // A retail signature does not verify as the transit identity.
    const msg = new Uint8Array([1, 2, 3]);
    expect(provider.verify('p256', b.publicKey, msg, provider.sign('p256', a.secretKey, msg))).toBe(false);
  });

  it('refuses to map an identity with another subdomain\'s matrix', () => {
    expectTeeError(() => mapPublicKey(provider, matrices.transit!, 'retail', 'alice'), 'BAD_PARAMETERS', /subdomain retail given the matrix of transit/);
  });

  it('rejects a public sum at the point at infinity with SECURITY', async () => {
    // A (rogue) matrix whose column 1 negates column 0: every identity's sum is infinity.
    const n = provider.p256.order;
    const kmcKey = provider.generateKeyPair('p256');
    const points = [1n, 5n, 9n].flatMap((r) => [provider.p256.multiplyBase(r), provider.p256.multiplyBase(n - r)]);
    const rogue = signPublicMatrix(provider, kmcKey.secretKey, { version: 1, subdomainId: 'void', rows: 3, cols: 2, mode: 'plain', points, kmcPublicKey: kmcKey.publicKey });
    expectTeeError(() => mapPublicKey(provider, rogue, 'void', 'anyone'), 'SECURITY', /point at infinity/);
  });
});

describe('PublicKeyCache', () => {
  const provider = nativeProvider;
  let kmc: KeyManagementCentre;
  let matrices: Record<string, PublicMatrix>;
  beforeAll(async () => {
    ({ kmc, matrices } = await makeKmc(provider, { retail: { rows: 4, cols: 4 }, gov: { rows: 4, cols: 4, mode: 'hardened' } }));
  });

  it('maps like mapPublicKey, returns the same instance on a hit and evicts the least recently used', () => {
    const cache = new PublicKeyCache({ provider, trustedKmcPublicKey: kmc.kmcPublicKey, matrices: [matrices.retail!], capacity: 2 });
    const a = cache.get('retail', 'a');
    expect(toHex(a)).toBe(toHex(mapPublicKey(provider, matrices.retail!, 'retail', 'a')));
    expect(cache.get('retail', 'a')).toBe(a);
    const b = cache.get('retail', 'b');
    cache.get('retail', 'a'); // a is now the most recently used
    cache.get('retail', 'c'); // evicts b
    expect(cache.size).toBe(2);
    expect(cache.get('retail', 'a')).toBe(a);
    const b2 = cache.get('retail', 'b');
    expect(b2).not.toBe(b);
    expect(toHex(b2)).toBe(toHex(b));
  });

  it('admits only matrices of the trusted KMC, one per subdomain', async () => {
    const other = await makeKmc(provider, { retail: { rows: 4, cols: 4 } });
    const cache = new PublicKeyCache({ provider, trustedKmcPublicKey: kmc.kmcPublicKey });
    expectTeeError(() => cache.add(other.matrices.retail!), 'SECURITY');
    expectTeeError(() => cache.get('retail', 'alice'), 'ITEM_NOT_FOUND');
    cache.add(matrices.retail!);
    cache.add(matrices.retail!); // the same matrix again is fine
    const again = await kmc.createSubdomain('retail2', { rows: 4, cols: 4 });
    expectTeeError(() => cache.add({ ...again, subdomainId: 'retail' }), 'SECURITY');
  });

  it('refuses a second, different matrix for a known subdomain', () => {
    const kmcKey = provider.generateKeyPair('p256');
    const make = (first: bigint) => signPublicMatrix(provider, kmcKey.secretKey, {
      version: 1, subdomainId: 'retail', rows: 2, cols: 1, mode: 'plain', kmcPublicKey: kmcKey.publicKey,
      points: [first, 2n].map((r) => provider.p256.multiplyBase(r)),
    });
    const cache = new PublicKeyCache({ provider, trustedKmcPublicKey: kmcKey.publicKey, matrices: [make(3n)] });
    expectTeeError(() => cache.add(make(4n)), 'ACCESS_CONFLICT');
  });

  it('needs a valid separating certificate for hardened subdomains', async () => {
    const cache = new PublicKeyCache({ provider, trustedKmcPublicKey: kmc.kmcPublicKey, matrices: [matrices.gov!] });
    const alice = await issueAndOpen(kmc, 'gov', 'alice');
    const bob = await issueAndOpen(kmc, 'gov', 'bob');
    expectTeeError(() => cache.get('gov', 'alice'), 'SECURITY', /certificate missing/);
    expect(toHex(cache.get('gov', 'alice', alice.certificate!))).toBe(toHex(alice.publicKey));
    expect(toHex(cache.get('gov', 'alice', alice.separatingCertificate!))).toBe(toHex(alice.publicKey));
    // Bob's certificate does not make a key for alice, cached or not.
    expectTeeError(() => cache.get('gov', 'alice', bob.certificate!), 'SECURITY');
  });
});
