/**
 * Provider selection. On Node the default is `native` (OpenSSL through node:crypto), which overrides
 * the reference where it is faster; `TEE_SIM_CRYPTO=noble` forces the pure reference everywhere.
 */
import { TeeError } from '../common/errors.js';
import { nobleProvider } from './noble.js';
import { nativeProvider } from './native.js';
import type { CryptoProvider, ProviderName } from './provider.js';

export * from './provider.js';
export { nobleProvider } from './noble.js';
export { nativeProvider } from './native.js';

export const PROVIDERS: Readonly<Record<ProviderName, CryptoProvider>> = {
  noble: nobleProvider,
  native: nativeProvider,
};

export function getProvider(name: ProviderName): CryptoProvider {
  const p = PROVIDERS[name];
  if (!p) throw new TeeError('NOT_SUPPORTED', `crypto provider: unknown name`);
  return p;
}

/** The provider chosen by the environment: TEE_SIM_CRYPTO=noble|native, default native. */
export function defaultProvider(): CryptoProvider {
  const env = process.env.TEE_SIM_CRYPTO;
  if (env === undefined || env === '' || env === 'native') return nativeProvider;
  if (env === 'noble') return nobleProvider;
  throw new TeeError('BAD_PARAMETERS', 'TEE_SIM_CRYPTO must be "noble" or "native"');
}
