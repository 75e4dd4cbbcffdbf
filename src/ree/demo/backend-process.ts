/**
 * The backend as a real child process on loopback: `node bin/tee-sim.mjs --data <dir> backend serve
 * --port 0`, whose first stdout line names its URL. Stopped with SIGTERM; also killed if this process exits.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { TeeError } from '../../common/errors.js';

const BIN = fileURLToPath(new URL('../../../bin/tee-sim.mjs', import.meta.url));
const START_TIMEOUT_MS = 30_000;

export interface BackendProcess {
  url: string;
  pid: number;
  close(): Promise<void>;
}

export function spawnBackend(dataDir: string): Promise<BackendProcess> {
  const child: ChildProcess = spawn(process.execPath, [BIN, '--data', dataDir, 'backend', 'serve', '--port', '0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-500)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  const close = async () => {
    process.off('exit', killOnExit);
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
  };

  return new Promise<BackendProcess>((resolve, reject) => {
    let out = '';
    const fail = (why: string) => {
      clearTimeout(timer);
      void close().then(() => reject(new TeeError('COMMUNICATION', `backend process: ${why}${stderr ? ` (${stderr.trim().split('\n').pop()})` : ''}`, 'API')));
    };
    const timer = setTimeout(() => fail('did not start in time'), START_TIMEOUT_MS);
    let started = false;
    child.once('exit', (code) => {
      if (!started) fail(`exited with code ${code}`);
    });
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /backend listening on (http:\/\/[^\s]+)/.exec(out);
      if (m) {
        if (started) return;
        started = true;
        clearTimeout(timer);
        resolve({ url: m[1]!, pid: child.pid ?? -1, close });
      }
    });
  });
}
