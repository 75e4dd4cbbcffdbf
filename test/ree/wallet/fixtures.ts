/** A demo world (in-process backend on an ephemeral loopback port) for the wallet tests, and error helpers. */
import { expect } from 'vitest';
import { TeeError } from '../../../src/common/errors.js';
import { Trace } from '../../../src/common/trace.js';
import { PROVIDERS } from '../../../src/crypto/index.js';
import type { CryptoProvider } from '../../../src/crypto/provider.js';
import { createDemoWorld, type DemoWorld, type DemoWorldOptions } from '../../../src/ree/demo/index.js';

export async function makeDemoWorld(extra: Partial<DemoWorldOptions> & { provider?: CryptoProvider } = {}): Promise<{ world: DemoWorld; trace: Trace }> {
  const trace = new Trace();
  const world = await createDemoWorld({ trace: trace.sink, backend: 'in-process', provider: PROVIDERS.native, matrixSize: 8, ...extra });
  return { world, trace };
}

export async function failure(p: Promise<unknown> | (() => unknown)): Promise<TeeError> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    expect(err).toBeInstanceOf(TeeError);
    return err as TeeError;
  }
  throw new Error('expected a TeeError');
}
