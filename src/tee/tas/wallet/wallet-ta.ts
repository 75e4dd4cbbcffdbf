/**
 * The wallet TA: the REE's way to the trusted key. It turns Client API commands into `tk.*` calls
 * over the TEE OS's secure channel and gives the REE handles instead of the trusted key's key ids,
 * so the REE never learns an id, let alone a key. Handles live in the session's own table: another
 * session, a closed handle or a forged one finds nothing (ITEM_NOT_FOUND, the same for every miss).
 *
 * Every command first checks its parameter types (BAD_PARAMETERS), then decodes param0 with the
 * capped decoder and validates each argument before calling the trusted key, which validates again.
 * Keys generated without a label are transient: the TA deletes them when their handle or session
 * closes (and the trusted key forgets them on restart anyway). A labelled key is persistent and
 * recorded in the TA's storage under the client's login identity, so OPEN_KEY finds it later.
 */
import { toHex, utf8 } from '../../../common/bytes.js';
import { aarray, abytes, aint, aobject, aoneOf, astring } from '../../../common/checks.js';
import { decode, encode } from '../../../common/codec.js';
import { TeeError } from '../../../common/errors.js';
import { shortHex, traceFields, type TraceSink } from '../../../common/trace.js';
import type { SecureChannel } from '../../../channel/index.js';
import { expectParamTypes, type HandleParam, type MemrefParam, type Params } from '../../params.js';
import type { TaSession, TrustedApplication } from '../../ta.js';
import { WALLET_CMD, WALLET_HANDLE_PARAM, type WalletCommand } from './commands.js';

export const WALLET_TA_VERSION = '1.0.0';
/** Calls that wait for the user on the trusted UI get this long. */
const USER_CALL_TIMEOUT_MS = 10 * 60 * 1000;
const ID_PATTERN = /^[A-Za-z0-9._:-]{1,64}$/;
const LABEL_PATTERN = /^[A-Za-z0-9._:-]{1,64}$/;
const MAX_ARGS_BYTES = 1024 * 1024 + 1024;

/** What a handle stands for: a key id inside the trusted key, never shown to the REE. */
export interface WalletHandle {
  keyId: string;
  /** Delete the key in the trusted key when the handle goes. */
  transient: boolean;
  label?: string;
}

export interface WalletTaOptions {
  trace?: TraceSink;
}

type Args = Record<string, unknown>;
type Session = TaSession<WalletHandle>;
interface Call {
  session: Session;
  args: Args;
  handle: Uint8Array | undefined;
}

const COMMAND_BY_ID = new Map<number, WalletCommand>(Object.entries(WALLET_CMD).map(([name, id]) => [id, name as WalletCommand]));

const USER_COMMANDS: ReadonlySet<WalletCommand> = new Set([
  'SIGN_ONLINE_PAYMENT', 'PAY_OFFLINE', 'CHANGE_PIN', 'UNBLOCK_PIN', 'SET_INITIAL_PIN',
]);

function trustedKey(session: Session): SecureChannel {
  const channel = session.services.trustedKey;
  if (!channel || channel.closed) throw new TeeError('COMMUNICATION', 'wallet: the trusted key is not connected', 'TRUSTED_APP');
  return channel;
}

/** One `tk.*` call over the TEE OS's channel to the trusted key. */
type TkCall = (session: Session, method: string, params: Args, user?: boolean) => Promise<Args>;

const callTrustedKey: TkCall = async (session, method, params, user = false) => {
  const result = await trustedKey(session).call(method, params, user ? { timeoutMs: USER_CALL_TIMEOUT_MS } : {});
  // The trusted key is authenticated, but a result still gets a shape check before use.
  return aobject(result, `${method} result`);
};

/**
 * The same call, traced: the plaintext of the request and of its answer as the TEE OS sees them on
 * its side of the channel (what the REE carries between them is ciphertext). Only a traced TA pays.
 */
function tracedCall(trace: TraceSink): TkCall {
  return async (session, method, params, user) => {
    trace({ lane: 'TEE', actor: 'wallet-ta', text: `calls ${method} on the trusted key`, detail: traceFields(params) });
    let result: Args;
    try {
      result = await callTrustedKey(session, method, params, user);
    } catch (err) {
      if (err instanceof TeeError) trace({ lane: 'TEE', actor: 'wallet-ta', text: `${method} answered with an error: ${err.code}`, detail: { code: err.code, message: err.message } });
      throw err;
    }
    trace({ lane: 'TEE', actor: 'wallet-ta', text: `${method} answered`, detail: traceFields(result) });
    return result;
  };
}

