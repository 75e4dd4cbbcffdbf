/**
 * Three-message SIGMA-style handshake, as pure state machines: they see only the injected crypto
 * provider and bytes, never a transport (secure-channel.ts moves the bytes and keeps the clock).
 *
 *   msg1  I -> R  version, offered suites, ephemeral X25519 eI, random nI
 *   msg2  R -> I  hello2 = [suite, eR, nR, certR], sigR, finishedR
 *   msg3  I -> R  hello3 = [certI], sigI, finishedI
 *
 * The transcript is every handshake byte in order: msg1 | hello2 | sigR | finishedR | hello3 | sigI | finishedI.
 * - sigR signs H(msg1 | hello2) under a responder label; sigI signs H(… | hello3) under an initiator
 *   label, so neither can be reflected as the other. Both cover the offered suite list and both
 *   ephemerals: a downgrade or a swapped ephemeral breaks the peer's signature check.
 * - shared = X25519(eI, eR). Finished keys (one per role) = HKDF(shared, salt H(msg1 | hello2)); each
 *   finished MAC is HMAC over the transcript hash so far (key confirmation).
 * - Traffic key and IV for each direction = HKDF(shared, salt H(whole transcript)), split in four.
 * Ephemeral secrets, the shared secret and finished keys are zeroed as soon as they are spent.
 *
 * Every failure is TeeError('SECURITY', 'handshake stage N: …') where N is the message being processed.
 */
import { concatBytes, constantTimeEqual, utf8, zeroize } from '../common/bytes.js';
import { aarray, abytes, aint, astring } from '../common/checks.js';
import { decode, encode } from '../common/codec.js';
import { TeeError } from '../common/errors.js';
import { AEAD_ALGORITHMS, AEAD_KEY_BYTES, AEAD_NONCE_BYTES, type AeadAlgorithm, type CryptoProvider, type KeyPair } from '../crypto/provider.js';
import { decodeCertificate, encodeCertificate, verifyCertificate, MAX_CERTIFICATE_BYTES, type Certificate } from './certificate.js';
import { checkIdentity, type ChannelIdentity, type PeerIdentity } from './identity.js';

export const HANDSHAKE_VERSION = 1;
export const DEFAULT_SUITES: readonly AeadAlgorithm[] = ['chacha20-poly1305', 'aes-256-gcm'];
export const MAX_HANDSHAKE_MESSAGE_BYTES = 4096;
const MAX_OFFERED_SUITES = 8;
const LABEL = 'tee-sim/handshake/v1';
const TAG1 = 'tee-sim/hs1';
const TAG2 = 'tee-sim/hs2';
const TAG3 = 'tee-sim/hs3';
const X25519_BYTES = 32;
const RANDOM_BYTES = 32;
const SIGNATURE_BYTES = 64;
const MAC_BYTES = 32;

/** One direction's record protection: AEAD key and the IV its nonces are derived from. */
export interface TrafficSecret {
  key: Uint8Array;
  iv: Uint8Array;
}

export interface HandshakeResult {
  suite: AeadAlgorithm;
  peer: PeerIdentity;
  /** Keys for what this side sends and what it receives. */
  send: TrafficSecret;
  receive: TrafficSecret;
}

/**
 * Sees copies of every secret the handshake derives, like an SSLKEYLOGFILE. For tests (the
 * key-material scan) only: never wire it to anything that leaves the endpoint.
 */
export type KeyLog = (label: string, secret: Uint8Array) => void;

export interface HandshakeOptions {
  provider: CryptoProvider;
  /** Initiator: suites offered, in preference order. Responder: suites it accepts. */
  suites?: readonly AeadAlgorithm[];
  keyLog?: KeyLog;
  /** Clock for certificate expiry (ms since the epoch). */
  now?: () => number;
}

// ---- wire formats (exported so the fuzz tests can reach the parsers directly) ----

export interface Message1 {
  version: number;
  suites: string[];
  ephemeral: Uint8Array;
  random: Uint8Array;
}

