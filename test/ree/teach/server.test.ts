/**
 * The teaching server's JSON API on a real port: a payment run yields three lanes, the REE lane
 * carries no secret, an attack run reports the rejection with its code, bad input gets a code.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTeachRunner, type TeachRunner } from '../../../src/ree/teach/runner.js';
import type { RunResult } from '../../../src/ree/teach/scenario.js';
import { startTeachServer, type RunningTeachServer } from '../../../src/ree/teach/server.js';
import { redactEvent } from '../../../src/ree/teach/redact.js';

let dir: string;
let runner: TeachRunner;
let server: RunningTeachServer;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tee-sim-teach-'));
  runner = await createTeachRunner({ dataDir: join(dir, 'data') });
  server = await startTeachServer({ port: 0, runner: runner.run });
}, 120_000);

afterAll(async () => {
  await server?.close();
  await runner?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function post(path: string, body: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(new URL(path, server.url), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, json: await res.json() };
}

async function run(flow: string, attack = 'none'): Promise<RunResult> {
  const { status, json } = await post('/api/run', { flow, attack });
  expect(status).toBe(200);
  return json as RunResult;
}

/** Every string the REE lane shows (texts and detail values), lower-cased. */
function reeText(result: RunResult): string {
  return result.events
    .filter((e) => e.lane === 'REE')
    .map((e) => [e.actor, e.text, ...Object.entries(e.detail ?? {}).flat().map(String)].join(' '))
    .join('\n')
    .toLowerCase();
}

function expectNoSecretsInRee(result: RunResult): void {
  const text = reeText(result);
  for (const secret of runner.secrets()) expect(text.includes(secret.toLowerCase()), 'a secret reached the REE lane').toBe(false);
  // The TEE and trusted-key lanes show plaintext of those worlds, but never key bytes or the PIN either.
  const all = JSON.stringify(result).toLowerCase();
  for (const secret of runner.secrets()) expect(all.includes(secret.toLowerCase()), 'a secret reached the page').toBe(false);
  expect(runner.secrets().length).toBeGreaterThanOrEqual(7);
  for (const e of result.events.filter((x) => x.lane === 'REE')) {
    for (const key of Object.keys(e.detail ?? {})) expect(key).not.toMatch(/secret|private|^pin$|^puk$|channel.?key/i);
  }
}

