/**
 * The whole attack catalogue in quick mode (small fuzz samples): every scenario's defence must hold
 * (plain-CPK collusion is reported as a known limit), and the leak scan over every world finds nothing.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { CATALOGUE, LEAK_SCAN_NAME, formatReport, runCatalogue, selectScenarios, type CatalogueReport } from '../../../src/ree/harness/catalogue.js';
import { TeeError } from '../../../src/common/errors.js';

describe('attack catalogue (quick mode)', () => {
  let report: CatalogueReport;
  beforeAll(async () => {
    report = await runCatalogue({ full: false });
  }, 180_000);

  it('has at least 20 scenarios with unique names', () => {
    expect(CATALOGUE.length).toBeGreaterThanOrEqual(20);
    expect(new Set(CATALOGUE.map((s) => s.name)).size).toBe(CATALOGUE.length);
  });

  for (const s of CATALOGUE) {
    it(`${s.name}: ${s.expectedDefence}`, () => {
      const row = report.rows.find((r) => r.name === s.name)!;
      expect(row, 'ran').toBeDefined();
      if (s.name === 'cpk-collusion-plain') expect(row.verdict, row.observed).toBe('known-limit');
      else expect(row.verdict, row.observed).toBe('defended');
    });
  }

  it('the leak scan over every world finds no secret', () => {
    const row = report.rows.find((r) => r.name === LEAK_SCAN_NAME)!;
    expect(report.leaks).toEqual([]);
    expect(report.bytesScanned).toBeGreaterThan(100_000);
    expect(row.verdict).toBe('defended');
  });

  it('the report is a table ending with "N passed, N failed", known limits listed separately', () => {
    const text = formatReport(report);
    const lines = text.split('\n');
    expect(lines[lines.length - 1]).toBe(`${report.rows.length} passed, 0 failed`);
    expect(text).toContain('known limits (counted as passed): cpk-collusion-plain');
    expect(text).toMatch(/leak scan: \d+ bytes scanned, zero secrets found/);
    expect(report.fuzzCases).toBeGreaterThan(500);
  });

  it('an unknown scenario name is a clear error listing the names', () => {
    let err: unknown;
    try {
      selectScenarios(['channel-tamper,no-such-attack']);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TeeError);
    expect((err as TeeError).message).toMatch(/unknown scenario no-such-attack; known: channel-tamper, /);
    expect(selectScenarios(['forged-handle', 'expired-qr,user-rejects']).map((s) => s.name)).toEqual(['forged-handle', 'user-rejects', 'expired-qr']);
  });
});