export interface Message2 {
  /** Exact bytes of the signed part, as they go into the transcript. */
  hello: Uint8Array;
  suite: string;
  ephemeral: Uint8Array;
  random: Uint8Array;
  certificate: Certificate;
  signature: Uint8Array;
  finished: Uint8Array;
}

export interface Message3 {
  hello: Uint8Array;
  certificate: Certificate;
  signature: Uint8Array;
  finished: Uint8Array;
}

function malformed(detail: string): never {
  throw new TeeError('BAD_PARAMETERS', detail, 'CHANNEL');
}

function fields(bytes: Uint8Array, title: string, count: number): unknown[] {
  const arr = aarray(decode(bytes, MAX_HANDSHAKE_MESSAGE_BYTES, 'CHANNEL'), title, count);
  if (arr.length !== count) malformed(`${title}: expected ${count} fields`);
  return arr;
}

export function parseMessage1(bytes: Uint8Array): Message1 {
  const [tag, version, suites, ephemeral, random] = fields(bytes, 'msg1', 5);
  if (tag !== TAG1) malformed('msg1: not a first handshake message');
  return {
    version: aint(version, 'msg1 version', 0, 255),
    suites: aarray(suites, 'msg1 suites', MAX_OFFERED_SUITES).map((s) => astring(s, 'msg1 suite', { max: 32 })),
    ephemeral: abytes(ephemeral, 'msg1 ephemeral', X25519_BYTES),
    random: abytes(random, 'msg1 random', RANDOM_BYTES),
  };
}

export function parseMessage2(bytes: Uint8Array): Message2 {
  const [tag, hello, signature, finished] = fields(bytes, 'msg2', 4);
  if (tag !== TAG2) malformed('msg2: not a second handshake message');
  const helloBytes = abytes(hello, 'msg2 hello', { min: 1 });
  const [suite, ephemeral, random, cert] = fields(helloBytes, 'msg2 hello', 4);
  return {
    hello: helloBytes,
    suite: astring(suite, 'msg2 suite', { max: 32 }),
    ephemeral: abytes(ephemeral, 'msg2 ephemeral', X25519_BYTES),
    random: abytes(random, 'msg2 random', RANDOM_BYTES),
    certificate: decodeCertificate(abytes(cert, 'msg2 certificate', { min: 1, max: MAX_CERTIFICATE_BYTES })),
    signature: abytes(signature, 'msg2 signature', SIGNATURE_BYTES),
    finished: abytes(finished, 'msg2 finished', MAC_BYTES),
  };
}

export function parseMessage3(bytes: Uint8Array): Message3 {
  const [tag, hello, signature, finished] = fields(bytes, 'msg3', 4);
  if (tag !== TAG3) malformed('msg3: not a third handshake message');
  const helloBytes = abytes(hello, 'msg3 hello', { min: 1 });
  const [cert] = fields(helloBytes, 'msg3 hello', 1);
  return {
    hello: helloBytes,
    certificate: decodeCertificate(abytes(cert, 'msg3 certificate', { min: 1, max: MAX_CERTIFICATE_BYTES })),
    signature: abytes(signature, 'msg3 signature', SIGNATURE_BYTES),
    finished: abytes(finished, 'msg3 finished', MAC_BYTES),
  };
}

/**
 * What a carrier can read from a handshake message: all of it is plaintext (this SIGMA variant does
 * not hide identities), but none of it lets the carrier derive a key, and changing it breaks the
 * peer's signature or finished check. Undefined for anything that is not a well-formed message.
 */
export type HandshakeView =
  | { stage: 1; version: number; suites: string[]; ephemeral: Uint8Array; random: Uint8Array }
  | { stage: 2; suite: string; ephemeral: Uint8Array; random: Uint8Array; certificate: Certificate; signature: Uint8Array; finished: Uint8Array }
  | { stage: 3; certificate: Certificate; signature: Uint8Array; finished: Uint8Array };

