/**
 * The teaching page in a real browser: starts `tee-sim teach`'s server on a free port, drives Debian's
 * Chromium (/usr/bin/chromium, or $CHROMIUM_PATH) through playwright-core, runs a payment, opens a
 * message's detail panel, plays a payer who types a wrong PIN, turns on the compromised REE and
 * checks the rejection is drawn, sets up the channel afresh against a fake TEE OS, and steps
 * through a run one message at a time.
 * Skips, saying why, when no Chromium is installed (`apt-get install -y chromium`), unless
 * TEE_SIM_REQUIRE_BROWSER=1 (CI sets it): then a missing browser fails the run instead.
 *
 * Run: npm run test:browser
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { createTeachRunner, type TeachRunner } from '../src/ree/teach/runner.js';
import { startTeachServer, type RunningTeachServer } from '../src/ree/teach/server.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium && process.env.TEE_SIM_REQUIRE_BROWSER === '1') {
  throw new Error(`teach.browser.test: TEE_SIM_REQUIRE_BROWSER=1 but there is no Chromium at ${CHROMIUM}`);
}
if (!haveChromium) console.warn(`teach.browser.test: skipped, no Chromium at ${CHROMIUM} (apt-get install -y chromium, or set CHROMIUM_PATH)`);

describe.skipIf(!haveChromium)('teaching page in Chromium', () => {
  let dir: string;
  let runner: TeachRunner;
  let server: RunningTeachServer;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];
  const offsite: string[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tee-sim-teach-browser-'));
    runner = await createTeachRunner({ dataDir: join(dir, 'data') });
    server = await startTeachServer({ port: 0, runner: runner.run });
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
        // playwright gives every launch a fresh, empty user-data-dir of its own.
        '--disable-component-update', '--disable-sync',
      ],
    });
    page = await browser.newPage();
    page.on('pageerror', (err) => pageErrors.push(err.message));
    page.on('request', (req) => {
      if (!req.url().startsWith(server.url)) offsite.push(req.url());
    });
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await runner?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('runs an honest payment and shows what each side sees', async () => {
    await page.goto(server.url);
    await expect.poll(() => page.locator('#attack option').count()).toBeGreaterThan(0);
    await page.click('#run');
    await page.waitForSelector('#status.completed', { timeout: 90_000 });
    for (const lane of ['REE', 'TEE', 'TK']) expect(await page.locator(`#events .event[data-lane="${lane}"]`).count()).toBeGreaterThan(0);

    await page.locator('#events .event[data-lane="TK"] .msg').first().click();
    expect(await page.getAttribute('#detail', 'data-lane')).toBe('TK');
    expect(await page.textContent('#detail h2')).toContain('trusted key');
    await page.locator('#events .event[data-lane="REE"] .msg').first().click();
    expect(await page.getAttribute('#detail', 'data-lane')).toBe('REE');
    expect(await page.textContent('#detail')).toContain('ciphertext');
    expect(await page.locator('#events .msg.selected').count()).toBe(1);

    // A channel frame as the REE carries it: a readable header, ciphertext; the TEE OS's side of the same request in plaintext.
    await page.locator('#events .event[data-lane="REE"] .msg', { hasText: 'carries record' }).first().click();
    expect(await page.textContent('#detail')).toMatch(/header\s*type DATA, epoch \d+, seq \d+/);
    expect(await page.textContent('#detail')).toContain('ciphertext');
    await page.locator('#events .event[data-lane="TEE"] .msg', { hasText: 'calls tk.signOnlinePayment' }).click();
    expect(await page.getAttribute('#detail', 'data-lane')).toBe('TEE');
    expect(await page.textContent('#detail')).toMatch(/keyId\s*[0-9a-f]{32}/);
  });

  it('the payer types a wrong PIN: the amount is raised to need one, and the trusted key refuses it', async () => {
    await page.fill('#amount', '25.50');
    await page.selectOption('#user', 'wrong-pin');
    expect(await page.inputValue('#amount')).toBe('150.00');
    expect(await page.textContent('#note')).toContain('only above 100.00 CNY');
    await page.click('#run');
    await page.waitForSelector('#status.rejected', { timeout: 90_000 });
    expect(await page.textContent('#status')).toContain('ACCESS_DENIED');
    expect(await page.textContent('#defence')).toMatch(/^What happened: .*takes a try/);
    await page.locator('#events .event[data-lane="TEE"] .msg', { hasText: 'PIN entered (not shown)' }).click();
    expect(await page.getAttribute('#detail', 'data-lane')).toBe('TEE');
    await page.locator('#events .event[data-lane="TK"] .msg', { hasText: 'wrong PIN' }).click();
    expect(await page.textContent('#detail')).toMatch(/triesLeft\s*2/);
    // A compromised REE meets a payer who confirms: the choice goes back and is locked.
    await page.check('#compromised');
    expect(await page.inputValue('#user')).toBe('confirm');
    expect(await page.isDisabled('#user')).toBe(true);
    await page.fill('#amount', '25.50');
  });

  it('with a compromised REE, draws the rejection and its error code', async () => {
    await page.check('#compromised');
    await page.selectOption('#attack', 'tamper-frame');
    await page.click('#run');
    await page.waitForSelector('#status.rejected', { timeout: 90_000 });
    expect(await page.locator('#events .event.attack').count()).toBeGreaterThan(0);
    expect(await page.textContent('#defence')).toContain('authenticated');
    const rejected = page.locator('#events .event.rejected .msg').first();
    const code = (await rejected.locator('.code').textContent()) ?? '';
    expect(code).toMatch(/^[A-Z_]+$/);
    await rejected.click();
    expect(await page.textContent('#detail h3')).toContain(code);
  });

  it('channel set-up: a fake TEE OS is offered only there, refused in the handshake, and the payment then completes', async () => {
    const impersonate = page.locator('#attack option[value="impersonate-tee-os"]');
    expect(await impersonate.isDisabled()).toBe(true); // the online flow has no handshake
    await page.check('input[name="flow"][value="channel"]');
    expect(await impersonate.isDisabled()).toBe(false);
    await page.selectOption('#attack', 'impersonate-tee-os');
    await page.click('#run');
    await page.waitForSelector('#status.rejected', { timeout: 90_000 });
    expect(await page.textContent('#status')).toContain('SECURITY');
    expect(await page.textContent('#defence')).toContain('vendor root');
    await page.locator('#events .event[data-lane="REE"] .msg', { hasText: 'carries handshake message 2' }).first().click();
    expect(await page.textContent('#detail')).toMatch(/certificate\s*tee-os alice-tee-os/);
    await page.locator('#events .event.rejected .msg').first().click();
    expect(await page.textContent('#detail')).toMatch(/why\s*handshake stage 2: certificate/);
    expect(await page.textContent('#events .event.result')).toContain('payment completed');
    // Back to online: the attack is no longer offered, another one is chosen.
    await page.check('input[name="flow"][value="online"]');
    expect(await page.inputValue('#attack')).not.toBe('impersonate-tee-os');
    await page.screenshot({ path: process.env.TEACH_SCREENSHOT ?? join(dir, 'teach.png'), fullPage: true });
  });

  it('one step at a time: the diagram grows one message per step, the detail panel follows, the outcome comes last', async () => {
    await page.uncheck('#compromised');
    await page.check('#stepwise');
    await page.click('#run');
    await page.waitForSelector('#next:not([hidden])', { timeout: 90_000 });
    const visible = () => page.locator('#events .event:visible').count();
    const total = await page.locator('#events .event').count();
    expect(total).toBeGreaterThan(10);
    expect(await visible()).toBe(1);
    expect(await page.textContent('#progress')).toBe(`step 1 of ${total}`);
    expect(await page.textContent('#status')).toBe(''); // not told yet
    await page.click('#next');
    await page.click('#next');
    expect(await visible()).toBe(3);
    const third = page.locator('#events .event').nth(2);
    expect(await page.getAttribute('#detail', 'data-event-id')).toBe(await third.locator('.msg').getAttribute('data-id'));
    await page.keyboard.press('ArrowRight');
    expect(await visible()).toBe(4);
    await page.click('#all');
    expect(await visible()).toBe(total);
    expect(await page.textContent('#status')).toBe('Payment completed.');
    expect(await page.isHidden('#next')).toBe(true);
    await page.uncheck('#stepwise');
    expect(pageErrors).toEqual([]);
    expect(offsite).toEqual([]);
  });
});
