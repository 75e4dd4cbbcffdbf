/**
 * Property tests: random and mutated bytes fed to every decoder the REE can reach. Each must either
 * accept or throw a typed TeeError — never another exception. FC_NUM_RUNS overrides the run count.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encode } from '../../src/common/codec.js';
import { TeeError } from '../../src/common/errors.js';
import { PROVIDERS } from '../../src/crypto/index.js';
import { decodeCertificate, LengthPrefixDecoder } from '../../src/channel/index.js';
import { InitiatorHandshake, parseMessage1, parseMessage2, parseMessage3, ResponderHandshake } from '../../src/channel/handshake.js';
import { RecordReceiver, RecordSender, RecordType } from '../../src/channel/record.js';
import { parseRpcMessage } from '../../src/channel/rpc.js';
import { makePki, numRuns } from './fixtures.js';

const provider = PROVIDERS.native;
const pki = makePki(provider, { teeOs: 'ed25519', trustedKey: 'ed25519' });
const runs = { numRuns: numRuns(300) };

/** Outcome of fn: 'ok', or the TeeError it threw; anything else fails the property. */
function typed(fn: () => unknown): 'ok' | TeeError {
  try {
    fn();
    return 'ok';
  } catch (err) {
    if (err instanceof TeeError) return err;
    throw err;
  }
}

/** A mutation of valid bytes: flip bits, overwrite, truncate, extend, or splice. */
const mutation = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('append' as const), extra: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
  fc.record({ kind: fc.constant('splice' as const), at: fc.nat(), extra: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
);
type Mutation = typeof mutation extends fc.Arbitrary<infer T> ? T : never;

function mutate(bytes: Uint8Array, ms: Mutation[]): Uint8Array {
  let out = new Uint8Array(bytes);
  for (const m of ms) {
    const at = out.length ? m.kind === 'append' ? 0 : m.at % out.length : 0;
    if (m.kind === 'flip') out[at] = out[at]! ^ (1 << m.bit);
    else if (m.kind === 'set') out[at] = m.value === out[at] ? m.value ^ 0xff : m.value;
    else if (m.kind === 'truncate') out = out.slice(0, at);
    else if (m.kind === 'append') out = new Uint8Array([...out, ...m.extra]);
    else out = new Uint8Array([...out.slice(0, at), ...m.extra, ...out.slice(at)]);
  }
  return out;
}

const differs = (a: Uint8Array, b: Uint8Array) => a.length !== b.length || a.some((x, i) => x !== b[i]);

describe('fuzz: handshake decoders', () => {
  it('parsers turn random bytes and random msgpack values into typed errors', () => {
    const anyBytes = fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.anything().map((v) => encode(v)));
    fc.assert(
      fc.property(anyBytes, (bytes) => {
        for (const parse of [parseMessage1, parseMessage2, parseMessage3, decodeCertificate]) typed(() => parse(bytes));
      }),
      runs,
    );
  });

  it('a mutated msg1 is answered or refused at stage 1 with SECURITY', () => {
    const msg1 = new InitiatorHandshake(pki.trustedKey, { provider }).start();
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 3 }), (ms) => {
        const r = typed(() => new ResponderHandshake(pki.teeOs, { provider }).respond(mutate(msg1, ms)));
        if (r !== 'ok') {
          expect(r.code).toBe('SECURITY');
          expect(r.message).toMatch(/^handshake stage 1: /);
        }
      }),
      runs,
    );
  });

  it('a mutated msg2 is always refused at stage 2 with SECURITY', () => {
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 3 }), (ms) => {
        const initiator = new InitiatorHandshake(pki.trustedKey, { provider });
        const msg2 = new ResponderHandshake(pki.teeOs, { provider }).respond(initiator.start());
        const bad = mutate(msg2, ms);
        fc.pre(differs(bad, msg2));
        const r = typed(() => initiator.finish(bad));
        expect(r).not.toBe('ok');
        expect((r as TeeError).code).toBe('SECURITY');
        expect((r as TeeError).message).toMatch(/^handshake stage 2: /);
      }),
      runs,
    );
  });

  it('a mutated msg3 is always refused at stage 3 with SECURITY', () => {
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 3 }), (ms) => {
        const initiator = new InitiatorHandshake(pki.trustedKey, { provider });
        const responder = new ResponderHandshake(pki.teeOs, { provider });
        const { message: msg3 } = initiator.finish(responder.respond(initiator.start()));
        const bad = mutate(msg3, ms);
        fc.pre(differs(bad, msg3));
        const r = typed(() => responder.finish(bad));
        expect(r).not.toBe('ok');
        expect((r as TeeError).code).toBe('SECURITY');
        expect((r as TeeError).message).toMatch(/^handshake stage 3: /);
      }),
      runs,
    );
  });
});

