/**
 * Provisioning a phone's trusted key with a CPK identity, as the issuer's enrolment would run it:
 *
 *  1. pin the KMC's public key in the trusted key (out of the REE's reach: the issuer's desk, or the
 *     factory; a key that is already pinned to another KMC refuses),
 *  2. through the Client API protocol (./wallet-client.ts), as the REE wallet would: fetch the
 *     provisioning public key, install the subdomain's public matrix, and import the KMC's issuance
 *     package — the REE only ever carries the encrypted package,
 *  3. set the initial PIN on the trusted UI: `pin` is what the user types there; the PUK the key shows
 *     once is what the user writes down (returned here, TEE side, never through the REE),
 *  4. optionally load the offline balance — a simulator shortcut, done over the TEE OS's own channel,
 *     since no REE command can set a balance.
 */
import { utf8 } from '../common/bytes.js';
import { aint, aobject, astring } from '../common/checks.js';
import { TeeError } from '../common/errors.js';
import { encodeIssuancePackage, encodePublicMatrix, type CpkMode, type KeyManagementCentre } from '../cpk/index.js';
import type { TrustedUiUser } from '../tee/index.js';
import type { Phone } from './phone.js';
import { WalletClient, type BoundaryCapture } from './wallet-client.js';

export interface ProvisionOptions {
  /** The PIN the user enters on the trusted UI (4 to 12 digits). */
  pin: string;
  /** Load this offline balance (minor units) once, at provisioning. */
  offlineBalance?: { amount: number; currency: string };
  /** Sees every byte that crosses the REE/TEE boundary during provisioning. */
  capture?: BoundaryCapture;
}

export interface ProvisionedIdentity {
  subdomainId: string;
  userId: string;
  mode: CpkMode;
  publicKey: Uint8Array;
  /** What the user read off the trusted UI (undefined if a PIN was already set). */
  puk?: string;
}

export async function provisionIdentity(
  phone: Phone, kmc: KeyManagementCentre, subdomainId: string, userId: string, options: ProvisionOptions,
): Promise<ProvisionedIdentity> {
  const pin = astring(options.pin, 'pin', { pattern: /^[0-9]{4,12}$/ });
  if (phone.trustedKeyThread === 'inline') {
    if (!phone.trustedKey.kmcPinned) await phone.trustedKey.pinKmcPublicKey(kmc.kmcPublicKey);
    await phone.trustedKey.whenConnected();
  }
  // A key on its own thread is pinned through createPhone's kmcPublicKey; unpinned, IMPORT_IDENTITY refuses.

  const client = await WalletClient.open(phone.driver, { name: 'provisioning', ...(options.capture ? { capture: options.capture } : {}) });
  let result: ProvisionedIdentity;
  try {
    const { publicKey: recipient } = await client.call('GET_PROVISIONING_KEY', {});
    await client.call('INSTALL_MATRIX', { matrix: encodePublicMatrix(await kmc.publicMatrix(subdomainId)) });
    const pkg = await kmc.issuePrivateKey(subdomainId, userId, { publicKey: recipient });
    const imported = await client.call('IMPORT_IDENTITY', { package: encodeIssuancePackage(pkg) });
    result = { subdomainId, userId, mode: imported.mode, publicKey: imported.publicKey };

    const status = await client.call('PIN_STATUS', {});
    if (!status.set) result.puk = await setPinOnTrustedUi(phone, client, pin);
  } finally {
    await client.close();
  }

  if (options.offlineBalance) {
    const { amount, currency } = options.offlineBalance;
    const channel = phone.teeOs.trustedKey;
    if (!channel) throw new TeeError('COMMUNICATION', 'provisioning: the trusted key is not connected', 'API');
    const info = aobject(await channel.call('tk.identityKey', { subdomainId, userId }), 'identity key');
    await channel.call('tk.setOfflineBalance', { keyId: info.keyId, amount: aint(amount, 'offline balance', 0), currency });
  }
  return result;
}

/** The user at the trusted UI: types the PIN on every PIN screen and reads the PUK message. */
async function setPinOnTrustedUi(phone: Phone, client: WalletClient, pin: string): Promise<string> {
  const previous = phone.trustedUi.user;
  let puk: string | undefined;
  const stop = phone.trustedUi.onScreen((entry) => {
    if (entry.kind === 'message') puk = /PUK is ([0-9]+)/.exec(entry.text)?.[1] ?? puk;
  });
  const user: TrustedUiUser = (prompt) => ({ confirmed: true, ...(prompt.requirePin ? { pin: utf8(pin) } : {}) });
  phone.trustedUi.setUser(user);
  try {
    await client.call('SET_INITIAL_PIN', {});
  } finally {
    stop();
    phone.trustedUi.setUser(previous);
  }
  if (!puk) throw new TeeError('GENERIC', 'provisioning: the PUK was not shown', 'API');
  return puk;
}
