/** `npm start`: the main demo. */
import { main } from '../src/ree/cli/main.js';

process.exitCode = await main([process.argv[0]!, 'tee-sim', 'demo', ...process.argv.slice(2)]);