describe('fuzz: record layer', () => {
  const secret = { key: provider.randomBytes(32), iv: provider.randomBytes(12) };

  it('random frames are refused with SECURITY', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 200 }), { minLength: 1, maxLength: 4 }), (frames) => {
        const receiver = new RecordReceiver(provider, 'chacha20-poly1305', secret);
        for (const f of frames) {
          const r = typed(() => receiver.open(f));
          expect(r).not.toBe('ok');
          expect((r as TeeError).code).toBe('SECURITY');
        }
      }),
      runs,
    );
  });

  it('a mutated valid record is refused with SECURITY, and so is everything after it', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 100 }),
        fc.array(mutation, { minLength: 1, maxLength: 3 }),
        fc.constantFrom('chacha20-poly1305' as const, 'aes-256-gcm' as const),
        (payload, ms, suite) => {
          const sender = new RecordSender(provider, suite, secret, { rekeyAfterRecords: 2 });
          const receiver = new RecordReceiver(provider, suite, secret);
          const first = sender.seal(RecordType.DATA, payload);
          expect(receiver.open(first).payload).toEqual(payload);
          const second = sender.seal(RecordType.DATA, payload);
          const bad = mutate(second, ms);
          fc.pre(differs(bad, second));
          const r = typed(() => receiver.open(bad));
          expect(r).not.toBe('ok');
          expect((r as TeeError).code).toBe('SECURITY');
          expect(typed(() => receiver.open(second))).not.toBe('ok');
        },
      ),
      runs,
    );
  });

  it('RPC message validation takes any decoded value without crashing', () => {
    fc.assert(
      fc.property(fc.oneof(fc.anything(), fc.record({ t: fc.constantFrom('req', 'res', 'note', 'x'), id: fc.anything(), m: fc.anything(), ok: fc.anything(), e: fc.anything() })), (value) => {
        typed(() => parseRpcMessage(value));
      }),
      runs,
    );
  });
});

describe('fuzz: TCP length prefix', () => {
  it('reassembles any frames from any split of the stream', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ minLength: 1, maxLength: 300 }), { maxLength: 8 }), fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1, maxLength: 20 }), (frames, cuts) => {
        const stream = new Uint8Array(frames.reduce((n, f) => n + 4 + f.length, 0));
        let off = 0;
        for (const f of frames) {
          new DataView(stream.buffer).setUint32(off, f.length);
          stream.set(f, off + 4);
          off += 4 + f.length;
        }
        const decoder = new LengthPrefixDecoder(300);
        const out: Uint8Array[] = [];
        let at = 0;
        for (let i = 0; at < stream.length; i++) {
          const n = cuts[i % cuts.length]!;
          decoder.push(stream.subarray(at, at + n), (f) => out.push(new Uint8Array(f)));
          at += n;
        }
        expect(out).toEqual(frames);
        expect(decoder.bufferedBytes).toBe(0);
      }),
      runs,
    );
  });

  it('random bytes either frame up or fail with a typed error, buffering at most one frame', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 10 }), (chunks) => {
        const decoder = new LengthPrefixDecoder(1000);
        for (const c of chunks) {
          const r = typed(() => decoder.push(c, (f) => expect(f.length).toBeLessThanOrEqual(1000)));
          if (r !== 'ok') {
            expect(['COMMUNICATION', 'BAD_PARAMETERS']).toContain(r.code);
            break;
          }
          expect(decoder.bufferedBytes).toBeLessThanOrEqual(1000 + 4);
        }
      }),
      runs,
    );
  });
});