export function peekHandshakeMessage(frame: Uint8Array): HandshakeView | undefined {
  let tag: unknown;
  try {
    tag = (decode(frame, MAX_HANDSHAKE_MESSAGE_BYTES, 'CHANNEL') as unknown[] | undefined)?.[0];
  } catch {
    return undefined;
  }
  try {
    if (tag === TAG1) return { stage: 1, ...parseMessage1(frame) };
    if (tag === TAG2) {
      const { hello: _hello, ...m } = parseMessage2(frame);
      return { stage: 2, ...m };
    }
    if (tag === TAG3) {
      const { hello: _hello, ...m } = parseMessage3(frame);
      return { stage: 3, ...m };
    }
  } catch {
    // malformed: not a message the peer would accept either
  }
  return undefined;
}

// ---- shared machinery ----

/** Running transcript. The provider hashes one buffer at a time, so parts are kept and hashed whole (about 1 KiB). */
class Transcript {
  private readonly parts: Uint8Array[] = [];
  add(part: Uint8Array): void {
    this.parts.push(part);
  }
  hash(provider: CryptoProvider): Uint8Array {
    return provider.sha256(concatBytes(...this.parts));
  }
}

function signedContent(role: 'initiator' | 'responder', transcriptHash: Uint8Array): Uint8Array {
  return concatBytes(utf8(`${LABEL} ${role} signature`), new Uint8Array(1), transcriptHash);
}

const TRAFFIC_BYTES = AEAD_KEY_BYTES + AEAD_NONCE_BYTES;

/** Both directions' key and IV from one HKDF output: initiator->responder first, then responder->initiator. */
function deriveTraffic(provider: CryptoProvider, shared: Uint8Array, transcriptHash: Uint8Array): { i2r: TrafficSecret; r2i: TrafficSecret } {
  const okm = provider.hkdfSha256(shared, transcriptHash, utf8(`${LABEL} traffic keys`), 2 * TRAFFIC_BYTES);
  const part = (off: number): TrafficSecret => ({ key: okm.slice(off, off + AEAD_KEY_BYTES), iv: okm.slice(off + AEAD_KEY_BYTES, off + TRAFFIC_BYTES) });
  const secrets = { i2r: part(0), r2i: part(TRAFFIC_BYTES) };
  zeroize(okm);
  return secrets;
}

function checkSuites(suites: readonly AeadAlgorithm[] | undefined): AeadAlgorithm[] {
  const list = [...(suites ?? DEFAULT_SUITES)];
  if (list.length === 0 || list.length > MAX_OFFERED_SUITES || new Set(list).size !== list.length || !list.every((s) => AEAD_ALGORITHMS.includes(s))) {
    throw new TeeError('BAD_PARAMETERS', 'handshake: suites must be a non-empty list of distinct known AEAD algorithms', 'CHANNEL');
  }
  return list;
}

function stageError(stage: number, err: unknown): TeeError {
  if (err instanceof TeeError) {
    if (err.message.startsWith('handshake stage')) return err;
    const detail = err.code === 'BAD_PARAMETERS' ? `malformed message (${err.message})` : err.message;
    return new TeeError('SECURITY', `handshake stage ${stage}: ${detail}`, 'CHANNEL');
  }
  return new TeeError('SECURITY', `handshake stage ${stage}: internal error`, 'CHANNEL');
}

function fail(stage: number, reason: string): never {
  throw new TeeError('SECURITY', `handshake stage ${stage}: ${reason}`, 'CHANNEL');
}

function peerOf(cert: Certificate): PeerIdentity {
  return { role: cert.role, subject: cert.subject, algorithm: cert.algorithm, publicKey: cert.publicKey };
}

abstract class HandshakeBase {
  protected readonly provider: CryptoProvider;
  protected readonly suites: AeadAlgorithm[];
  protected readonly transcript = new Transcript();
  protected ephemeral: KeyPair | undefined;
  protected shared: Uint8Array | undefined;
  protected finishedKeys: { initiator: Uint8Array; responder: Uint8Array } | undefined;
  private readonly keyLog: KeyLog | undefined;
  private readonly now: () => number;

  constructor(protected readonly identity: ChannelIdentity, opts: HandshakeOptions) {
    this.provider = opts.provider;
    this.suites = checkSuites(opts.suites);
    this.keyLog = opts.keyLog;
    this.now = opts.now ?? Date.now;
    checkIdentity(this.provider, identity);
  }

