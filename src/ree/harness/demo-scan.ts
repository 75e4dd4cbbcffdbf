/**
 * The secret-leak scan over the real demo: builds the demo world (in-process backend) on a recording
 * provider, runs online and offline payments, and scans every REE-visible byte: Client API buffers,
 * link frames, HTTP bodies (through a recording fetch wrapper), QR texts, trace lines the REE printed
 * and the LevelDB stores. Returns the demo results with the leak report.
 */
import { join } from 'node:path';
import type { TraceEvent } from '../../common/trace.js';
import { nativeProvider } from '../../crypto/index.js';
import { createDemoWorld, runOfflinePayment, runOnlinePayment } from '../demo/index.js';
import { ReeCapture } from '../client-api/index.js';
import { recordingProvider, scanForLeaks, type LeakReport } from './leak-scanner.js';

export interface DemoScanResult {
  online: number;
  offline: number;
  report: LeakReport;
  /** HTTP exchanges recorded by the fetch wrapper. */
  httpExchanges: number;
}

/** Wrap the global fetch for the duration of `fn`, keeping every request and response body. */
async function recordingFetch<T>(bodies: { source: string; text: string }[], fn: () => Promise<T>): Promise<T> {
  const original = globalThis.fetch;
  globalThis.fetch = async (input, init) => {
    if (typeof init?.body === 'string') bodies.push({ source: 'http request', text: init.body });
    const res = await original(input, init);
    const text = await res.clone().text();
    bodies.push({ source: 'http response', text });
    return res;
  };
  try {
    return await fn();
  } finally {
    globalThis.fetch = original;
  }
}

export async function runDemoLeakScan(options: { payments?: number } = {}): Promise<DemoScanResult> {
  const rec = recordingProvider(nativeProvider);
  const capture = new ReeCapture();
  const trace: TraceEvent[] = [];
  const http: { source: string; text: string }[] = [];
  const n = options.payments ?? 2;
  return recordingFetch(http, async () => {
    const world = await createDemoWorld({
      provider: rec.provider, trace: (e) => trace.push(e), backend: 'in-process', capture: capture.hook, matrixSize: 8,
      wireLogBytes: Number.POSITIVE_INFINITY, // every frame is scanned
    });
    try {
      const qr: string[] = [];
      for (let i = 0; i < n; i++) {
        qr.push((await runOnlinePayment(world, { amount: 1_200 + i })).qrText);
        const off = await runOfflinePayment(world, { amount: 300 + i });
        qr.push(off.offerQrText, off.paymentQrText);
      }
      const phones = [world.phones.payer, world.phones.payee];
      const report = await scanForLeaks({
        // The backend's receipt key is among them too; it lives only in backend/key.json, which is not scanned.
        secrets: rec.secrets(),
        textSecrets: { pin: world.users.payer.pin },
        buffers: [
          ...capture.records.map((r) => ({ source: `client-api ${r.direction}`, bytes: r.bytes })),
          ...phones.flatMap((p) => p.interceptor.frames().map((bytes) => ({ source: `link ${p.name}`, bytes }))),
        ],
        texts: [...http, ...qr.map((text) => ({ source: 'qr', text })), ...trace.map((e) => ({ source: `${e.lane} trace (printed by the demo)`, text: JSON.stringify(e) }))],
        directories: [
          ...phones.flatMap((p) => p.paths.reeVisible.map((dir) => ({ source: `${p.name} store`, dir }))),
          { source: 'backend ledger', dir: join(world.dataDir, 'backend', 'ledger') },
        ],
      });
      return { online: n, offline: n, report, httpExchanges: http.filter((h) => h.source === 'http response').length };
    } finally {
      await world.close();
    }
  });
}
