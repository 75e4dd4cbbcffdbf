/** Attacks through the Client API and on the TEE OS: forged and stale handles, malformed calls, rogue TAs, restarts. */
import { utf8 } from '../../../common/bytes.js';
import { encode } from '../../../common/codec.js';
import { createRoot } from '../../../channel/index.js';
import { encodeTeeRequest, parseTeeResponse, signTaManifest, type TaManifest } from '../../../tee/index.js';
import { createWalletTa, walletTaCode, walletTaManifest, WALLET_CMD } from '../../../tee/tas/wallet/index.js';
import { expectRefused, outcome, type Scenario } from '../scenario.js';

/** Keys the slot-exhaustion scenario asks for at most: far above any sensible bound on a key's slots. */
const KEY_FLOOD_ATTEMPTS = 2048;

export const teeScenarios: Scenario[] = [
  {
    name: 'forged-handle',
    attack: 'SIGN with a random 128-bit handle no session was given',
    expectedDefence: 'ITEM_NOT_FOUND (handles are looked up, never trusted)',
    run: async (ctx) => {
      const adv = await ctx.adv();
      const w = await adv.wallet('alice');
      return expectRefused(() => w.call('SIGN', { message: utf8('forged') }, adv.forgeHandle()), ['ITEM_NOT_FOUND', 'BAD_PARAMETERS'], 'forged handle');
    },
  },
  {
    name: 'cross-session-handle',
    attack: 'open a key in one session and use its handle from another session',
    expectedDefence: 'ITEM_NOT_FOUND: handles are bound to the session that received them',
    run: async (ctx) => {
      const adv = await ctx.adv();
      const a = await adv.wallet('alice');
      const b = await adv.wallet('alice');
      const { handle } = await a.call('GENERATE_KEY', { algorithm: 'p256', usage: 'sign' });
      return expectRefused(() => b.call('SIGN', { message: utf8('x') }, handle), ['ITEM_NOT_FOUND', 'ACCESS_DENIED'], 'handle of session A in session B');
    },
  },
  {
    name: 'use-after-close',
    attack: 'use a handle after CLOSE_HANDLE, and a session after closeSession',
    expectedDefence: 'ITEM_NOT_FOUND / BAD_STATE: a closed handle or session is dead',
    run: async (ctx) => {
      const adv = await ctx.adv();
      const w = await adv.wallet('alice');
      const { handle } = await w.call('GENERATE_KEY', { algorithm: 'ed25519', usage: 'sign' });
      await w.call('CLOSE_HANDLE', {}, handle);
      const h = await outcome(() => w.call('SIGN', { message: utf8('x') }, handle));
      // Send the closed session's id raw (the Client API object itself would refuse locally).
      const w2 = await adv.wallet('alice');
      await w2.close();
      const raw = await adv.submitRaw('alice', encodeTeeRequest({ op: 'invokeCommand', context: w2.context.id, session: w2.session.id, commandId: WALLET_CMD.PIN_STATUS, params: [] }));
      const s = await outcome(async () => parseTeeResponse(raw, 'invokeCommand'));
      return { observed: `closed handle: ${h.code}; closed session (raw bytes): ${s.code} (${s.message.slice(0, 60)})`, defended: h.code === 'ITEM_NOT_FOUND' && s.code === 'ITEM_NOT_FOUND' };
    },
  },
  {
    name: 'malformed-parameters',
    attack: 'invoke wallet commands with wrong parameter types, oversized and garbage memrefs, unknown command ids',
    expectedDefence: 'BAD_PARAMETERS / NOT_SUPPORTED for each, and the session keeps working',
    run: async (ctx) => {
      const adv = await ctx.adv();
      const w = await adv.wallet('alice');
      const codes: string[] = [];
      const attempts = [
        () => w.invoke(WALLET_CMD.SIGN, [{ type: 'value_input', a: 1, b: 2 }]),
        () => w.invoke(WALLET_CMD.HASH, [{ type: 'memref_input', buffer: utf8('not msgpack \xc1') }, { type: 'memref_output', buffer: new Uint8Array(16) }]),
        () => w.invoke(WALLET_CMD.RANDOM, [{ type: 'memref_input', buffer: encode({ length: 1e9 }) }, { type: 'memref_output', buffer: new Uint8Array(4096) }]),
        () => w.invoke(0xdead, []),
        () => w.invoke(WALLET_CMD.SIGN, [{ type: 'memref_input', buffer: encode({ message: 5 }) }, { type: 'memref_output', buffer: new Uint8Array(4096) }, { type: 'handle_input', handle: new Uint8Array(3) }]),
      ];
      for (const a of attempts) codes.push((await outcome(a)).code);
      const still = await outcome(() => w.call('PIN_STATUS', {}));
      return { observed: `${codes.join(', ')}; session afterwards: ${still.code}`, defended: codes.every((c) => c !== 'no error' && c !== 'non-TeeError') && still.code === 'no error' };
    },
  },
  {
    name: 'rogue-ta',
    attack: 'install an unsigned TA package, one signed by a rogue key, and the real package with altered code',
    expectedDefence: 'SECURITY for each: the TEE OS loads only TAs signed by the TA signer whose code matches the measurement',
    run: async (ctx) => {
      const adv = await ctx.adv();
      const tee = adv.phone('alice').teeOs;
      const code = await walletTaCode();
      const manifest = { ...walletTaManifest(adv.provider, code), uuid: '0badc0de-0000-4000-8000-000000000001' };
      const impl = createWalletTa({});
      const rogue = createRoot(adv.provider, 'ta-signer', 'ed25519');
      const real = adv.factory.signTa(manifest as Omit<TaManifest, 'signer'>);
      const altered = new Uint8Array(code);
      altered[altered.length >> 1] ^= 1;
      const codes: string[] = [];
      codes.push((await outcome(async () => tee.installTa({ manifest } as never, code, impl))).code);
      codes.push((await outcome(async () => tee.installTa(signTaManifest(adv.provider, { ...adv.factory.taSigner, secretKey: rogue.secretKey }, manifest), code, impl))).code);
      codes.push((await outcome(async () => tee.installTa(real, altered, impl))).code);
      return { observed: `unsigned ${codes[0]}, rogue signer ${codes[1]}, altered code ${codes[2]}`, defended: codes.every((c) => c === 'SECURITY') };
    },
  },
  {
    name: 'key-slot-exhaustion',
    attack: 'generate labelled (persistent) keys without end, to fill the trusted key\'s storage',
    expectedDefence: 'the trusted key holds a bounded number of keys and refuses more (OUT_OF_MEMORY); the keys it holds still work',
    run: async (ctx) => {
      const adv = await ctx.fresh();
      const w = await adv.wallet('alice');
      const first = await w.call('GENERATE_KEY', { algorithm: 'ed25519', usage: 'sign', label: 'slot-0' });
      let made = 1;
      const refusal = await outcome(async () => {
        for (; made < KEY_FLOOD_ATTEMPTS; made++) await w.call('GENERATE_KEY', { algorithm: 'ed25519', usage: 'sign', label: `slot-${made}` });
      });
      const signs = await outcome(() => w.call('SIGN', { message: utf8('after the flood') }, first.handle));
      const identity = await outcome(async () => w.call('GET_PUBLIC_KEY', {}, await w.identity('alice')));
      return {
        observed: `${made} keys made, then ${refusal.code}; the first key signs -> ${signs.code}; identity key -> ${identity.code}`,
        defended: refusal.code === 'OUT_OF_MEMORY' && made < KEY_FLOOD_ATTEMPTS && signs.code === 'no error' && identity.code === 'no error',
      };
    },
  },
  {
    name: 'tee-restart-handles',
    attack: 'power-cycle the phone (TEE OS recreated) and reuse a handle from before the restart',
    expectedDefence: 'ITEM_NOT_FOUND: handles do not survive the TEE OS; the wallet works again after reopening',
    run: async (ctx) => {
      const adv = await ctx.fresh();
      const w = await adv.wallet('alice');
      const handle = await w.identity('alice');
      await adv.restartPhone('alice');
      const w2 = await adv.wallet('alice');
      const stale = await outcome(() => w2.call('GET_PUBLIC_KEY', {}, handle));
      const fresh = await outcome(async () => w2.call('GET_PUBLIC_KEY', {}, await w2.identity('alice')));
      return { observed: `stale handle ${stale.code}; fresh handle ${fresh.code}`, defended: stale.code === 'ITEM_NOT_FOUND' && fresh.code === 'no error' };
    },
  },
];