  /** Zero every secret this handshake still holds; call on failure or abandonment. */
  destroy(): void {
    zeroize(this.ephemeral?.secretKey, this.shared, this.finishedKeys?.initiator, this.finishedKeys?.responder);
    this.ephemeral = undefined;
    this.shared = undefined;
    this.finishedKeys = undefined;
  }

  protected log(label: string, secret: Uint8Array): void {
    this.keyLog?.(label, new Uint8Array(secret));
  }

  protected newEphemeral(role: string): KeyPair {
    this.ephemeral = this.provider.generateKeyPair('x25519');
    this.log(`${role} ephemeral secret`, this.ephemeral.secretKey);
    return this.ephemeral;
  }

  /** X25519, then forget the ephemeral secret, then the finished keys salted by H(msg1 | hello2). */
  protected agree(peerEphemeral: Uint8Array, transcriptHash: Uint8Array): void {
    const eph = this.ephemeral!;
    try {
      this.shared = this.provider.x25519(eph.secretKey, peerEphemeral);
    } finally {
      zeroize(eph.secretKey);
      this.ephemeral = undefined;
    }
    this.log('shared secret', this.shared);
    const okm = this.provider.hkdfSha256(this.shared, transcriptHash, utf8(`${LABEL} finished keys`), 2 * MAC_BYTES);
    this.finishedKeys = { initiator: okm.slice(0, MAC_BYTES), responder: okm.slice(MAC_BYTES) };
    zeroize(okm);
    this.log('finished key initiator', this.finishedKeys.initiator);
    this.log('finished key responder', this.finishedKeys.responder);
  }

  protected checkPeerCertificate(cert: Certificate): void {
    verifyCertificate(this.provider, cert, this.identity.trustedRoots, this.identity.expectedPeerRole, this.now());
  }

  protected finishedMac(role: 'initiator' | 'responder'): Uint8Array {
    return this.provider.hmacSha256(this.finishedKeys![role], this.transcript.hash(this.provider));
  }

  /** Traffic secrets from the whole transcript; afterwards nothing secret is left in this object. */
  protected trafficSecrets(): { i2r: TrafficSecret; r2i: TrafficSecret } {
    const { i2r, r2i } = deriveTraffic(this.provider, this.shared!, this.transcript.hash(this.provider));
    this.log('traffic key initiator->responder', i2r.key);
    this.log('traffic iv initiator->responder', i2r.iv);
    this.log('traffic key responder->initiator', r2i.key);
    this.log('traffic iv responder->initiator', r2i.iv);
    this.destroy();
    return { i2r, r2i };
  }
}

/** The trusted key's side: start() gives msg1, finish(msg2) gives msg3 and the session keys. */
export class InitiatorHandshake extends HandshakeBase {
  private state: 'new' | 'waiting' | 'done' | 'failed' = 'new';

  start(): Uint8Array {
    if (this.state !== 'new') throw new TeeError('BAD_STATE', 'handshake stage 1: already started', 'CHANNEL');
    const eph = this.newEphemeral('initiator');
    const msg1 = encode([TAG1, HANDSHAKE_VERSION, this.suites, eph.publicKey, this.provider.randomBytes(RANDOM_BYTES)]);
    this.transcript.add(msg1);
    this.state = 'waiting';
    return msg1;
  }

  finish(msg2: Uint8Array): { message: Uint8Array; result: HandshakeResult } {
    if (this.state !== 'waiting') throw new TeeError('BAD_STATE', 'handshake stage 2: not waiting for msg2', 'CHANNEL');
    this.state = 'failed';
    try {
      const out = this.process(msg2);
      this.state = 'done';
      return out;
    } catch (err) {
      this.destroy();
      throw stageError(2, err);
    }
  }

