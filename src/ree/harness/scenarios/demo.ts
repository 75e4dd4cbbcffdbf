/** Payment-level checks on the real demo flows (src/ree/demo, in-process backend). */
import { runDemoLeakScan } from '../demo-scan.js';
import type { Scenario } from '../scenario.js';

export const demoScenarios: Scenario[] = [
  {
    name: 'demo-flows-leak-scan',
    attack: 'run the demo\'s online and offline payments and read every REE-visible byte (fetch wrapper, capture, frames, QR, printed trace, stores)',
    expectedDefence: 'the payments succeed and no TEE or trusted-key secret appears in any of those bytes',
    run: async (ctx) => {
      const r = await runDemoLeakScan({ payments: ctx.full ? 5 : 1 });
      ctx.addLeakScan(r.report);
      const found = r.report.leaks.map((l) => `${l.secret} in ${l.source} (${l.encoding})`).slice(0, 3).join('; ');
      return {
        observed: `${r.online} online + ${r.offline} offline payments, ${r.httpExchanges} HTTP exchanges; ${r.report.bytesScanned} bytes scanned for ${r.report.secrets} secrets: ${r.report.leaks.length === 0 ? 'zero found' : `FOUND ${found}`}`,
        defended: r.report.leaks.length === 0 && r.httpExchanges > 0,
      };
    },
  },
];
