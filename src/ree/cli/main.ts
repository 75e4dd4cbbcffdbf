/**
 * `tee-sim` command line. Each subcommand lives in its own module and registers itself here.
 * Errors become one line on stderr with their code and a non-zero exit, never a stack trace.
 */
import { Command, CommanderError } from 'commander';
import { TeeError } from '../../common/errors.js';

export function buildProgram(): Command {
  const program = new Command('tee-sim')
    .description('A simulated TEE with a trusted key that holds keys and signs payments.')
    .option('--data <dir>', 'data directory for KMC, devices and backend state', './.tee-sim')
    .exitOverride()
    .showHelpAfterError();

  program
    .command('demo')
    .description('run the end-to-end demo (channel demo until the payment flows exist)')
    .action(async () => {
      const { runChannelDemo } = await import('../../../scripts/demo-channel.js');
      await runChannelDemo({ out: process.stdout });
    });

  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    if (err instanceof TeeError) {
      process.stderr.write(`tee-sim: ${err.code}: ${err.message}\n`);
      return 1;
    }
    process.stderr.write(`tee-sim: internal error: ${err instanceof Error ? err.message : String(err)}\n`);
    return 70;
  }
}