const bytes = (v: unknown, title: string, max = 1024 * 1024) => abytes(v, title, { max });
const optional = <T>(v: unknown, check: (v: unknown) => T): T | undefined => (v === undefined || v === null ? undefined : check(v));
const id = (v: unknown, title: string) => astring(v, title, { min: 1, max: 64, pattern: ID_PATTERN });

/** `params` plus the caller's optional `display` text (what the REE app would show), checked. */
function withDisplay(params: Args, args: Args): Args {
  const display = optional(args.display, (v) => astring(v, 'display', { min: 1, max: 512 }));
  return display === undefined ? params : { ...params, display };
}

function handleValue(call: Call): WalletHandle {
  return call.session.handles.get(call.handle!);
}

function labelObject(session: Session, label: string): string {
  // One namespace per client identity; hashed so any identity and label fit an object id.
  const digest = session.provider.sha256(utf8(`${session.client.login}\u0000${session.client.identity}\u0000${label}`));
  return `key:${toHex(digest).slice(0, 48)}`;
}

/** Turn a trusted-key KeyInfo into a handle plus the public facts the REE may see. */
function issueHandle(session: Session, info: Args, transient: boolean, label?: string): Args {
  const keyId = astring(info.keyId, 'keyId', { pattern: /^[0-9a-f]{32}$/ });
  const value: WalletHandle = { keyId, transient };
  if (label) value.label = label;
  const handle = session.handles.add(value);
  const out: Args = { handle, algorithm: info.algorithm, usage: info.usage };
  if (info.publicKey !== undefined) out.publicKey = info.publicKey;
  if (info.identity !== undefined) out.identity = info.identity;
  return out;
}

async function dropKey(session: Session, value: WalletHandle): Promise<void> {
  if (!value.transient) return;
  const channel = session.services.trustedKey;
  if (!channel || channel.closed) return; // the trusted key forgets transient keys on restart
  await channel.call('tk.deleteKey', { keyId: value.keyId }).catch(() => undefined);
}

