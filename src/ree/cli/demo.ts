/** `tee-sim demo [online|offline|channel]`: the end-to-end payment demo (see src/ree/demo/run.ts). */
import type { Command } from 'commander';
import { TeeError } from '../../common/errors.js';

const WHICH = ['both', 'online', 'offline', 'channel'] as const;

export function registerDemoCommands(program: Command, _getDataDir: () => string): void {
  program
    .command('demo')
    .description('run the payment demo: online and offline, three-lane trace (REE | TEE OS | trusted key)')
    .argument('[which]', 'both | online | offline | channel (the secure-channel demo)', 'both')
    .option('--json', 'print the trace events and the summary as JSON')
    .option('--in-process', 'run the backend inside this process instead of a child process')
    .action(async (which: string, opts: { json?: boolean; inProcess?: boolean }) => {
      if (!(WHICH as readonly string[]).includes(which)) {
        throw new TeeError('BAD_PARAMETERS', `demo: expected one of ${WHICH.join(', ')}`, 'API');
      }
      if (which === 'channel') {
        const { runChannelDemo } = await import('../../../scripts/demo-channel.js');
        await runChannelDemo({ out: process.stdout });
        return;
      }
      const { runDemo } = await import('../demo/run.js');
      await runDemo({
        which: which as 'both' | 'online' | 'offline',
        out: process.stdout,
        backend: opts.inProcess ? 'in-process' : 'process',
        ...(opts.json ? { json: true } : {}),
      });
    });
}
