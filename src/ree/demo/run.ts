/**
 * `tee-sim demo`: builds a world in a temp dir with a real backend child process, runs the online
 * and/or offline payment, prints the three-lane trace as it happens (or JSON at the end), one
 * terminal QR code and a summary, and cleans up the temp dir and the child — also on error or SIGINT.
 */
import type { Writable } from 'node:stream';
import { TeeError } from '../../common/errors.js';
import { Trace } from '../../common/trace.js';
import type { CryptoProvider } from '../../crypto/provider.js';
import { renderQrTerminal } from '../qr/index.js';
import { runOfflinePayment, runOnlinePayment } from './flows.js';
import { formatSummary, formatTraceEvent } from './print.js';
import { createDemoWorld, type DemoSummary, type DemoWorld } from './world.js';

export type DemoWhich = 'both' | 'online' | 'offline';

export interface RunDemoOptions {
  which: DemoWhich;
  json?: boolean;
  out: Writable;
  backend?: 'process' | 'in-process';
  provider?: CryptoProvider;
  width?: number;
}

const RULE = '─'.repeat(98);

export async function runDemo(options: RunDemoOptions): Promise<DemoSummary> {
  const trace = new Trace();
  const width = options.width ?? 100;
  const write = (line: string) => options.out.write(`${line}\n`);
  const section = (title: string) => {
    if (!options.json) write(`\n${RULE}\n${title}\n${RULE}`);
  };
  if (!options.json) {
    write('tee-sim demo: what each world sees. Lanes: REE (rich OS, untrusted) | TEE OS | TRUSTED key');
    trace.onEvent((e) => {
      // Set-up and tear-down are routine: only the REE lane shows there (--json has everything).
      if (phase === 'flows' || (phase === 'setup' && e.lane === 'REE')) formatTraceEvent(e, width).forEach(write);
      else if (phase === 'setup') hidden++;
    });
  }

  let phase: 'setup' | 'flows' | 'done' = 'setup';
  let hidden = 0;
  let world: DemoWorld | undefined;
  let interrupted: Promise<void> | undefined;
  const worldReady = createDemoWorld({
    trace: trace.sink,
    backend: options.backend ?? 'process',
    ...(options.provider ? { provider: options.provider } : {}),
  });
  // On Ctrl-C: tear the world down (child process, temp dir) before leaving.
  const onSignal = () => {
    phase = 'done';
    options.out.write('\ninterrupted: stopping the backend and removing the temp dir…\n');
    interrupted ??= worldReady.then((w) => w.close(), () => undefined);
    void interrupted.finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    section(`Setting up: KMC, backend (${options.backend ?? 'process'}), two phones (payer alice, payee shop)`);
    world = await worldReady;
    if (!options.json) write(`(${hidden} set-up events of the TEE OS and trusted keys not shown; --json has them)`);
    phase = 'flows';
    let qrShown = false;
    const showQrOnce = async (title: string, text: string) => {
      if (options.json || qrShown) return;
      qrShown = true;
      write(`\n${title}\n${await renderQrTerminal(text)}`);
    };
    if (options.which !== 'offline') {
      section('Online payment: shop asks 12.34 CNY, alice confirms on the trusted UI, backend settles');
      const r = await runOnlinePayment(world, { amount: 1234 });
      await showQrOnce(`The payment request alice's camera read (${r.qrText.length} characters):`, r.qrText);
    }
    if (options.which !== 'online') {
      section('Offline payment: shop signs an offer, alice pays from her offline balance, both sync later');
      const r = await runOfflinePayment(world, { amount: 500 });
      await showQrOnce(`The signed offline offer alice's camera read (${r.offerQrText.length} characters):`, r.offerQrText);
    }
    phase = 'done';
    const summary = await world.summary();
    if (options.json) {
      write(JSON.stringify({ events: trace.events, summary }, null, 2));
    } else {
      write(`\n${RULE}`);
      formatSummary(summary).forEach(write);
    }
    return summary;
  } catch (err) {
    // A flow cut short by Ctrl-C fails on the closed world: report the interruption, not that failure.
    if (interrupted) {
      await interrupted;
      throw new TeeError('CANCEL', 'demo interrupted', 'API');
    }
    throw err;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (!interrupted) await (world ? world.close() : worldReady.then((w) => w.close(), () => undefined));
  }
}