/** The command table, calling the trusted key through `tk`. */
function createCommands(tk: TkCall): Record<WalletCommand, (c: Call) => Promise<Args>> {
  return {
    async GET_INFO({ session }) {
      const channel = session.services.trustedKey;
      const connected = channel !== undefined && !channel.closed;
      const info = connected ? await tk(session, 'tk.info', {}) : { identities: [], subdomains: [], kmcPinned: false, pin: {} };
      return {
        taVersion: WALLET_TA_VERSION,
        trustedKey: connected ? { connected, subject: channel.peer.subject, publicKey: channel.peer.publicKey } : { connected },
        ...info,
      };
    },
    async GENERATE_KEY({ session, args }) {
      const label = optional(args.label, (v) => astring(v, 'label', { pattern: LABEL_PATTERN }));
      const algorithm = aoneOf(args.algorithm, 'algorithm', ['p256', 'ed25519', 'x25519', 'chacha20-poly1305', 'aes-256-gcm'] as const);
      const usage = aoneOf(args.usage, 'usage', ['sign', 'agree', 'encrypt'] as const);
      if (label && (await session.storage.has(labelObject(session, label)))) {
        throw new TeeError('ACCESS_CONFLICT', `wallet: a key labelled ${label} already exists`, 'TRUSTED_APP');
      }
      const info = await tk(session, 'tk.generateKey', { algorithm, usage, persistent: label !== undefined });
      if (label) {
        try {
          await session.storage.put(labelObject(session, label), utf8(String(info.keyId)), { exclusive: true });
        } catch (err) {
          // Another session took the label meanwhile: give the key's slot back rather than leave a
          // stored key no label names (racing sessions could otherwise fill the key's slots).
          await tk(session, 'tk.deleteKey', { keyId: info.keyId }).catch(() => undefined);
          throw err;
        }
      }
      return issueHandle(session, info, label === undefined, label);
    },
    async OPEN_KEY({ session, args }) {
      const label = astring(args.label, 'label', { pattern: LABEL_PATTERN });
      const object = labelObject(session, label);
      if (!(await session.storage.has(object))) throw new TeeError('ITEM_NOT_FOUND', `wallet: no key labelled ${label}`, 'TRUSTED_APP');
      const keyId = new TextDecoder().decode(await session.storage.get(object));
      return issueHandle(session, await tk(session, 'tk.keyInfo', { keyId }), false, label);
    },
    async OPEN_IDENTITY({ session, args }) {
      const info = await tk(session, 'tk.identityKey', { subdomainId: id(args.subdomainId, 'subdomainId'), userId: id(args.userId, 'userId') });
      return issueHandle(session, info, false);
    },
    async GET_PUBLIC_KEY(c) {
      return { publicKey: (await tk(c.session, 'tk.publicKey', { keyId: handleValue(c).keyId })).publicKey };
    },
    async SIGN(c) {
      return tk(c.session, 'tk.sign', { keyId: handleValue(c).keyId, message: bytes(c.args.message, 'message') });
    },
    async VERIFY(c) {
      const params: Args = { message: bytes(c.args.message, 'message'), signature: bytes(c.args.signature, 'signature', 128) };
      if (c.handle) params.keyId = handleValue(c).keyId;
      else {
        params.algorithm = aoneOf(c.args.algorithm, 'algorithm', ['p256', 'ed25519'] as const);
        params.publicKey = bytes(c.args.publicKey, 'publicKey', 33);
      }
      return tk(c.session, 'tk.verify', params);
    },
    async DERIVE_SHARED_KEY(c) {
      const params: Args = { keyId: handleValue(c).keyId, peerPublicKey: bytes(c.args.peerPublicKey, 'peerPublicKey', 33), persistent: false };
      const salt = optional(c.args.salt, (v) => bytes(v, 'salt', 256));
      const info = optional(c.args.info, (v) => bytes(v, 'info', 1024));
      const aead = optional(c.args.aead, (v) => aoneOf(v, 'aead', ['chacha20-poly1305', 'aes-256-gcm'] as const));
      if (salt) params.salt = salt;
      if (info) params.info = info;
      if (aead) params.aead = aead;
      return issueHandle(c.session, await tk(c.session, 'tk.deriveSharedKey', params), true);
    },
    async ENCRYPT(c) {
      const params: Args = { keyId: handleValue(c).keyId, plaintext: bytes(c.args.plaintext, 'plaintext') };
      const aad = optional(c.args.aad, (v) => bytes(v, 'aad', 65536));
      if (aad) params.aad = aad;
      return tk(c.session, 'tk.encrypt', params);
    },
    async DECRYPT(c) {
      const params: Args = { keyId: handleValue(c).keyId, ciphertext: bytes(c.args.ciphertext, 'ciphertext') };
      const aad = optional(c.args.aad, (v) => bytes(v, 'aad', 65536));
      if (aad) params.aad = aad;
      return tk(c.session, 'tk.decrypt', params);
    },
    async HASH({ session, args }) {
      return tk(session, 'tk.hash', { data: bytes(args.data, 'data') });
    },
    async RANDOM({ session, args }) {
      return tk(session, 'tk.random', { length: aint(args.length, 'length', 1, 4096) });
    },
    async CLOSE_HANDLE(c) {
      await dropKey(c.session, c.session.handles.remove(c.handle!));
      return {};
    },
    async DELETE_KEY(c) {
      const value = handleValue(c);
      await tk(c.session, 'tk.deleteKey', { keyId: value.keyId });
      c.session.handles.remove(c.handle!);
      if (value.label) await c.session.storage.delete(labelObject(c.session, value.label)).catch(() => undefined);
      return {};
    },
    async SIGN_ONLINE_PAYMENT(c) {
      const params = withDisplay({ keyId: handleValue(c).keyId, request: bytes(c.args.request, 'request', 4096) }, c.args);
      return tk(c.session, 'tk.signOnlinePayment', params, true);
    },
    async SIGN_OFFLINE_OFFER(c) {
      const { txId, amount, currency, expiresAt } = c.args;
      return tk(c.session, 'tk.signOfflineOffer', {
        keyId: handleValue(c).keyId,
        txId: id(txId, 'txId'),
        amount: aint(amount, 'amount', 1),
        currency: astring(currency, 'currency', { min: 3, max: 3, pattern: /^[A-Z]{3}$/ }),
        expiresAt: aint(expiresAt, 'expiresAt'),
      });
    },
    async PAY_OFFLINE(c) {
      const params = withDisplay({ keyId: handleValue(c).keyId, offer: bytes(c.args.offer, 'offer', 8192) }, c.args);
      return tk(c.session, 'tk.payOffline', params, true);
    },
    async ACCEPT_OFFLINE_PAYMENT(c) {
      return tk(c.session, 'tk.acceptOfflinePayment', { keyId: handleValue(c).keyId, payment: bytes(c.args.payment, 'payment', 8192) });
    },
    async OFFLINE_STATE(c) {
      const state = await tk(c.session, 'tk.offlineState', { keyId: handleValue(c).keyId });
      aarray(state.spent, 'spent', 1_000_000);
      aarray(state.accepted, 'accepted', 1_000_000);
      return state;
    },
    async IMPORT_IDENTITY({ session, args }) {
      const info = await tk(session, 'tk.importIdentity', { package: bytes(args.package, 'package', 4096) });
      const identity = aobject(info.identity, 'identity');
      return { subdomainId: identity.subdomainId, userId: identity.userId, mode: identity.mode, publicKey: info.publicKey };
    },
    async INSTALL_MATRIX({ session, args }) {
      return tk(session, 'tk.installMatrix', { matrix: bytes(args.matrix, 'matrix') });
    },
    async GET_PROVISIONING_KEY({ session }) {
      return tk(session, 'tk.provisioningKey', {});
    },
    async PIN_STATUS({ session }) {
      return tk(session, 'tk.pinStatus', {});
    },
    async CHANGE_PIN({ session }) {
      return tk(session, 'tk.changePin', {}, true);
    },
    async UNBLOCK_PIN({ session }) {
      return tk(session, 'tk.unblockPin', {}, true);
    },
    async SET_INITIAL_PIN({ session }) {
      return tk(session, 'tk.setInitialPin', {}, true);
    },
  };
}

