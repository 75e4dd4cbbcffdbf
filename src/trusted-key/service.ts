/**
 * The trusted key's command table: the `tk.*` methods the TEE OS calls over the secure channel,
 * each a thin, checked adapter onto one module. The TEE OS is authenticated, but what it forwards
 * comes from the REE, so every parameter is validated here before any module sees it, and every
 * failure leaves as a TeeError with origin TRUSTED_KEY whose message holds no secret.
 *
 *   method                   params                                              result
 *   tk.info                  {}                                                  {identities, subdomains, kmcPinned, pin}
 *   tk.generateKey           {algorithm, usage, persistent?}                     KeyInfo
 *   tk.keyInfo               {keyId}                                             KeyInfo
 *   tk.publicKey             {keyId}                                             {publicKey}
 *   tk.sign                  {keyId, message}                                    {signature}
 *   tk.verify                {keyId, message, signature} | {algorithm, publicKey, message, signature}  {valid}
 *   tk.deriveSharedKey       {keyId, peerPublicKey, salt?, info?, aead?, persistent?}  KeyInfo
 *   tk.encrypt               {keyId, plaintext, aad?}                            {ciphertext}
 *   tk.decrypt               {keyId, ciphertext, aad?}                           {plaintext}
 *   tk.hash                  {data}                                              {digest}
 *   tk.random                {length}                                            {bytes}
 *   tk.deleteKey             {keyId}                                             {}
 *   tk.identityKey           {subdomainId, userId}                               KeyInfo
 *   tk.signOnlinePayment     {keyId, request, display?}                          {signed}
 *   tk.signOfflineOffer      {keyId, txId, amount, currency, expiresAt}          {signed}
 *   tk.payOffline            {keyId, offer, display?}                            {signed}
 *   tk.acceptOfflinePayment  {keyId, payment}                                    {txId, amount, currency, payer, counter}
 *   tk.offlineState          {keyId}                                             OfflineState
 *   tk.setOfflineBalance     {keyId, amount, currency}   (provisioning only, once) {}
 *   tk.importIdentity        {package}                                           KeyInfo
 *   tk.installMatrix         {matrix}                                            {subdomainId, mode, rows, cols}
 *   tk.provisioningKey       {}                                                  {publicKey}
 *   tk.pinStatus / tk.setInitialPin / tk.changePin / tk.unblockPin   {}          PinStatus
 */
import { abool, abytes, aint, aobject, aoneOf, astring } from '../common/checks.js';
import { TeeError } from '../common/errors.js';
import { ID_PATTERN } from '../cpk/index.js';
import type { CommandOrigin, CommunicationAgent } from './communication-agent/index.js';
import type { PaymentService } from './payments.js';
import { KEY_ID_PATTERN, TK_KEY_ALGORITHMS, GENERATED_USAGES, type KeyInfo, type TrustedComputing } from './trusted-computing/index.js';
import type { TrustedInteraction } from './trusted-interaction/index.js';

export interface ServiceModules {
  agent: CommunicationAgent;
  computing: TrustedComputing;
  interaction: TrustedInteraction;
  payments: PaymentService;
}

type Params = Record<string, unknown>;
/** `origin`: the way back over the channel the command came on (what asks the user must use it). */
type Handler = (p: Params, origin: CommandOrigin) => Promise<unknown> | unknown;

const MAX_BYTES = 1024 * 1024;

const keyIdOf = (p: Params) => {
  // An ill-formed id is answered like an unknown one.
  if (typeof p.keyId !== 'string' || !KEY_ID_PATTERN.test(p.keyId)) throw new TeeError('ITEM_NOT_FOUND', 'trusted computing: no such key', 'TRUSTED_KEY');
  return p.keyId;
};
const bytesOf = (v: unknown, title: string, max = MAX_BYTES) => abytes(v, title, { max });
const optBytes = (v: unknown, title: string, max = MAX_BYTES) => (v === undefined || v === null ? undefined : bytesOf(v, title, max));
const optDisplay = (v: unknown) => (v === undefined || v === null ? undefined : astring(v, 'display', { min: 1, max: 512 }));
const idOf = (v: unknown, title: string) => astring(v, title, { min: 1, max: 64, pattern: ID_PATTERN });

/** KeyInfo without undefined fields (the wire form). */
export function keyInfoToWire(info: KeyInfo): Record<string, unknown> {
  const out: Record<string, unknown> = { keyId: info.keyId, algorithm: info.algorithm, usage: info.usage, persistent: info.persistent };
  if (info.publicKey) out.publicKey = info.publicKey;
  if (info.identity) {
    const id: Record<string, unknown> = { subdomainId: info.identity.subdomainId, userId: info.identity.userId, mode: info.identity.mode };
    if (info.identity.identityProof) id.identityProof = info.identity.identityProof;
    out.identity = id;
  }
  return out;
}

