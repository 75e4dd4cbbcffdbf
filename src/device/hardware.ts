/**
 * A phone's burned-in secrets, issued by the factory when the phone is first made: the TEE OS's
 * channel identity, the device attestation key, and the trusted key's channel identity. They are
 * kept in `<phone dir>/hardware/identities`, which stands for one-time-programmable memory inside the
 * SoC and the secure element: not REE-visible in the threat model (the REE-visible parts of a phone
 * are `tee/ree-fs` and `trusted-key/store` only).
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { aarray, abytes, aoneOf } from '../common/checks.js';
import { decode, encode } from '../common/codec.js';
import { TeeError } from '../common/errors.js';
import { zeroize } from '../common/bytes.js';
import type { SignatureAlgorithm } from '../crypto/provider.js';
import { decodeCertificate, encodeCertificate, type ChannelIdentity } from '../channel/index.js';
import type { DeviceIdentity } from '../tee/index.js';
import type { AgentIdentity } from '../trusted-key/index.js';
import type { Factory } from './factory.js';

export interface PhoneHardware {
  teeOs: ChannelIdentity;
  device: DeviceIdentity;
  trustedKey: AgentIdentity;
}

const FILE = 'identities';
const ALGORITHMS: readonly SignatureAlgorithm[] = ['p256', 'ed25519'];

function encodeHardware(h: PhoneHardware): Uint8Array {
  return encode([
    1,
    [h.teeOs.algorithm, h.teeOs.secretKey, encodeCertificate(h.teeOs.certificate)],
    [h.device.secretKey, encodeCertificate(h.device.certificate)],
    [h.trustedKey.algorithm, h.trustedKey.secretKey, encodeCertificate(h.trustedKey.certificate)],
  ]);
}

function decodeHardware(bytes: Uint8Array, factory: Factory): PhoneHardware {
  try {
    const v = aarray(decode(bytes, 8192, 'API'), 'hardware', 4);
    if (v.length !== 4 || v[0] !== 1) throw new Error('shape');
    const tee = aarray(v[1], 'tee', 3);
    const dev = aarray(v[2], 'device', 2);
    const tk = aarray(v[3], 'trusted key', 3);
    return {
      teeOs: {
        role: 'tee-os',
        algorithm: aoneOf(tee[0], 'tee algorithm', ALGORITHMS),
        secretKey: new Uint8Array(abytes(tee[1], 'tee secret', 32)),
        certificate: decodeCertificate(abytes(tee[2], 'tee certificate')),
        trustedRoots: [factory.issuerRoot],
        expectedPeerRole: 'trusted-key',
      },
      device: { secretKey: new Uint8Array(abytes(dev[0], 'device secret', 32)), certificate: decodeCertificate(abytes(dev[1], 'device certificate')) },
      trustedKey: {
        algorithm: aoneOf(tk[0], 'trusted key algorithm', ALGORITHMS),
        secretKey: new Uint8Array(abytes(tk[1], 'trusted key secret', 32)),
        certificate: decodeCertificate(abytes(tk[2], 'trusted key certificate')),
      },
    };
  } catch {
    throw new TeeError('CORRUPT_OBJECT', 'phone: hardware identities are malformed', 'API');
  }
}

/** Load the phone's identities, or have the factory issue them on first creation. */
export async function loadOrIssueHardware(dir: string, factory: Factory, name: string, trustedKeyAlgorithm: SignatureAlgorithm): Promise<PhoneHardware> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, FILE);
  try {
    return decodeHardware(new Uint8Array(await readFile(path)), factory);
  } catch (err) {
    if (err instanceof TeeError) throw err;
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new TeeError('GENERIC', 'phone: cannot read the hardware identities', 'API');
  }
  const hardware: PhoneHardware = {
    teeOs: factory.issueTeeOsIdentity(`${name}-tee-os`),
    device: factory.issueDeviceIdentity(`${name}-device`),
    trustedKey: factory.issueTrustedKeyIdentity(`${name}-trusted-key`, trustedKeyAlgorithm),
  };
  const bytes = encodeHardware(hardware);
  try {
    await writeFile(path, bytes, { mode: 0o600, flag: 'wx' });
  } catch {
    throw new TeeError('GENERIC', 'phone: cannot store the hardware identities', 'API');
  } finally {
    zeroize(bytes);
  }
  return hardware;
}
