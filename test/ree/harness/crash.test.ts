/**
 * Crash safety of payments: a child process (./fixtures/crash-child.ts) reopens two phones and the
 * backend ledger from one data dir and pays in a loop (alice's trusted key pays bob offline; the
 * ledger settles alice -> bob online), printing an ack after each durable step. It is killed with
 * SIGKILL at a random moment, CRASH_RUNS times (default 10 here; `CRASH_RUNS=50` for the full run).
 * Each restart must show: the ledger sum unchanged, every acknowledged settlement present, the
 * offline counter at the last acknowledged value (or one more, for the payment in flight) and the
 * offline balance exactly opening - amount x counter (debit and counter move together).
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rm } from 'node:fs/promises';
import { Ledger } from '../../../src/ree/backend/index.js';
import { createAdversary, OFFLINE_BALANCE } from '../../../src/ree/harness/adversary.js';
import { ALICE, BOB, LEDGER_OPENING, OFFLINE_AMOUNT, ONLINE_AMOUNT } from './fixtures/crash-model.js';

const CHILD = fileURLToPath(new URL('./fixtures/crash-child.ts', import.meta.url));
const RUNS = Number(process.env.CRASH_RUNS ?? 10);

interface Round {
  state?: { counter: number; offlineBalance: number; alice: number; bob: number; total: number; order: string };
  offlineAcks: number[];
  onlineAcks: string[];
  lastIndex: number;
  startupMs: number;
}

/** Start the child; kill it `delay` ms after it reports ready (or let `delay` be undefined to read the state and stop). */
function runChild(dir: string, first: number, lastOrder: string, delay: number | undefined): Promise<Round> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, dir, String(first), lastOrder], { stdio: ['ignore', 'pipe', 'pipe'] });
    const round: Round = { offlineAcks: [], onlineAcks: [], lastIndex: first - 1, startupMs: 0 };
    let pending = '';
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.stdout.on('data', (c: Buffer) => {
      pending += c.toString();
      const lines = pending.split('\n');
      pending = lines.pop()!; // a half-written line is not an ack
      for (const line of lines) {
        const f = line.split(' ');
        if (f[0] === 'state') {
          round.state = { counter: +f[1]!, offlineBalance: +f[2]!, alice: +f[3]!, bob: +f[4]!, total: +f[5]!, order: f[6]! };
        } else if (f[0] === 'ready') {
          round.startupMs = Date.now() - t0;
          setTimeout(() => child.kill('SIGKILL'), delay ?? 0);
        } else if (f[0] === 'ack' && f[1] === 'offline') {
          round.offlineAcks.push(+f[2]!);
          round.lastIndex = Math.max(round.lastIndex, +f[3]!);
        } else if (f[0] === 'ack' && f[1] === 'online') {
          round.onlineAcks.push(f[2]!);
        }
      }
    });
    child.on('error', reject);
    child.on('exit', (_code, signal) => {
      if (signal !== 'SIGKILL') reject(new Error(`crash child exited on its own: ${stderr.slice(0, 800)}`));
      else resolve(round);
    });
  });
}

describe('kill -9 during payments', () => {
  let dir: string;
  beforeAll(async () => {
    // Provision alice and bob once (the hostile world, kept on disk), and open the two ledger accounts.
    const adv = await createAdversary({ backend: false, keep: true });
    dir = adv.dir;
    await adv.close();
    const ledger = await Ledger.open(join(dir, 'ledger'), { sync: true });
    await ledger.openAccount(ALICE, 'CNY', LEDGER_OPENING);
    await ledger.openAccount(BOB, 'CNY', LEDGER_OPENING);
    await ledger.close();
  }, 60_000);
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it(`loses no acknowledged payment and keeps balances consistent over ${RUNS} SIGKILLs`, async () => {
    let first = 0;
    let lastOrder = '-';
    let lastCounter = 0;
    let settledBefore = 0; // online settlements seen at the previous restart
    let onlineAcked = 0; // acks since then
    let totalAcks = 0;
    let startup = 0;
    for (let run = 0; run <= RUNS; run++) {
      const killing = run < RUNS;
      // Random moment after start-up: 0-120 ms is anywhere from the first to the tenth payment.
      const round = await runChild(dir, first, lastOrder, killing ? Math.floor(Math.random() * 120) : 0);
      const s = round.state!;
      expect(s, 'child reported its state').toBeDefined();
      // Ledger: money is conserved and every acknowledged settlement survived.
      expect(s.total).toBe(2 * LEDGER_OPENING);
      expect(s.alice + s.bob).toBe(2 * LEDGER_OPENING);
      if (lastOrder !== '-') expect(s.order).toBe('present');
      const settled = (LEDGER_OPENING - s.alice) / ONLINE_AMOUNT;
      // Every acknowledged one is there; at most one more (the settlement in flight at the kill).
      expect(settled).toBeGreaterThanOrEqual(settledBefore + onlineAcked);
      expect(settled).toBeLessThanOrEqual(settledBefore + onlineAcked + 1);
      // Offline: the counter is the last acknowledged one, or one more (the payment in flight), and the
      // balance moved with it.
      expect(s.counter === lastCounter || s.counter === lastCounter + 1, `counter ${s.counter} after ack ${lastCounter}`).toBe(true);
      expect(s.offlineBalance).toBe(OFFLINE_BALANCE - OFFLINE_AMOUNT * s.counter);
      // This round's acks, for the next check.
      lastCounter = round.offlineAcks.length > 0 ? round.offlineAcks[round.offlineAcks.length - 1]! : s.counter;
      for (const [i, c] of round.offlineAcks.entries()) if (i > 0) expect(c).toBe(round.offlineAcks[i - 1]! + 1);
      settledBefore = settled;
      onlineAcked = round.onlineAcks.length;
      startup += round.startupMs;
      if (round.onlineAcks.length > 0) lastOrder = round.onlineAcks[round.onlineAcks.length - 1]!;
      totalAcks += round.offlineAcks.length + round.onlineAcks.length;
      first = round.lastIndex + 2; // skip the index that may have been in flight
    }
    expect(totalAcks, 'payments were acknowledged between kills').toBeGreaterThan(0);
    process.stderr.write(`crash test: ${RUNS} kills, ${totalAcks} acknowledged steps, mean child start-up ${Math.round(startup / (RUNS + 1))} ms\n`);
  }, 60_000 + RUNS * 5_000);
});
