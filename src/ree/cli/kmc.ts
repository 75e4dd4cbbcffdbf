/** `tee-sim kmc`: placeholder registered until its issue lands. */
import type { Command } from 'commander';
import { TeeError } from '../../common/errors.js';

export function registerKmcCommands(program: Command, _getDataDir: () => string): void {
  program
    .command('kmc')
    .description('(not built yet)')
    .allowUnknownOption()
    .action(() => {
      throw new TeeError('NOT_SUPPORTED', '"kmc" is not built yet', 'API');
    });
}
