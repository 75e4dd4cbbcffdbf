/** `tee-sim demo`: the end-to-end demo (the channel demo until the payment flows land). */
import type { Command } from 'commander';

export function registerDemoCommands(program: Command, _getDataDir: () => string): void {
  program
    .command('demo')
    .description('run the end-to-end demo')
    .action(async () => {
      const { runChannelDemo } = await import('../../../scripts/demo-channel.js');
      await runChannelDemo({ out: process.stdout });
    });
}
