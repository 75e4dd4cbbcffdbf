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
import { resultCapacity, SMALL_RESULT_BYTES, WALLET_CMD, WALLET_TA_UUID, type WalletArgs, type WalletCommand, type WalletResults } from '../../tee/tas/wallet/index.js';

/**
 * Result buffers of the common size, reused: most commands offer SMALL_RESULT_BYTES, and a fresh
 * zeroed 4 KiB buffer per call was a measurable part of a signature's round trip. A buffer goes back
 * only after its result is decoded (decoding copies what it keeps), with the bytes it held cleared.
 */
const spareResultBuffers: Uint8Array[] = [];
const MAX_SPARE_RESULT_BUFFERS = 64;

function resultBuffer(capacity: number): Uint8Array {
  return (capacity === SMALL_RESULT_BYTES && spareResultBuffers.pop()) || new Uint8Array(capacity);
}

function releaseResultBuffer(buffer: Uint8Array, used: number): void {
  if (buffer.length !== SMALL_RESULT_BYTES || spareResultBuffers.length >= MAX_SPARE_RESULT_BUFFERS) return;
  buffer.fill(0, 0, Math.min(used, buffer.length));
  spareResultBuffers.push(buffer);
}

/** One wallet-TA command on an open session, in the TA's param convention (see its commands.ts). */
export async function invokeWalletCommand<C extends WalletCommand>(
  session: TeecSession,
  command: C,
  args: WalletArgs[C],
  handle?: Uint8Array,
): Promise<WalletResults[C]> {
  const output = resultBuffer(resultCapacity(command, args));
  const params: Param[] = [
    { type: 'memref_input', buffer: encode(args) },
    { type: 'memref_output', buffer: output },
  ];
  if (handle) params.push({ type: 'handle_input', handle });
  let used = output.length; // until the call says how much it wrote, clear it all
  try {
    await invokeCommand(session, WALLET_CMD[command], params);
    const result = memrefOutput(params[1]!);
    used = result.length;
    // Field shapes are checked by callers where it matters; here: an object, or a typed error.
    return aobject(decode(result), `${command} result`) as WalletResults[C];
  } finally {
    releaseResultBuffer(output, used);
  }
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
