/** `tee-sim device`: placeholder registered until its issue lands. */
import type { Command } from 'commander';
import { TeeError } from '../../common/errors.js';

export function registerDeviceCommands(program: Command, _getDataDir: () => string): void {
  program
    .command('device')
    .description('(not built yet)')
    .allowUnknownOption()
    .action(() => {
      throw new TeeError('NOT_SUPPORTED', '"device" is not built yet', 'API');
    });
}
