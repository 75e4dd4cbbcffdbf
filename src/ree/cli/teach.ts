/** `tee-sim teach`: placeholder registered until its issue lands. */
import type { Command } from 'commander';
import { TeeError } from '../../common/errors.js';

export function registerTeachCommands(program: Command, _getDataDir: () => string): void {
  program
    .command('teach')
    .description('(not built yet)')
    .allowUnknownOption()
    .action(() => {
      throw new TeeError('NOT_SUPPORTED', '"teach" is not built yet', 'API');
    });
}
