/**
 * Malformed-input fuzzing (fast-check) of every decoder the REE can feed: the safe codec, channel
 * certificates, records and handshakes (random frames on the phone link), Client API requests (raw
 * bytes to driver.submit), QR text, payment statements, issuance packages, public matrices and the
 * backend's HTTP bodies. Inputs mix pure noise with mutations (bit flips, cuts, splices) of valid
 * samples, which reach the deeper checks. Every decoder must answer with a TeeError (or a 4xx), never
 * another exception, a crash, a 500 or a hang. `--full` runs >= 100,000 cases in total.
 */
import fc from 'fast-check';
import { encode, decode } from '../../../common/codec.js';
import { TeeError } from '../../../common/errors.js';
import { decodeCertificate, encodeCertificate, TO_INITIATOR, TO_RESPONDER } from '../../../channel/index.js';
import { decodeIssuancePackage, decodePublicMatrix, encodeIssuancePackage, encodePublicMatrix, verifyPublicMatrix } from '../../../cpk/index.js';
import { decodePaymentRequest, decodeSigned, encodePaymentRequest } from '../../../protocol/payment.js';
import { decodeQrText } from '../../qr/index.js';
import { encodeTeeRequest, parseTeeResponse, TEE_OPS, type TeeOp } from '../../../tee/index.js';
import { WALLET_CMD, WALLET_TA_UUID } from '../../../tee/tas/wallet/index.js';
import { b64, type Adversary } from '../adversary.js';
import type { Scenario, ScenarioContext, ScenarioResult } from '../scenario.js';
import { linkRecovered } from './channel.js';
import { offerFromBob, signOnline } from './payments.js';

/** Noise, or a mutation of one of the valid samples. */
export function malformedBytes(samples: readonly Uint8Array[], maxLength = 600): fc.Arbitrary<Uint8Array> {
  const sample = fc.constantFrom(...samples);
  const flip = fc.tuple(sample, fc.nat(), fc.integer({ min: 1, max: 8 })).map(([s, at, n]) => {
    const out = new Uint8Array(s);
    for (let i = 0; i < n && out.length > 0; i++) out[(at + i * 7919) % out.length] ^= 1 << ((at + i) % 8);
    return out;
  });
  const cut = fc.tuple(sample, fc.nat()).map(([s, at]) => s.slice(0, s.length === 0 ? 0 : at % s.length));
  const splice = fc.tuple(sample, fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 16 })).map(([s, at, ins]) => {
    const i = s.length === 0 ? 0 : at % s.length;
    return Uint8Array.from([...s.slice(0, i), ...ins, ...s.slice(i + 1)]);
  });
  const structured = fc.anything({ maxDepth: 3 }).map((v) => {
    try {
      return encode(v);
    } catch {
      return new Uint8Array([0xc1]);
    }
  });
  return fc.oneof(fc.uint8Array({ maxLength }), flip, cut, splice, structured);
}

/** Run a synchronous decoder on `runs` inputs; any exception other than a TeeError is a finding. */
function fuzzDecoder(ctx: ScenarioContext, runs: number, arb: fc.Arbitrary<Uint8Array>, decoder: (b: Uint8Array) => unknown): ScenarioResult {
  let rejected = 0;
  const r = fc.check(
    fc.property(arb, (b) => {
      try {
        decoder(b);
      } catch (err) {
        if (!(err instanceof TeeError)) throw err;
        rejected++;
      }
    }),
    { numRuns: runs },
  );
  ctx.countCases(r.numRuns);
  return r.failed
    ? { observed: `non-TeeError after ${r.numRuns} cases: ${String(r.errorInstance).slice(0, 100)}`, defended: false }
    : { observed: `${r.numRuns} cases, ${rejected} rejected with a TeeError, no other exception`, defended: true };
}

async function fuzzAsync(ctx: ScenarioContext, runs: number, arb: fc.Arbitrary<Uint8Array>, target: (b: Uint8Array) => Promise<string | undefined>): Promise<ScenarioResult> {
  let rejected = 0;
  const r = await fc.check(
    fc.asyncProperty(arb, async (b) => {
      const problem = await target(b);
      if (problem === undefined) rejected++;
      else if (problem !== 'accepted') throw new Error(problem);
    }),
    { numRuns: runs },
  );
  ctx.countCases(r.numRuns);
  return r.failed
    ? { observed: `finding after ${r.numRuns} cases: ${r.errorInstance instanceof Error ? r.errorInstance.message.slice(0, 100) : 'error'}`, defended: false }
    : { observed: `${r.numRuns} cases, ${rejected} rejected cleanly`, defended: true };
}