export function createCommandTable(m: ServiceModules): Record<string, Handler> {
  const { computing: tc, interaction: ui, payments: pay } = m;
  return {
    'tk.info': async () => ({
      identities: (await tc.identities()).map((i) => ({ subdomainId: i.subdomainId, userId: i.userId, mode: i.mode })),
      subdomains: await tc.installedSubdomains(),
      kmcPinned: tc.kmcPublicKey !== undefined,
      pin: await ui.pinStatus(),
    }),
    'tk.generateKey': async (p) =>
      keyInfoToWire(
        await tc.generateKey(aoneOf(p.algorithm, 'algorithm', TK_KEY_ALGORITHMS), aoneOf(p.usage, 'usage', GENERATED_USAGES), {
          persistent: p.persistent === undefined ? true : abool(p.persistent, 'persistent'),
        }),
      ),
    'tk.keyInfo': async (p) => keyInfoToWire(await tc.keyInfo(keyIdOf(p))),
    'tk.publicKey': async (p) => ({ publicKey: await tc.publicKey(keyIdOf(p)) }),
    'tk.sign': async (p) => ({ signature: await tc.sign(keyIdOf(p), bytesOf(p.message, 'message')) }),
    'tk.verify': async (p) => {
      const message = bytesOf(p.message, 'message');
      const signature = bytesOf(p.signature, 'signature', 128);
      if (p.keyId !== undefined) return { valid: await tc.verify(keyIdOf(p), message, signature) };
      const algorithm = aoneOf(p.algorithm, 'algorithm', ['p256', 'ed25519'] as const);
      return { valid: tc.verifyWithPublicKey(algorithm, bytesOf(p.publicKey, 'publicKey', 33), message, signature) };
    },
    'tk.deriveSharedKey': async (p) => {
      const options: Parameters<TrustedComputing['deriveSharedKey']>[2] = {};
      const salt = optBytes(p.salt, 'salt', 256);
      const info = optBytes(p.info, 'info', 1024);
      if (salt) options.salt = salt;
      if (info) options.info = info;
      if (p.aead !== undefined) options.aead = aoneOf(p.aead, 'aead', ['chacha20-poly1305', 'aes-256-gcm'] as const);
      if (p.persistent !== undefined) options.persistent = abool(p.persistent, 'persistent');
      return keyInfoToWire(await tc.deriveSharedKey(keyIdOf(p), bytesOf(p.peerPublicKey, 'peerPublicKey', 33), options));
    },
    'tk.encrypt': async (p) => ({ ciphertext: await tc.encrypt(keyIdOf(p), bytesOf(p.plaintext, 'plaintext'), optBytes(p.aad, 'aad')) }),
    'tk.decrypt': async (p) => ({ plaintext: await tc.decrypt(keyIdOf(p), bytesOf(p.ciphertext, 'ciphertext'), optBytes(p.aad, 'aad')) }),
    'tk.hash': (p) => ({ digest: tc.sha256(bytesOf(p.data, 'data')) }),
    'tk.random': (p) => ({ bytes: tc.random(aint(p.length, 'length', 1, 4096)) }),
    'tk.deleteKey': async (p) => {
      await tc.deleteKey(keyIdOf(p));
      return {};
    },
    'tk.identityKey': async (p) => keyInfoToWire(await tc.keyInfo(await tc.identityKeyId(idOf(p.subdomainId, 'subdomainId'), idOf(p.userId, 'userId')))),
    'tk.signOnlinePayment': async (p, origin) => ({ signed: await pay.signOnlinePayment(keyIdOf(p), bytesOf(p.request, 'request', 4096), optDisplay(p.display), origin) }),
    'tk.signOfflineOffer': async (p) => ({
      signed: await pay.signOfflineOffer(keyIdOf(p), { txId: p.txId, amount: p.amount, currency: p.currency, expiresAt: p.expiresAt }),
    }),
    'tk.payOffline': async (p, origin) => ({ signed: await pay.payOffline(keyIdOf(p), bytesOf(p.offer, 'offer', 8192), optDisplay(p.display), origin) }),
    'tk.acceptOfflinePayment': async (p) => pay.acceptOfflinePayment(keyIdOf(p), bytesOf(p.payment, 'payment', 8192)),
    'tk.offlineState': async (p) => pay.offlineState(keyIdOf(p)),
    'tk.setOfflineBalance': async (p) => {
      await pay.setOfflineBalance(keyIdOf(p), aint(p.amount, 'amount'), astring(p.currency, 'currency'));
      return {};
    },
    'tk.importIdentity': async (p) => keyInfoToWire(await tc.importIssuedIdentity(bytesOf(p.package, 'package', 4096))),
    'tk.installMatrix': async (p) => tc.installMatrix(bytesOf(p.matrix, 'matrix')),
    'tk.provisioningKey': async () => ({ publicKey: await tc.provisioningPublicKey() }),
    'tk.pinStatus': () => ui.pinStatus(),
    'tk.setInitialPin': (_p, origin) => ui.setInitialPin(origin),
    'tk.changePin': (_p, origin) => ui.changePin(origin),
    'tk.unblockPin': (_p, origin) => ui.unblock(origin),
  };
}

/** Register every command on the agent; each handler checks its params object and re-labels errors. */
export function registerService(m: ServiceModules): void {
  for (const [method, handler] of Object.entries(createCommandTable(m))) {
    m.agent.onCommand(method, async (params: unknown, origin: CommandOrigin) => {
      try {
        return await handler(params === undefined || params === null ? {} : aobject(params, method), origin);
      } catch (err) {
        // Only TeeErrors keep their text: anything else may quote what it choked on.
        if (err instanceof TeeError) throw new TeeError(err.code, err.message, 'TRUSTED_KEY');
        throw new TeeError('GENERIC', `${method}: internal error`, 'TRUSTED_KEY');
      }
    });
  }
}
