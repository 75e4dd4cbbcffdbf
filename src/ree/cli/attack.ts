/**
 * `tee-sim attack`: run the attack catalogue (src/ree/harness) and print its report.
 *   --all | --only NAME (repeatable or comma list) | --list | --json | --full
 * Progress goes to stderr, one line per scenario; the exit code is 1 if any defence failed.
 */
import type { Command } from 'commander';
import { TeeError } from '../../common/errors.js';

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export function registerAttackCommands(program: Command, _getDataDir: () => string): void {
  program
    .command('attack')
    .description('run the hostile-REE attack catalogue and the secret-leak scan; non-zero exit if a defence fails')
    .option('--all', 'run every scenario (the default)')
    .option('--only <names>', 'run only these scenarios (repeatable, or a comma list)', collect, [] as string[])
    .option('--list', 'list the scenarios and exit')
    .option('--json', 'print the report as JSON')
    .option('--full', 'long fuzzing runs (at least 100,000 cases in total)')
    .action(async (opts: { all?: boolean; only: string[]; list?: boolean; json?: boolean; full?: boolean }) => {
      // Loaded on demand: the catalogue pulls in the whole simulator.
      const { CATALOGUE, formatReport, runCatalogue, selectScenarios } = await import('../harness/catalogue.js');
      if (opts.list) {
        for (const s of CATALOGUE) process.stdout.write(opts.json ? '' : `${s.name.padEnd(30)} ${s.attack}\n`);
        if (opts.json) process.stdout.write(`${JSON.stringify(CATALOGUE.map((s) => ({ name: s.name, attack: s.attack, expectedDefence: s.expectedDefence })), null, 2)}\n`);
        return;
      }
      if (opts.all && opts.only.length > 0) throw new TeeError('BAD_PARAMETERS', 'attack: give --all or --only, not both', 'API');
      selectScenarios(opts.only); // unknown names fail here, before any world is built
      const report = await runCatalogue({
        only: opts.only,
        full: opts.full ?? false,
        onProgress: (e) => {
          if (e.phase === 'start') process.stderr.write(`[${e.index + 1}/${e.total}] ${e.name} ...`);
          else process.stderr.write(` ${e.row?.verdict ?? ''} (${e.row?.ms ?? 0} ms)\n`);
        },
      });
      process.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatReport(report)}\n`);
      if (report.failed > 0) process.exitCode = 1;
    });
}
