/**
 * `tee-sim kmc init`: a key management centre on disk. Layout under `<data>/kmc/`:
 *   master.key         32 random bytes (mode 0600) that seal every KMC record
 *   store/             level database of sealed records (signing key, private matrices)
 *   kmc-public.bin     the KMC's public key (33 raw bytes), what verifiers trust
 *   public/<sub>.bin   each subdomain's signed public matrix (encodePublicMatrix), read by `backend serve`
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import { toHex, zeroize } from '../../common/bytes.js';
import { astring } from '../../common/checks.js';
import { TeeError } from '../../common/errors.js';
import { defaultProvider } from '../../crypto/index.js';
import type { CryptoProvider } from '../../crypto/provider.js';
import { KeyManagementCentre, checkShape, createLevelKmcStore, type LevelKmcStore } from '../../cpk/index.js';
import { publishKmcPublicState } from '../demo/kmc-files.js';

const MASTER_KEY_BYTES = 32;
const SUBDOMAIN_PATTERN = /^[A-Za-z0-9._:-]{1,64}$/;

export interface OpenedKmc {
  kmc: KeyManagementCentre;
  close(): Promise<void>;
}

export const kmcDir = (dataDir: string): string => join(dataDir, 'kmc');

/** Open the KMC of a data dir; with `create`, make its master key on first use. ITEM_NOT_FOUND if never initialised. */
export async function openKmcDir(dataDir: string, options: { create?: boolean; provider?: CryptoProvider } = {}): Promise<OpenedKmc> {
  const provider = options.provider ?? defaultProvider();
  const dir = kmcDir(dataDir);
  const keyFile = join(dir, 'master.key');
  let masterKey: Uint8Array;
  try {
    masterKey = new Uint8Array(await readFile(keyFile));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new TeeError('ACCESS_DENIED', 'kmc: cannot read kmc/master.key', 'API');
    if (!options.create) throw new TeeError('ITEM_NOT_FOUND', 'no KMC in this data dir: run "tee-sim kmc init" first', 'API');
    await mkdir(dir, { recursive: true, mode: 0o700 });
    masterKey = provider.randomBytes(MASTER_KEY_BYTES);
    await writeFile(keyFile, masterKey, { mode: 0o600, flag: 'wx' });
  }
  if (masterKey.length !== MASTER_KEY_BYTES) throw new TeeError('CORRUPT_OBJECT', 'kmc: master.key must be 32 bytes', 'API');
  let store: LevelKmcStore | undefined;
  try {
    store = await createLevelKmcStore(join(dir, 'store'));
    const kmc = await KeyManagementCentre.create({ provider, store, masterKey });
    const opened = store;
    return {
      kmc,
      async close() {
        kmc.close();
        await opened.close();
      },
    };
  } catch (err) {
    await store?.close().catch(() => undefined);
    throw err;
  } finally {
    zeroize(masterKey);
  }
}

function parseSize(text: string, title: string): number {
  if (!/^\d{1,4}$/.test(text)) throw new TeeError('BAD_PARAMETERS', `${title}: expected a small positive integer`, 'API');
  return Number(text);
}

export function registerKmcCommands(program: Command, getDataDir: () => string): void {
  const kmc = program.command('kmc').description('the key management centre (CPK matrices, identity issuance)');
  kmc
    .command('init')
    .description('create the KMC (or open it) and a subdomain; publish its public matrix for the backend')
    .option('--subdomain <id>', 'subdomain to create', 'retail')
    .option('--rows <n>', 'matrix rows', '32')
    .option('--cols <n>', 'matrix columns', '32')
    .option('--hardened', 'hardened mode (separating keys; resists collusion)')
    .action(async (opts: { subdomain: string; rows: string; cols: string; hardened?: boolean }) => {
      const out = (line: string) => process.stdout.write(`${line}\n`);
      const subdomainId = astring(opts.subdomain, '--subdomain', { pattern: SUBDOMAIN_PATTERN });
      // Check the matrix shape with CPK's own rule before anything is created on disk.
      const { rows, cols } = checkShape(parseSize(opts.rows, '--rows'), parseSize(opts.cols, '--cols'));
      const dataDir = getDataDir();
      const { kmc: centre, close } = await openKmcDir(dataDir, { create: true });
      try {
        out(`KMC public key: ${toHex(centre.kmcPublicKey)}`);
        if (await centre.hasSubdomain(subdomainId)) {
          out(`subdomain ${subdomainId} already exists (unchanged)`);
        } else {
          out(`generating the ${rows}x${cols} ${opts.hardened ? 'hardened' : 'plain'} matrix for ${subdomainId} (${rows * cols} points)…`);
          const started = Date.now();
          await centre.createSubdomain(subdomainId, { rows, cols, mode: opts.hardened ? 'hardened' : 'plain' });
          out(`subdomain ${subdomainId} created in ${((Date.now() - started) / 1000).toFixed(1)} s`);
        }
        await publishKmcPublicState(dataDir, centre.kmcPublicKey, [await centre.publicMatrix(subdomainId)]);
        out(`published ${join(kmcDir(dataDir), 'kmc-public.bin')} and ${join(kmcDir(dataDir), 'public', `${subdomainId}.bin`)}`);
      } finally {
        await close();
      }
    });
}
