/**
 * `tee-sim teach [--port N]`: the teaching page. Starts a local web server on 127.0.0.1 that runs the
 * online and offline payments on simulated phones and draws them in three lanes (REE, TEE OS, trusted
 * key); a "compromised REE" switch replays or alters a message and shows the defence rejecting it.
 */
import type { Command } from 'commander';
import { join } from 'node:path';
import { aint } from '../../common/checks.js';

export function registerTeachCommands(program: Command, getDataDir: () => string): void {
  program
    .command('teach')
    .description('serve the teaching page on 127.0.0.1: sequence diagrams of the online and offline payments and of the channel set-up, with a compromised-REE switch and the payer\'s choice at the trusted UI')
    .option('--port <n>', 'port to listen on (0: any free port)', '0')
    .action(async (opts: { port: string }) => {
      const port = aint(Number(opts.port), 'port', 0, 65535);
      const { startTeachServer } = await import('../teach/server.js');
      const { createTeachRunner } = await import('../teach/runner.js');
      const runner = await createTeachRunner({ dataDir: join(getDataDir(), 'teach') });
      const server = await startTeachServer({ port, runner: runner.run });
      process.stdout.write(`tee-sim teach: open ${server.url} (Ctrl-C to stop)\n`);
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      await server.close();
      await runner.close();
    });
}
