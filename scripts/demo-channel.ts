/** Placeholder until the channel demo lands: shows the crypto provider in use. */
import { defaultProvider } from '../src/crypto/index.js';

export async function runChannelDemo(opts: { out: NodeJS.WritableStream }): Promise<void> {
  opts.out.write(`tee-sim: crypto provider ${defaultProvider().name}\n`);
}
