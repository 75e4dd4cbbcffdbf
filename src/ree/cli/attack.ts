/** `tee-sim attack`: placeholder registered until its issue lands. */
import type { Command } from 'commander';
import { TeeError } from '../../common/errors.js';

export function registerAttackCommands(program: Command, _getDataDir: () => string): void {
  program
    .command('attack')
    .description('(not built yet)')
    .allowUnknownOption()
    .action(() => {
      throw new TeeError('NOT_SUPPORTED', '"attack" is not built yet', 'API');
    });
}
