/**
 * The wallet app's session with the wallet TA through the TEE Client API: one context, one
 * public-login session, msgpack arguments in param0 and the result out of param1 (see the TA's
 * commands.ts). The REE holds handles only; every byte passes the optional capture hook.
 */
import { aobject } from '../../common/checks.js';
import { decode, encode } from '../../common/codec.js';
import type { TraceSink } from '../../common/trace.js';
import {
  closeSession, finalizeContext, initializeContext, invokeCommand, memrefOutput, openSession,
  type CaptureHook, type Param, type TeecContext, type TeecSession, type TeeDriver,
} from '../client-api/index.js';
import { resultCapacity, WALLET_CMD, WALLET_TA_UUID, type WalletArgs, type WalletCommand, type WalletResults } from '../../tee/tas/wallet/index.js';

/** One wallet-TA command on an open session, in the TA's param convention (see its commands.ts). */
export async function invokeWalletCommand<C extends WalletCommand>(
  session: TeecSession,
  command: C,
  args: WalletArgs[C],
  handle?: Uint8Array,
): Promise<WalletResults[C]> {
  const params: Param[] = [
    { type: 'memref_input', buffer: encode(args) },
    { type: 'memref_output', buffer: new Uint8Array(resultCapacity(command, args)) },
  ];
  if (handle) params.push({ type: 'handle_input', handle });
  await invokeCommand(session, WALLET_CMD[command], params);
  // Field shapes are checked by callers where it matters; here: an object, or a typed error.
  return aobject(decode(memrefOutput(params[1]!)), `${command} result`) as WalletResults[C];
}

export class WalletTaSession {
  private constructor(
    private readonly context: TeecContext,
    private readonly session: TeecSession,
  ) {}

  static async open(driver: TeeDriver, options: { name: string; capture?: CaptureHook; trace?: TraceSink }): Promise<WalletTaSession> {
    const context = await initializeContext(driver, {
      name: options.name,
      ...(options.capture ? { capture: options.capture } : {}),
      ...(options.trace ? { trace: options.trace } : {}),
    });
    try {
      const session = await openSession(context, WALLET_TA_UUID, { login: 'public' });
      return new WalletTaSession(context, session);
    } catch (err) {
      await finalizeContext(context).catch(() => undefined);
      throw err;
    }
  }

  call<C extends WalletCommand>(command: C, args: WalletArgs[C], handle?: Uint8Array): Promise<WalletResults[C]> {
    return invokeWalletCommand(this.session, command, args, handle);
  }

  async close(): Promise<void> {
    await closeSession(this.session).catch(() => undefined);
    await finalizeContext(this.context).catch(() => undefined);
  }
}
