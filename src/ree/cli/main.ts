/**
 * `tee-sim` command line. Each subcommand group lives in its own module and registers itself here.
 * Errors become one line on stderr with their code and a non-zero exit, never a stack trace.
 */
import { Command, CommanderError } from 'commander';
import { TeeError } from '../../common/errors.js';
import { registerBackendCommands } from '../backend/cli.js';
import { registerAttackCommands } from './attack.js';
import { registerDemoCommands } from './demo.js';
import { registerDeviceCommands } from './device.js';
import { registerKmcCommands } from './kmc.js';
import { registerTeachCommands } from './teach.js';

export function buildProgram(): Command {
  const program = new Command('tee-sim')
    .description('A simulated TEE with a trusted key that holds keys and signs payments.')
    .option('--data <dir>', 'data directory for KMC, devices and backend state', './.tee-sim')
    .exitOverride()
    .showHelpAfterError();
  const getDataDir = (): string => program.opts<{ data: string }>().data;
  registerDemoCommands(program, getDataDir);
  registerKmcCommands(program, getDataDir);
  registerDeviceCommands(program, getDataDir);
  registerBackendCommands(program, getDataDir);
  registerAttackCommands(program, getDataDir);
  registerTeachCommands(program, getDataDir);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    if (err instanceof TeeError) {
      process.stderr.write(`tee-sim: ${err.code}: ${err.message}\n`);
      return 1;
    }
    process.stderr.write('tee-sim: internal error (run with NODE_DEBUG=tee-sim for details)\n');
    if (process.env.NODE_DEBUG?.includes('tee-sim')) process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
    return 70;
  }
}