/** Check the parameter types for `name`; returns the handle from param2, if the command takes one. */
function checkParams(name: WalletCommand, params: Params): Uint8Array | undefined {
  const mode = WALLET_HANDLE_PARAM[name];
  const withHandle = mode === 'required' || (mode === 'optional' && params[2]?.type === 'handle_input');
  expectParamTypes(params, withHandle ? ['memref_input', 'memref_output', 'handle_input'] : ['memref_input', 'memref_output']);
  return withHandle ? (params[2] as HandleParam).handle : undefined;
}

function decodeArgs(param: MemrefParam): Args {
  const raw = param.buffer.subarray(0, param.size ?? param.buffer.length);
  return aobject(decode(raw, MAX_ARGS_BYTES, 'TRUSTED_APP'), 'arguments');
}

export function createWalletTa(options: WalletTaOptions = {}): TrustedApplication<WalletHandle> {
  const trace = options.trace;
  const commands = createCommands(trace ? tracedCall(trace) : callTrustedKey);
  return {
    async onInvokeCommand(session, commandId, params) {
      const name = COMMAND_BY_ID.get(commandId);
      if (!name) throw new TeeError('NOT_SUPPORTED', `wallet: unknown command ${commandId}`, 'TRUSTED_APP');
      const handle = checkParams(name, params);
      const args = decodeArgs(params[0] as MemrefParam);
      if (trace) {
        // The TA sees the arguments in plaintext, and the handle as the REE passed it (it maps it to a key id).
        const detail = { ...(handle ? { handle: shortHex(handle) } : {}), ...traceFields(args), waitsForUser: USER_COMMANDS.has(name) };
        trace({ lane: 'TEE', actor: 'wallet-ta', text: `command ${name}`, detail });
      }
      let result: Args;
      try {
        result = await commands[name]({ session, args, handle });
      } catch (err) {
        // What the TA returns to the REE instead of a result: an error code and its message.
        if (trace && err instanceof TeeError) trace({ lane: 'TEE', actor: 'wallet-ta', text: `command ${name} failed: ${err.code}`, detail: { code: err.code, origin: err.origin } });
        throw err;
      }
      const out = encode(result);
      const output = params[1] as MemrefParam;
      output.buffer = out;
      output.size = out.length;
      trace?.({ lane: 'TEE', actor: 'wallet-ta', text: `command ${name} done`, detail: { resultBytes: out.length } });
    },
    async onCloseSession(session) {
      const values: WalletHandle[] = [];
      session.handles.clear((v) => values.push(v));
      for (const v of values) await dropKey(session, v);
    },
  };
}