async function validRequests(adv: Adversary): Promise<Uint8Array[]> {
  const w = await adv.wallet('alice');
  const ctx = w.context.id;
  const ses = w.session.id;
  return [
    encodeTeeRequest({ op: 'initializeContext', name: 'fuzz' }),
    encodeTeeRequest({ op: 'openSession', context: ctx, uuid: WALLET_TA_UUID, login: { login: 'public', identity: '' }, params: [] }),
    encodeTeeRequest({
      op: 'invokeCommand', context: ctx, session: ses, commandId: WALLET_CMD.HASH,
      params: [{ type: 'memref_input', buffer: encode({ data: new Uint8Array(8) }) }, { type: 'memref_output', size: 64 }],
    }),
    encodeTeeRequest({ op: 'invokeCommand', context: ctx, session: ses, commandId: WALLET_CMD.SIGN, params: [{ type: 'memref_input', buffer: encode({ message: new Uint8Array(4) }) }, { type: 'memref_output', size: 64 }, { type: 'handle_input', handle: new Uint8Array(16) }] }),
  ];
}

export const fuzzScenarios: Scenario[] = [
  {
    name: 'fuzz-codec',
    attack: 'random and mutated msgpack bytes into the safe codec decode',
    expectedDefence: 'TeeError (BAD_PARAMETERS / COMMUNICATION) for every malformed input, never another exception',
    run: async (ctx) => fuzzDecoder(ctx, ctx.fuzzRuns(300, 30_000), malformedBytes([encode({ a: [1, 2, { b: new Uint8Array(3) }] }), encode([1, 'x', 3n])]), (b) => decode(b)),
  },
  {
    name: 'fuzz-certificate',
    attack: 'random and mutated channel certificates into decodeCertificate',
    expectedDefence: 'TeeError for every malformed certificate',
    run: async (ctx) => {
      const adv = await ctx.adv();
      const cert = encodeCertificate(adv.factory.issueTeeOsIdentity('fuzz').certificate);
      return fuzzDecoder(ctx, ctx.fuzzRuns(200, 12_000), malformedBytes([cert]), (b) => decodeCertificate(b));
    },
  },
  {
    name: 'fuzz-payment-statements',
    attack: 'mutated signed online payments, offers and payment requests into the protocol decoders',
    expectedDefence: 'TeeError for every malformed statement',
    run: async (ctx) => {
      const adv = await ctx.adv();
      const { request } = adv.paymentRequest(adv.party('bob'), 10);
      const samples = [await signOnline(adv, 10), await offerFromBob(adv, 10), encodePaymentRequest(request)];
      return fuzzDecoder(ctx, ctx.fuzzRuns(300, 18_000), malformedBytes(samples), (b) => {
        for (const kind of ['online-payment', 'offline-offer', 'offline-payment', 'receipt'] as const) {
          try {
            decodeSigned(b, kind);
          } catch (err) {
            if (!(err instanceof TeeError)) throw err;
          }
        }
        decodePaymentRequest(b);
      });
    },
  },
  {
    name: 'fuzz-issuance-packages',
    attack: 'mutated KMC issuance packages into the decoder, and a sample into the trusted key (IMPORT_IDENTITY)',
    expectedDefence: 'TeeError for every malformed package; the key imports nothing',
    run: async (ctx) => {
      const adv = await ctx.adv();
      const w = await adv.wallet('alice');
      const { publicKey } = await w.call('GET_PROVISIONING_KEY', {});
      const pkg = encodeIssuancePackage(await adv.kmc.issuePrivateKey('retail', 'fuzz-user', { publicKey }));
      const local = fuzzDecoder(ctx, ctx.fuzzRuns(200, 10_000), malformedBytes([pkg]), (b) => decodeIssuancePackage(b));
      const remote = await fuzzAsync(ctx, ctx.fuzzRuns(15, 400), malformedBytes([pkg]), async (b) => {
        try {
          await w.call('IMPORT_IDENTITY', { package: b });
          return 'accepted: a mutated package was imported';
        } catch (err) {
          return err instanceof TeeError ? undefined : 'non-TeeError';
        }
      });
      return { observed: `decoder: ${local.observed}; trusted key: ${remote.observed}`, defended: local.defended && remote.defended };
    },
  },
  {
    name: 'fuzz-public-matrices',
    attack: 'mutated signed public matrices into decodePublicMatrix + verifyPublicMatrix',
    expectedDefence: 'TeeError for every malformed or re-signed matrix',
    run: async (ctx) => {
      const adv = await ctx.adv();
      const m = encodePublicMatrix(await adv.kmc.publicMatrix('retail'));
      let accepted = 0;
      const r = fuzzDecoder(ctx, ctx.fuzzRuns(100, 10_000), malformedBytes([m], 2000), (b) => {
        verifyPublicMatrix(adv.provider, decodePublicMatrix(b), adv.kmc.kmcPublicKey);
        accepted++;
      });
      return { ...r, observed: `${r.observed}; ${accepted} verified (unchanged encodings only)` };
    },
  },
  {
    name: 'fuzz-qr-text',
    attack: 'random strings and mutated QR envelope texts into decodeQrText',
    expectedDefence: 'TeeError for every malformed QR text',
    run: async (ctx) => {
      const adv = await ctx.adv();
      const { qr } = adv.paymentRequest(adv.party('bob'), 10);
      const bytes = malformedBytes([Buffer.from(qr)]);
      const arb = fc.oneof(bytes.map((b) => Buffer.from(b).toString('latin1')), fc.string({ maxLength: 200 }), fc.constant('TS1:'));
      let rejected = 0;
      const r = fc.check(
        fc.property(arb, (t) => {
          try {
            decodeQrText(t);
          } catch (err) {
            if (!(err instanceof TeeError)) throw err;
            rejected++;
          }
        }),
        { numRuns: ctx.fuzzRuns(300, 15_000) },
      );
      ctx.countCases(r.numRuns);
      return { observed: r.failed ? `non-TeeError: ${String(r.errorInstance).slice(0, 80)}` : `${r.numRuns} cases, ${rejected} rejected with a TeeError`, defended: !r.failed };
    },
  },
  {
    name: 'fuzz-client-api',
    attack: 'random and mutated Client API requests as raw bytes to driver.submit',
    expectedDefence: 'every reply is a well-formed error response (a TeeError), never a throw, crash or success on garbage',
    run: async (ctx) => {
      const adv = await ctx.adv();
      const samples = await validRequests(adv);
      const ops: readonly TeeOp[] = TEE_OPS;
      return fuzzAsync(ctx, ctx.fuzzRuns(200, 8_000), malformedBytes(samples), async (b) => {
        let reply: Uint8Array;
        try {
          reply = await adv.submitRaw('alice', b);
        } catch {
          return 'driver.submit threw';
        }
        // The reply must parse for some op (an error response parses as a TeeError for any op).
        for (const op of ops) {
          try {
            const res = parseTeeResponse(reply, op);
            // A mutated request that still opened a context: give it back (contexts are a bounded resource).
            if (op === 'initializeContext' && 'context' in res && res.context instanceof Uint8Array) {
              await adv.submitRaw('alice', encodeTeeRequest({ op: 'finalizeContext', context: res.context }));
            }
            return 'accepted';
          } catch (err) {
            if (!(err instanceof TeeError)) return 'reply parse threw a non-TeeError';
          }
        }
        return undefined;
      });
    },
  },
  {
    name: 'fuzz-link-frames',
    attack: 'inject random and mutated frames into the TEE OS <-> trusted key link (handshake and record parsers)',
    expectedDefence: 'each bad frame closes the channel, the key reconnects, the phone keeps working',
    run: async (ctx) => {
      const adv = await ctx.adv();
      const link = adv.link('alice');
      const samples = link.frames().slice(-4);
      const connectionsBefore = link.connections;
      const runs = ctx.fuzzRuns(4, 200);
      let ok = 0;
      for (const [i, f] of fc.sample(malformedBytes(samples), runs).entries()) {
        link.current?.inject(i % 2 === 0 ? TO_INITIATOR : TO_RESPONDER, f);
        if (await linkRecovered(adv, 'alice')) ok++;
      }
      ctx.countCases(runs);
      const r = { ok, runs };
      return { observed: `${r.runs} frames injected; phone working after ${r.ok}; ${link.connections - connectionsBefore} reconnections`, defended: r.ok === r.runs };
    },
  },
  {
    name: 'fuzz-backend-http',
    attack: 'random JSON and non-JSON bodies, mutated payments and wrong types to every backend POST route',
    expectedDefence: '4xx with an error code for each (account opening is an admin call and may accept well-formed input); never 500 or a hang',
    run: async (ctx) => {
      const adv = await ctx.adv();
      const payment = b64(await signOnline(adv, 10));
      const routes = ['/v1/payments', '/v1/offline/reconcile', '/v1/accounts', '/v1/subdomains'];
      const body = fc.oneof(
        fc.dictionary(fc.constantFrom('payment', 'offer', 'matrix', 'subdomainId', 'userId', 'currency', 'balance'), fc.oneof(fc.string(), fc.integer(), fc.constant(payment.slice(1)), fc.constant(null), fc.array(fc.nat()))),
        malformedBytes([Buffer.from(payment)]).map((b) => ({ payment: Buffer.from(b).toString('latin1') })),
      );
      let codes = new Set<number>();
      const r = await fc.check(
        fc.asyncProperty(fc.constantFrom(...routes), body, async (route, b) => {
          const res = await adv.http('POST', route, b as Record<string, unknown>);
          codes.add(res.status);
          if (res.status >= 500) throw new Error(`HTTP ${res.status} on ${route}`);
          if (res.status < 400 && route !== '/v1/accounts' && route !== '/v1/subdomains') throw new Error(`accepted garbage on ${route}`);
        }),
        { numRuns: ctx.fuzzRuns(60, 2_000) },
      );
      ctx.countCases(r.numRuns);
      const observed = r.failed ? `finding: ${r.errorInstance instanceof Error ? r.errorInstance.message : 'error'}` : `${r.numRuns} requests, statuses ${[...codes].sort().join('/')}`;
      codes = new Set();
      return { observed, defended: !r.failed };
    },
  },
];