describe('teach server', () => {
  it('serves the page and the scenario list on 127.0.0.1', async () => {
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const page = await fetch(server.url);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("default-src 'self'");
    const html = await page.text();
    expect(html).toContain('id="events"');
    const script = /src="\.\/(assets\/[^"]+\.js)"/.exec(html)?.[1];
    expect(script).toBeDefined();
    expect((await fetch(new URL(script!, server.url))).status).toBe(200);
    expect(html).not.toMatch(/https?:\/\/(?!127\.0\.0\.1)/);
    const scenarios = (await (await fetch(new URL('/api/scenarios', server.url))).json()) as any;
    expect(scenarios.flows.map((f: { id: string }) => f.id)).toEqual(['online', 'offline', 'channel']);
    expect(scenarios.attacks.map((a: { id: string }) => a.id)).toEqual(['none', 'tamper-frame', 'replay-frame', 'replay-payment', 'alter-amount', 'impersonate-tee-os']);
    expect(scenarios.attacks.find((a: { id: string }) => a.id === 'impersonate-tee-os').flows).toEqual(['channel']);
    expect(scenarios.users.map((u: { id: string }) => u.id)).toEqual(['confirm', 'reject', 'wrong-pin']);
    expect(scenarios.pinAbove).toBe(10_000);
  });

  it.each(['online', 'offline'])('%s payment: three lanes, completed, no secret in the REE lane', async (flow) => {
    const result = await run(flow);
    expect(result.outcome.status).toBe('completed');
    expect(new Set(result.events.map((e) => e.lane))).toEqual(new Set(['REE', 'TEE', 'TK']));
    expect(result.events.map((e) => e.id)).toEqual(result.events.map((_, i) => i));
    expect(result.events.some((e) => e.kind === 'rejected')).toBe(false);
    expectNoSecretsInRee(result);
  }, 120_000);

  it.each(['online', 'offline'])('%s payment: each channel frame is drawn as the REE carries it, and the REE never learns a key id', async (flow) => {
    const { events } = await run(flow);
    const calls = events.filter((e) => e.lane === 'TEE' && /^calls tk\./.test(e.text));
    expect(calls.length).toBeGreaterThan(0);
    for (const call of calls) {
      // The TEE OS sees the request in plaintext; the next thing that happens is the REE carrying it, sealed.
      expect(call.detail?.keyId).toMatch(/^[0-9a-f]{32}$/);
      const frame = events[call.id + 1]!;
      expect(frame).toMatchObject({ lane: 'REE', detail: { route: 'TEE OS -> trusted key' } });
      expect(frame.actor).toMatch(/^link:/);
      expect(String(frame.detail?.header)).toMatch(/^type DATA, epoch \d+, seq \d+/);
      expect(String(frame.detail?.ciphertext)).toMatch(/^[0-9a-f]+…[0-9a-f]+ \(\d+ B\)$/);
      const answered = events.find((e) => e.id > call.id && e.lane === 'TEE' && e.text === `${call.text.slice(6, call.text.indexOf(' ', 6))} answered`);
      expect(answered, `no answer to ${call.text}`).toBeDefined();
      expect(events[answered!.id - 1]).toMatchObject({ lane: 'REE', detail: { route: 'trusted key -> TEE OS' } });
    }
    // The REE passes a handle; the TA maps it to the trusted key's key id, which stays inside.
    const ree = reeText({ events } as RunResult);
    for (const call of calls) expect(ree.includes(String(call.detail!.keyId))).toBe(false);
    const invoke = events.find((e) => e.lane === 'REE' && e.actor === 'client-api' && /^invokes command/.test(e.text))!;
    const command = events[invoke.id + 1]!;
    expect(command.lane).toBe('TEE');
    expect(String(invoke.detail?.param2)).toContain(String(command.detail?.handle).split(' ')[0]!);
  }, 120_000);

  it('a tampered frame is drawn as carried, after the attack and before the refusal', async () => {
    const { events } = await run('online', 'tamper-frame');
    const attackAt = events.findIndex((e) => e.kind === 'attack');
    const carried = events[attackAt + 1]!;
    expect(carried).toMatchObject({ lane: 'REE', detail: { route: 'TEE OS -> trusted key' } });
    // What the REE forwards is the altered frame (the flipped bit sits in the tag, at the end).
    const tail = (v: unknown) => /…([0-9a-f]+) /.exec(String(v))?.[1];
    expect(tail(carried.detail?.ciphertext)).toBe(tail(events[attackAt]!.detail?.after));
    expect(tail(carried.detail?.ciphertext)).not.toBe(tail(events[attackAt]!.detail?.before));
    expect(events.findIndex((e) => e.kind === 'rejected')).toBeGreaterThan(attackAt + 1);
  }, 120_000);

  it.each(['online', 'offline'])('%s payment, a replayed frame: drawn twice with one sequence number, refused as out of sequence, and the user is never asked', async (flow) => {
    const { events, outcome } = await run(flow, 'replay-frame');
    const attackAt = events.findIndex((e) => e.kind === 'attack');
    const [first, copy] = [events[attackAt + 1]!, events[attackAt + 2]!];
    for (const f of [first, copy]) expect(f).toMatchObject({ lane: 'REE', detail: { route: 'TEE OS -> trusted key' } });
    expect(copy.detail?.header).toBe(first.detail?.header);
    expect(copy.detail?.ciphertext).toBe(first.detail?.ciphertext);
    const rejected = events.find((e) => e.kind === 'rejected')!;
    expect(rejected).toMatchObject({ lane: 'TK', actor: 'communication-agent', detail: { code: 'SECURITY' } });
    expect(String(rejected.detail?.why)).toMatch(/out of sequence/);
    expect(outcome).toMatchObject({ status: 'rejected', code: 'SECURITY' });
    // The request the key read before the copy belongs to the dead channel: no trusted-UI screen follows.
    expect(events.some((e) => e.actor === 'trusted-ui')).toBe(false);
  }, 120_000);

  it.each([
    ['online', 'tamper-frame'],
    ['online', 'replay-frame'],
    ['online', 'replay-payment'],
    ['online', 'alter-amount'],
    ['offline', 'tamper-frame'],
    ['offline', 'replay-frame'],
    ['offline', 'replay-payment'],
    ['offline', 'alter-amount'],
    ['channel', 'tamper-frame'],
    ['channel', 'replay-frame'],
    ['channel', 'replay-payment'],
    ['channel', 'alter-amount'],
    ['channel', 'impersonate-tee-os'],
  ])('%s payment with %s: the attack and the rejection appear with a code', async (flow, attack) => {
    const result = await run(flow, attack);
    expect(result.outcome.status).toBe('rejected');
    expect(result.outcome.code).toMatch(/^[A-Z_]+$/);
    const attackAt = result.events.findIndex((e) => e.kind === 'attack');
    const rejectedAt = result.events.findIndex((e) => e.kind === 'rejected');
    expect(attackAt).toBeGreaterThanOrEqual(0);
    expect(rejectedAt).toBeGreaterThan(attackAt);
    expect(result.events[rejectedAt]!.detail?.code).toBe(result.outcome.code);
    expect(result.outcome.defence).toMatch(/\w/);
    expectNoSecretsInRee(result);
  }, 120_000);

  /** The handshake messages the REE carried, as [stage, route] in order. */
  function handshakes(result: RunResult): [number, string][] {
    return result.events.flatMap((e) => {
      const m = /^carries handshake message (\d)/.exec(e.text);
      return m && e.lane === 'REE' ? [[Number(m[1]), String(e.detail?.route)] as [number, string]] : [];
    });
  }
  const HANDSHAKE: [number, string][] = [[1, 'trusted key -> TEE OS'], [2, 'TEE OS -> trusted key'], [3, 'trusted key -> TEE OS']];

  it('channel set-up: the REE carries the three handshake messages and reads them (identities, ephemeral keys), then the key pays over the new channel', async () => {
    const result = await run('channel');
    expect(result.outcome.status).toBe('completed');
    expect(handshakes(result)).toEqual(HANDSHAKE);
    const [hello, answer, finish] = result.events.filter((e) => /^carries handshake message/.test(e.text));
    expect(hello!.detail).toMatchObject({ offers: 'chacha20-poly1305, aes-256-gcm', ephemeral: expect.stringMatching(/\(32 B\)$/) });
    expect(answer!.detail?.certificate).toMatch(/^tee-os alice-tee-os, \w+, issued by vendor-root$/);
    expect(finish!.detail?.certificate).toMatch(/^trusted-key alice-trusted-key, \w+, issued by issuer-root$/);
    const up = result.events.find((e) => e.lane === 'TK' && e.text === 'secure channel up')!;
    expect(up.detail).toMatchObject({ peer: 'alice-tee-os', verified: expect.stringContaining('vendor-root') });
    // The first record after the handshake starts a new sequence under new keys.
    const firstRecord = result.events.find((e, i) => i > result.events.indexOf(finish!) && /^carries record/.test(e.text))!;
    expect(firstRecord.detail?.header).toMatch(/^type READY, epoch 0, seq 0/);
    expect(result.events.at(-1)).toMatchObject({ kind: 'result', text: 'payment completed: 25.50 CNY' });
    expectNoSecretsInRee(result);
  }, 120_000);

  it.each([
    ['tamper-frame', /finished MAC does not verify/],
    ['impersonate-tee-os', /certificate: signature by "vendor-root" does not verify/],
    ['replay-frame', /confirmation record 0/],
  ])('channel set-up with %s: the trusted key refuses the handshake, then sets up its channel with the real TEE OS and pays', async (attack, why) => {
    const result = await run('channel', attack as string);
    expect(result.outcome).toMatchObject({ status: 'rejected', code: 'SECURITY', defence: expect.stringMatching(/\w/) });
    const refusal = result.events.find((e) => e.kind === 'rejected')!;
    expect(refusal).toMatchObject({ lane: 'TK', actor: 'communication-agent', detail: { code: 'SECURITY' } });
    expect(String(refusal.detail?.why)).toMatch(why);
    // The compromised REE acted on message 2; after the refusal, a whole fresh handshake, then the payment.
    const attackAt = result.events.findIndex((e) => e.kind === 'attack');
    expect(result.events[attackAt + 1]!.text).toMatch(/^carries handshake message 2 TEE OS -> trusted key/);
    const after = result.events.slice(result.events.indexOf(refusal));
    expect(handshakes({ ...result, events: after })).toEqual(HANDSHAKE);
    expect(after.some((e) => e.lane === 'TK' && e.text === 'secure channel up')).toBe(true);
    expect(result.events.at(-1)).toMatchObject({ kind: 'result', text: expect.stringMatching(/real TEE OS; payment completed: 25\.50 CNY$/) });
    if (attack === 'impersonate-tee-os') {
      // The forgery names the real TEE OS and root: names prove nothing, only the root's key does.
      expect(result.events[attackAt + 1]!.detail?.certificate).toMatch(/^tee-os alice-tee-os, p256, issued by vendor-root$/);
      expect(result.events[attackAt]!.detail?.sent).not.toBe(result.events[attackAt]!.detail?.dropped);
    }
    expectNoSecretsInRee(result);
  }, 120_000);

  it('an amount above the PIN limit completes with the PIN asked on the trusted UI (never shown); an overspend is refused', async () => {
    const { json: pinned } = await post('/api/run', { flow: 'online', amount: 15_000 });
    expect(pinned.outcome.status).toBe('completed');
    expect(pinned.events.some((e: { lane: string; text: string }) => e.lane === 'TK' && /PIN/.test(e.text))).toBe(true);
    expectNoSecretsInRee(pinned as RunResult);
    const { json: over } = await post('/api/run', { flow: 'offline', amount: 900_000 });
    expect(over.outcome).toMatchObject({ status: 'rejected', code: 'ACCESS_DENIED' });
    expect(over.events.find((e: { kind: string }) => e.kind === 'rejected')).toMatchObject({ lane: 'TK', detail: { code: 'ACCESS_DENIED' } });
  }, 120_000);

  /** The trusted key's events from its question to the user on (what it did with the answer). */
  function afterAsking(result: RunResult) {
    const asked = result.events.findIndex((e) => e.lane === 'TK' && /^asking the user/.test(e.text));
    expect(asked).toBeGreaterThan(0);
    return result.events.slice(asked);
  }

  it.each(['online', 'offline'])('%s: the payer rejects on the trusted UI; nothing is signed, the REE learns only CANCEL', async (flow) => {
    const { status, json } = await post('/api/run', { flow, user: 'reject' });
    expect(status).toBe(200);
    const result = json as RunResult;
    expect(result.user).toBe('reject');
    expect(result.outcome).toMatchObject({ status: 'rejected', code: 'CANCEL' });
    expect(result.outcome.defence).toMatch(/rejected the payment on the trusted UI/);
    const after = afterAsking(result);
    expect(after.find((e) => e.actor === 'trusted-ui')?.text).toMatch(/-> declined$/);
    // The refusal is drawn where the trusted key makes it, before its answer leaves; then the REE's call fails.
    const refusal = after.findIndex((e) => e.kind === 'rejected');
    expect(after[refusal]).toMatchObject({ lane: 'TK', actor: 'trusted-interaction', text: 'user declined: nothing is signed', detail: { code: 'CANCEL' } });
    expect(after.slice(refusal + 1).some((e) => e.lane === 'REE' && /^carries record/.test(e.text) && e.detail?.route === 'trusted key -> TEE OS')).toBe(true);
    expect(after.at(-1)).toMatchObject({ lane: 'REE', text: expect.stringMatching(/^the call failed/), detail: { code: 'CANCEL' } });
    expect(after.some((e) => /signed/.test(e.text) && !/nothing is signed/.test(e.text))).toBe(false);
    expect(result.events.some((e) => /POST \/v1\/payments/.test(e.text))).toBe(false);
    expectNoSecretsInRee(result);
  }, 120_000);

  it.each(['online', 'offline'])('%s: the payer types a wrong PIN; a try is taken, nothing is signed, neither PIN is shown', async (flow) => {
    const { status, json } = await post('/api/run', { flow, user: 'wrong-pin' });
    expect(status).toBe(200);
    const result = json as RunResult;
    expect(result.outcome).toMatchObject({ status: 'rejected', code: 'ACCESS_DENIED' });
    expect(result.outcome.defence).toMatch(/takes a try/);
    expect(result.events.some((e) => e.lane === 'REE' && /150\.00 CNY/.test(e.text))).toBe(true); // the default amount needs the PIN
    const after = afterAsking(result);
    expect(after[0]!.detail?.pinRequired).toBe(true);
    expect(after.find((e) => e.actor === 'trusted-ui')?.text).toMatch(/-> confirmed, PIN entered \(not shown\)$/);
    expect(after.find((e) => e.kind === 'rejected')).toMatchObject({
      lane: 'TK', actor: 'trusted-interaction', text: 'wrong PIN: nothing is signed', detail: { triesLeft: 2, code: 'ACCESS_DENIED' },
    });
    // The TEE OS sees the trusted key's error answer, and returns it to the REE as the command's result.
    expect(after.filter((e) => e.lane === 'TEE' && /(answered with an error|failed): ACCESS_DENIED$/.test(e.text))).toHaveLength(2);
    expect(after.at(-1)).toMatchObject({ lane: 'REE', text: 'the call failed: PIN: wrong, 2 tries left', detail: { code: 'ACCESS_DENIED' } });
    expect(after.some((e) => /signed/.test(e.text) && !/nothing is signed/.test(e.text))).toBe(false);
    expectNoSecretsInRee(result); // runner.secrets() holds the right and the wrong PIN
  }, 120_000);

  it('refuses bad input with a code and no stack trace', async () => {
    for (const body of [
      { flow: 'cash' }, { flow: 'online', attack: 'rm -rf' }, { flow: 'online', amount: -1 }, { flow: 'online', amount: 1.5 }, [], 'x',
      { flow: 'online', user: 'shrug' },
      { flow: 'online', user: 'reject', attack: 'tamper-frame' }, // one lesson at a time
      { flow: 'offline', user: 'wrong-pin', amount: 10_000 }, // at the limit no PIN is asked
      { flow: 'online', attack: 'impersonate-tee-os' }, // no handshake in that flow
    ]) {
      const { status, json } = await post('/api/run', body);
      expect(status).toBe(400);
      expect(json.error.code).toBe('BAD_PARAMETERS');
      expect(JSON.stringify(json)).not.toMatch(/at .*\.ts/);
    }
    const big = await post('/api/run', { flow: 'online', pad: 'x'.repeat(10_000) });
    expect(big.status).toBe(400);
    expect((await fetch(new URL('/api/run', server.url))).status).toBe(405);
    expect((await fetch(new URL('/nope', server.url))).status).toBe(404);
  });

  it('refuses a foreign Host header (DNS rebinding)', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(server.url, { headers: { host: 'evil.example:80' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end();
    });
    expect(status).toBe(403);
  });

  it('redacts secret-named detail fields and PUK digits in any lane', () => {
    const out = redactEvent({ lane: 'TK', actor: 'x', text: 'your PUK is 12345678', detail: { pin: '1234', secretKey: 'ab', channelKey: 'cd', pinTriesLeft: 3, publicKey: 'ef' } });
    expect(out.text).not.toContain('12345678');
    expect(out.detail).toEqual({ pin: '[withheld]', secretKey: '[withheld]', channelKey: '[withheld]', pinTriesLeft: 3, publicKey: 'ef' });
  });
});
