/**
 * Packaging the wallet TA: its "code" is the source of ./wallet-ta.ts (what the TEE measures), its
 * manifest names the fixed UUID, and whoever holds a TA-signing key the TEE trusts signs it.
 */
import type { CryptoProvider } from '../../../crypto/provider.js';
import { readTaCode } from '../../ta-code.js';
import { measureTaCode, signTaManifest, type TaManifest, type TaPackage, type TaSigningKey } from '../../ta-manifest.js';
import type { TeeOs } from '../../tee-os.js';
import { WALLET_TA_UUID } from './commands.js';
import { createWalletTa, WALLET_TA_VERSION, type WalletTaOptions } from './wallet-ta.js';

export const WALLET_TA_NAME = 'wallet';

/** The wallet TA's code bytes, as the installer reads and measures them. */
export function walletTaCode(): Promise<Uint8Array> {
  return readTaCode(new URL('./wallet-ta.ts', import.meta.url));
}

/** The unsigned manifest for `code` (sign it with the vendor's TA-signing key). */
export function walletTaManifest(provider: CryptoProvider, code: Uint8Array): Omit<TaManifest, 'signer'> {
  // Not single-instance: each session gets its own instance, so one user's pending confirmation
  // never holds up another client's calls.
  return { uuid: WALLET_TA_UUID, name: WALLET_TA_NAME, version: WALLET_TA_VERSION, measurement: measureTaCode(provider, code), flags: {} };
}

export function signWalletTa(provider: CryptoProvider, signingKey: TaSigningKey, code: Uint8Array): TaPackage {
  return signTaManifest(provider, signingKey, walletTaManifest(provider, code));
}

/** Verify and install a signed wallet TA package into `teeOs`. */
export function installWalletTa(teeOs: TeeOs, pkg: TaPackage, code: Uint8Array, options: WalletTaOptions = {}): TaManifest {
  return teeOs.installTa(pkg, code, createWalletTa(options));
}
