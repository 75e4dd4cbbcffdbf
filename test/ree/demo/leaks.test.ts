/**
 * Everything the REE sees over a whole demo world — Client API bytes, channel frames it carried,
 * HTTP bodies to and from the backend, QR texts and images, REE-lane trace events, the phones'
 * REE-visible LevelDB files — holds no private key, PIN, channel key or CPK scalar.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { toHex, utf8 } from '../../../src/common/bytes.js';
import { Trace } from '../../../src/common/trace.js';
import { PROVIDERS } from '../../../src/crypto/index.js';
import { ReeCapture } from '../../../src/ree/client-api/index.js';
import { createDemoWorld, runOfflinePayment, runOnlinePayment, type DemoWorld } from '../../../src/ree/demo/index.js';
import { showQr } from '../../../src/ree/wallet/index.js';
import { spyProvider } from '../../device/fixtures.js';

async function filesUnder(dir: string): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await filesUnder(p)));
    else out.push(new Uint8Array(await readFile(p)));
  }
  return out;
}

describe('REE capture over the whole demo world', () => {
  let world: DemoWorld | undefined;
  const realFetch = globalThis.fetch;
  afterAll(async () => {
    globalThis.fetch = realFetch;
    await world?.close();
  });

  it('no secret reaches any REE-visible byte', async () => {
    const spy = spyProvider(PROVIDERS.native);
    const capture = new ReeCapture();
    // HTTP: every request body and response body the wallets exchange with the backend.
    globalThis.fetch = async (input, init) => {
      if (typeof init?.body === 'string') capture.hook('ree->tee', utf8(init.body));
      const res = await realFetch(input, init);
      capture.hook('tee->ree', utf8(await res.clone().text()));
      return res;
    };
    const trace = new Trace();
    const pin = '73925184';
    world = await createDemoWorld({ trace: trace.sink, backend: 'in-process', provider: spy.provider, capture: capture.hook, matrixSize: 8, pin });
    const online = await runOnlinePayment(world, { amount: 15_000 }); // above the PIN limit: the PIN is entered
    const offline = await runOfflinePayment(world, { amount: 700 });
    for (const text of [online.qrText, offline.offerQrText, offline.paymentQrText]) {
      capture.hook('tee->ree', utf8(text));
      capture.hook('tee->ree', await showQr(text));
    }
    for (const e of trace.events.filter((e) => e.lane === 'REE')) capture.hook('tee->ree', utf8(JSON.stringify(e)));
    for (const phone of [world.phones.payer, world.phones.payee]) {
      for (const f of phone.interceptor.frames()) capture.hook('tee->ree', f);
      for (const d of phone.paths.reeVisible) for (const f of await filesUnder(d)) capture.hook('tee->ree', f);
    }
    expect(world.users.payer.prompts.some((p) => p.requirePin)).toBe(true);

    const secrets = [...spy.secrets(), utf8(pin)];
    expect(secrets.length).toBeGreaterThan(20);
    expect(capture.totalBytes).toBeGreaterThan(10_000);
    const leaked = secrets.filter((s) => capture.contains(s)).map((s) => `${s.length} bytes starting ${toHex(s).slice(0, 8)}`);
    expect(leaked).toEqual([]);
    // The scan does find a secret when one is there.
    const control = new ReeCapture();
    control.hook('tee->ree', utf8(`{"x":"${toHex(secrets[0]!)}"}`));
    expect(control.contains(secrets[0]!)).toBe(true);
  }, 30_000);
});
