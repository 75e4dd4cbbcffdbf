/**
 * A minimal speaker of the TEE Client API wire protocol for the device's own provisioning tools.
 * Layering keeps src/device from importing the REE's Client API (src/ree/client-api), so this speaks
 * the same bytes through the driver directly: exactly what an REE app would send, nothing more, and
 * every byte passes the optional capture hook, as the Client API's does.
 */
import { aobject } from '../common/checks.js';
import { decode, encode } from '../common/codec.js';
import { TeeError } from '../common/errors.js';
import { encodeTeeRequest, parseTeeResponse, type TeeDriver, type TeeOp, type TeeRequest, type WireOutParam, type WireParam } from '../tee/index.js';
import { resultCapacity, WALLET_CMD, WALLET_TA_UUID, type WalletArgs, type WalletCommand, type WalletResults } from '../tee/tas/wallet/index.js';

export type BoundaryCapture = (direction: 'ree->tee' | 'tee->ree', bytes: Uint8Array) => void;

async function exchange(driver: TeeDriver, capture: BoundaryCapture | undefined, request: TeeRequest) {
  const bytes = encodeTeeRequest(request);
  capture?.('ree->tee', bytes);
  const reply = await driver.submit(bytes);
  capture?.('tee->ree', reply);
  return parseTeeResponse(reply, request.op as TeeOp);
}

export class WalletClient {
  private constructor(
    private readonly driver: TeeDriver,
    private readonly capture: BoundaryCapture | undefined,
    private readonly context: Uint8Array,
    private readonly session: Uint8Array,
  ) {}

  /** Initialize a context and open a public-login session on the wallet TA. */
  static async open(driver: TeeDriver, options: { capture?: BoundaryCapture; name?: string } = {}): Promise<WalletClient> {
    const ctx = (await exchange(driver, options.capture, { op: 'initializeContext', name: options.name ?? 'device' })) as { context: Uint8Array };
    try {
      const s = (await exchange(driver, options.capture, {
        op: 'openSession',
        context: ctx.context,
        uuid: WALLET_TA_UUID,
        login: { login: 'public', identity: '' },
        params: [],
      })) as { session: Uint8Array };
      return new WalletClient(driver, options.capture, ctx.context, s.session);
    } catch (err) {
      await exchange(driver, options.capture, { op: 'finalizeContext', context: ctx.context }).catch(() => undefined);
      throw err;
    }
  }

  async call<C extends WalletCommand>(command: C, args: WalletArgs[C], handle?: Uint8Array): Promise<WalletResults[C]> {
    const params: WireParam[] = [
      { type: 'memref_input', buffer: encode(args) },
      { type: 'memref_output', size: resultCapacity(command, args) },
    ];
    if (handle) params.push({ type: 'handle_input', handle });
    const res = (await exchange(this.driver, this.capture, {
      op: 'invokeCommand',
      context: this.context,
      session: this.session,
      commandId: WALLET_CMD[command],
      params,
    })) as { params: WireOutParam[] };
    const out = res.params[1];
    if (!out || !('buffer' in out)) throw new TeeError('COMMUNICATION', `${command}: no result`, 'COMMS');
    return aobject(decode(out.buffer), `${command} result`) as WalletResults[C];
  }

  /** Close the session and finalize the context (every handle dies with them). */
  async close(): Promise<void> {
    await exchange(this.driver, this.capture, { op: 'closeSession', context: this.context, session: this.session }).catch(() => undefined);
    await exchange(this.driver, this.capture, { op: 'finalizeContext', context: this.context });
  }
}