  private process(msg2: Uint8Array): { message: Uint8Array; result: HandshakeResult } {
    const p = this.provider;
    const m = parseMessage2(msg2);
    if (!(this.suites as string[]).includes(m.suite)) fail(2, 'responder chose a suite that was not offered');
    this.checkPeerCertificate(m.certificate);
    this.transcript.add(m.hello);
    const th = this.transcript.hash(p);
    if (!p.verify(m.certificate.algorithm, m.certificate.publicKey, signedContent('responder', th), m.signature)) {
      fail(2, 'signature does not verify');
    }
    this.agree(m.ephemeral, th);
    this.transcript.add(m.signature);
    if (!constantTimeEqual(this.finishedMac('responder'), m.finished)) fail(2, 'finished MAC does not verify');
    this.transcript.add(m.finished);

    const hello3 = encode([encodeCertificate(this.identity.certificate)]);
    this.transcript.add(hello3);
    const signature = p.sign(this.identity.algorithm, this.identity.secretKey, signedContent('initiator', this.transcript.hash(p)));
    this.transcript.add(signature);
    const finished = this.finishedMac('initiator');
    this.transcript.add(finished);
    const { i2r, r2i } = this.trafficSecrets();
    return {
      message: encode([TAG3, hello3, signature, finished]),
      result: { suite: m.suite as AeadAlgorithm, peer: peerOf(m.certificate), send: i2r, receive: r2i },
    };
  }
}

/** The TEE OS's side: respond(msg1) gives msg2, finish(msg3) gives the session keys. */
export class ResponderHandshake extends HandshakeBase {
  private state: 'new' | 'waiting' | 'done' | 'failed' = 'new';
  private suite: AeadAlgorithm | undefined;

  respond(msg1: Uint8Array): Uint8Array {
    if (this.state !== 'new') throw new TeeError('BAD_STATE', 'handshake stage 1: already answered', 'CHANNEL');
    this.state = 'failed';
    try {
      const msg2 = this.processHello(msg1);
      this.state = 'waiting';
      return msg2;
    } catch (err) {
      this.destroy();
      throw stageError(1, err);
    }
  }

  finish(msg3: Uint8Array): HandshakeResult {
    if (this.state !== 'waiting') throw new TeeError('BAD_STATE', 'handshake stage 3: not waiting for msg3', 'CHANNEL');
    this.state = 'failed';
    try {
      const result = this.processFinish(msg3);
      this.state = 'done';
      return result;
    } catch (err) {
      this.destroy();
      throw stageError(3, err);
    }
  }

  private processHello(msg1: Uint8Array): Uint8Array {
    const p = this.provider;
    const m = parseMessage1(msg1);
    if (m.version !== HANDSHAKE_VERSION) fail(1, `unsupported protocol version ${m.version}`);
    // The initiator's order decides; the responder only filters by what it accepts.
    const suite = m.suites.find((s): s is AeadAlgorithm => (this.suites as string[]).includes(s));
    if (!suite) fail(1, 'no common cipher suite');
    this.suite = suite;
    this.transcript.add(msg1);
    const eph = this.newEphemeral('responder');
    const hello2 = encode([suite, eph.publicKey, p.randomBytes(RANDOM_BYTES), encodeCertificate(this.identity.certificate)]);
    this.transcript.add(hello2);
    const th = this.transcript.hash(p);
    const signature = p.sign(this.identity.algorithm, this.identity.secretKey, signedContent('responder', th));
    this.agree(m.ephemeral, th);
    this.transcript.add(signature);
    const finished = this.finishedMac('responder');
    this.transcript.add(finished);
    zeroize(this.finishedKeys!.responder); // spent
    return encode([TAG2, hello2, signature, finished]);
  }

  private processFinish(msg3: Uint8Array): HandshakeResult {
    const p = this.provider;
    const m = parseMessage3(msg3);
    this.checkPeerCertificate(m.certificate);
    this.transcript.add(m.hello);
    if (!p.verify(m.certificate.algorithm, m.certificate.publicKey, signedContent('initiator', this.transcript.hash(p)), m.signature)) {
      fail(3, 'signature does not verify');
    }
    this.transcript.add(m.signature);
    if (!constantTimeEqual(this.finishedMac('initiator'), m.finished)) fail(3, 'finished MAC does not verify');
    this.transcript.add(m.finished);
    const { i2r, r2i } = this.trafficSecrets();
    return { suite: this.suite!, peer: peerOf(m.certificate), send: r2i, receive: i2r };
  }
}
