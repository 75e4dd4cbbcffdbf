/**
 * `tee-sim device provision|info`: simulated phones on disk. The manufacturer lives in
 * `<data>/factory`, each phone in `<data>/devices/<user>`. Provisioning asks the KMC (see ./kmc.ts)
 * to issue the user's CPK key sealed to the phone's trusted key, which imports it: the REE and this
 * command only ever carry ciphertext and see the public key.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import { toHex } from '../../common/bytes.js';
import { astring } from '../../common/checks.js';
import { TeeError } from '../../common/errors.js';
import { formatAmount } from '../../protocol/payment.js';
import { Factory, WalletClient, createPhone, provisionIdentity, type Phone } from '../../device/index.js';
import { openKmcDir } from './kmc.js';

const ID_PATTERN = /^[A-Za-z0-9._:-]{1,64}$/;

const deviceDir = (dataDir: string, user: string) => join(dataDir, 'devices', user);

async function openPhone(dataDir: string, user: string): Promise<{ phone: Phone; factory: Factory }> {
  const factory = await Factory.open(join(dataDir, 'factory'));
  try {
    return { phone: await createPhone({ dir: deviceDir(dataDir, user), factory, name: user }), factory };
  } catch (err) {
    factory.close();
    throw err;
  }
}

function parseAmount(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d{1,12}$/.test(text)) throw new TeeError('BAD_PARAMETERS', '--offline-balance: expected an amount in minor units (e.g. 20000)', 'API');
  return Number(text);
}

export function registerDeviceCommands(program: Command, getDataDir: () => string): void {
  const device = program.command('device').description('simulated phones: provisioning and status');
  const out = (line: string) => process.stdout.write(`${line}\n`);

  device
    .command('provision')
    .description("issue a user's CPK identity into a phone's trusted key and set its PIN")
    .requiredOption('--user <id>', 'user id (the phone is <data>/devices/<id>)')
    .requiredOption('--subdomain <id>', 'KMC subdomain (created by "kmc init")')
    .option('--pin <digits>', 'PIN the user enters on the trusted UI (4-12 digits)', '1234')
    .option('--offline-balance <n>', 'offline balance to load, in minor units')
    .option('--currency <code>', 'currency of the offline balance', 'CNY')
    .action(async (opts: { user: string; subdomain: string; pin: string; offlineBalance?: string; currency: string }) => {
      const user = astring(opts.user, '--user', { pattern: ID_PATTERN });
      const subdomainId = astring(opts.subdomain, '--subdomain', { pattern: ID_PATTERN });
      astring(opts.pin, '--pin', { pattern: /^[0-9]{4,12}$/ });
      const currency = astring(opts.currency, '--currency', { pattern: /^[A-Z]{3}$/ });
      const balance = parseAmount(opts.offlineBalance);
      const dataDir = getDataDir();
      const { kmc, close } = await openKmcDir(dataDir);
      try {
        if (!(await kmc.hasSubdomain(subdomainId))) {
          throw new TeeError('ITEM_NOT_FOUND', `unknown subdomain ${subdomainId}: run "tee-sim kmc init --subdomain ${subdomainId}"`, 'API');
        }
        out(`powering on the phone of ${user} (${deviceDir(dataDir, user)})…`);
        const { phone, factory } = await openPhone(dataDir, user);
        try {
          const id = await provisionIdentity(phone, kmc, subdomainId, user, {
            pin: opts.pin,
            ...(balance !== undefined ? { offlineBalance: { amount: balance, currency } } : {}),
          });
          out(`identity ${user}@${subdomainId} (${id.mode}) provisioned`);
          out(`public key: ${toHex(id.publicKey)}`);
          out('the private key was sealed by the KMC to this trusted key and opened only inside it: it never left the key');
          if (id.puk !== undefined) out('PIN set on the trusted UI; the PUK was shown there once (not printed here)');
          if (balance !== undefined) out(`offline balance: ${formatAmount(balance, currency)}`);
        } finally {
          await phone.close();
          factory.close();
        }
      } finally {
        await close();
      }
    });

  device
    .command('info')
    .description("show a phone's trusted key, identities, PIN status and offline balance (public data only)")
    .requiredOption('--user <id>', 'user id')
    .action(async (opts: { user: string }) => {
      const user = astring(opts.user, '--user', { pattern: ID_PATTERN });
      const dataDir = getDataDir();
      try {
        await stat(deviceDir(dataDir, user));
      } catch {
        throw new TeeError('ITEM_NOT_FOUND', `no phone for ${user}: run "tee-sim device provision --user ${user} ..." first`, 'API');
      }
      const { phone, factory } = await openPhone(dataDir, user);
      try {
        await phone.trustedKey.whenConnected();
        const client = await WalletClient.open(phone.driver, { name: 'device-info' });
        try {
          const info = await client.call('GET_INFO', {});
          out(`phone ${user}: wallet TA ${info.taVersion}; trusted key ${info.trustedKey.connected ? 'connected' : 'not connected'}${info.trustedKey.subject ? ` (${info.trustedKey.subject})` : ''}`);
          out(`KMC pinned: ${info.kmcPinned ? 'yes' : 'no'}; subdomains: ${info.subdomains.join(', ') || '-'}`);
          const pin = info.pin;
          out(`PIN: ${pin.set ? 'set' : 'not set'}, ${pin.triesLeft}/${pin.maxTries} tries left${pin.blocked ? ', BLOCKED' : ''}`);
          for (const identity of info.identities) {
            const opened = await client.call('OPEN_IDENTITY', { subdomainId: identity.subdomainId, userId: identity.userId });
            const state = await client.call('OFFLINE_STATE', {}, opened.handle);
            out(`identity ${identity.userId}@${identity.subdomainId} (${identity.mode}): public key ${opened.publicKey ? toHex(opened.publicKey) : '-'}`);
            out(`  offline: ${state.currency ? formatAmount(state.balance, state.currency) : 'none'}, counter ${state.counter}, ${state.accepted.length} accepted`);
            await client.call('CLOSE_HANDLE', {}, opened.handle);
          }
          if (info.identities.length === 0) out('no identity provisioned');
        } finally {
          await client.close();
        }
      } finally {
        await phone.close();
        factory.close();
      }
    });
}
