import { beforeAll, describe, expect, it } from 'vitest';
import { toHex } from '../../src/common/bytes.js';
import { nativeProvider } from '../../src/crypto/index.js';
import {
  decodeSeparatingCertificate, encodeSeparatingCertificate, issueSeparatingKey, mapHardenedPublicKey, mapPublicKey,
  openIssuancePackage, type KeyManagementCentre, type PublicMatrix, type SeparatingCertificate,
} from '../../src/cpk/index.js';
import { expectTeeError, flipBit, issueAndOpen, makeKmc } from './helpers.js';

const provider = nativeProvider;
let kmc: KeyManagementCentre;
let matrices: Record<string, PublicMatrix>;

beforeAll(async () => {
  ({ kmc, matrices } = await makeKmc(provider, { gov: { rows: 4, cols: 4, mode: 'hardened' }, retail: { rows: 4, cols: 4 } }));
});

describe('hardened mode', () => {
  it('issues cpkKey + s_u, mapped from the matrix plus the certified S_u', async () => {
    const alice = await issueAndOpen(kmc, 'gov', 'alice', matrices.gov!);
    expect(alice.mode).toBe('hardened');
    const certificate = decodeSeparatingCertificate(alice.certificate!);
    expect(certificate).toEqual(alice.separatingCertificate);
    const mapped = mapHardenedPublicKey(provider, matrices.gov!, 'gov', 'alice', alice.certificate!);
    expect(toHex(mapped)).toBe(toHex(provider.publicKeyOf('p256', alice.secretKey)));
    // The plain part alone is nobody's key: mapPublicKey refuses a hardened matrix.
    expectTeeError(() => mapPublicKey(provider, matrices.gov!, 'gov', 'alice'), 'BAD_PARAMETERS', /hardened/);
    expectTeeError(() => mapHardenedPublicKey(provider, matrices.retail!, 'retail', 'alice', alice.certificate!), 'BAD_PARAMETERS', /plain/);
  });

  it('gives every issuance its own separating key', async () => {
    const first = await issueAndOpen(kmc, 'gov', 'bob');
    const second = await issueAndOpen(kmc, 'gov', 'bob');
    expect(toHex(first.secretKey)).not.toBe(toHex(second.secretKey));
    expect(toHex(first.separatingCertificate!.separatingPublicKey)).not.toBe(toHex(second.separatingCertificate!.separatingPublicKey));
  });

  it('accepts only the KMC certificate of exactly this identity', async () => {
    const alice = (await issueAndOpen(kmc, 'gov', 'alice')).separatingCertificate!;
    const map = (c: SeparatingCertificate | Uint8Array, userId = 'alice') => mapHardenedPublicKey(provider, matrices.gov!, 'gov', userId, c);
    expectTeeError(() => map(alice, 'bob'), 'SECURITY', /another identity/);
    expectTeeError(() => map({ ...alice, userId: 'bob' }, 'bob'), 'SECURITY', /does not verify/);
    expectTeeError(() => map({ ...alice, separatingPublicKey: provider.p256.multiplyBase(5n) }), 'SECURITY');
    expectTeeError(() => map({ ...alice, signature: flipBit(alice.signature, 7) }), 'SECURITY');
    // A certificate signed by another KMC, even for the right identity and S_u of the attacker's choosing.
    const rogue = provider.generateKeyPair('p256');
    expectTeeError(() => map(issueSeparatingKey(provider, rogue.secretKey, 'gov', 'alice').certificate), 'SECURITY');
    expectTeeError(() => map(new Uint8Array([1, 2, 3])), 'BAD_PARAMETERS');
    expectTeeError(() => map(encodeSeparatingCertificate(alice).subarray(1)), 'BAD_PARAMETERS');
  });

  it('refuses a hardened package stripped of its certificate or given another user\'s', async () => {
    const recipient = provider.generateKeyPair('p256');
    const pkg = await kmc.issuePrivateKey('gov', 'alice', { publicKey: recipient.publicKey });
    const other = await kmc.issuePrivateKey('gov', 'carol', { publicKey: recipient.publicKey });
    const stripped = { ...pkg };
    delete stripped.separatingCertificate;
    expectTeeError(() => openIssuancePackage(provider, recipient.secretKey, stripped, kmc.kmcPublicKey), 'SECURITY');
    expectTeeError(() => openIssuancePackage(provider, recipient.secretKey, { ...pkg, separatingCertificate: other.separatingCertificate! }, kmc.kmcPublicKey), 'SECURITY');
    expect(openIssuancePackage(provider, recipient.secretKey, pkg, kmc.kmcPublicKey, matrices.gov!).userId).toBe('alice');
  });
});
