import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { generateSecretKey, getPublicKey } from 'nostr-tools/pure';
import { bytesToHex } from 'nostr-tools/utils';
import { createUserWithKey } from '../api/userAccounts';
import { insertClient } from '../db/clients';
import { replaceCommissionSplits } from '../db/commissionSplits';
import { insertConfirmedDeposit } from '../db/deposits';
import { insertWallet } from '../db/ledger';
import { insertMachine } from '../db/machines';
import type { Pool } from '../db/pool';
import { withTransaction } from '../db/pool';
import { updateSuperConfig } from '../db/superConfig';
import { countUsers } from '../db/users';
import { insertLpPreferences } from '../db/lp';
import { toNpub } from '../domain/nostrKeys';
import type { Logger } from '../logger';
import { LedgerBackend } from '../payments/ledger';
import type { SecretBox } from '../security/secretBox';

export interface DemoFile {
  super_api_key: string;
  operator_api_key: string;
  operator_pubkey: string;
  machine_id: string;
  machine_secret: string;
  machine_wallet_id: string;
  lp_api_keys: Record<string, string>;
}

export function demoFilePath(dataDir: string): string {
  return join(dataDir, 'demo.json');
}

function instructions(d: DemoFile, file: string, where: { apiUrl: string; relays: string[] }): string[] {
  // the command works from any shell: it names the API and relays when they are not the defaults
  const target = [
    where.apiUrl !== 'http://127.0.0.1:3000' ? ` --api ${where.apiUrl}` : '',
    where.relays.join(',') !== 'ws://127.0.0.1:7447' ? ` --relays ${where.relays.join(',')}` : '',
  ].join('');
  const dataDir =
    resolve(file) !== resolve('.data', 'demo.json') ? `SATMACHINE_DATA_DIR=${dirname(resolve(file))} ` : '';
  return [
    `Demo data (also in ${file}):`,
    `  super API key       ${d.super_api_key}`,
    `  operator API key    ${d.operator_api_key}`,
    ...Object.entries(d.lp_api_keys).map(([name, key]) => `  LP ${name.padEnd(16)} ${key}`),
    '',
    'Make the ATM send settlements (watch them in the Temporal UI):',
    `  ${dataDir}npm run satmachine -- simulate --demo --count 20 --rate 2${target}`,
  ];
}

/**
 * Seeds an empty database with a working fleet: a super user with a super wallet
 * and platform fees, an operator with one machine (funded for cash-in), a default
 * commission split, and three onboarded LPs with confirmed deposits.
 */
export async function seedDemo(
  pool: Pool,
  secretBox: SecretBox,
  opts: { apiUrl: string; relays: string[]; log: Logger; dataDir?: string },
): Promise<string[]> {
  const file = demoFilePath(opts.dataDir ?? '.data');
  if ((await countUsers(pool)) > 0) {
    if (existsSync(file)) return instructions(JSON.parse(readFileSync(file, 'utf8')) as DemoFile, file, opts);
    return ['The database already has users: demo data not seeded.'];
  }
  const ledger = new LedgerBackend({ pool, logger: opts.log });
  const superUser = await createUserWithKey(pool, secretBox, { role: 'super', name: 'platform' });
  const superWallet = await insertWallet(pool, superUser.user.id, 'platform fees');
  await updateSuperConfig(pool, {
    super_wallet_id: superWallet.id,
    platform_cash_in_fee_fraction: '0.010000',
    platform_cash_out_fee_fraction: '0.010000',
  });
  const operator = await createUserWithKey(pool, secretBox, { role: 'operator', name: 'demo operator' });
  const operatorWallet = await insertWallet(pool, operator.user.id, 'operator revenue');
  const machineSecret = generateSecretKey();
  const machinePub = getPublicKey(machineSecret);
  const machineWallet = await insertWallet(pool, operator.user.id, 'machine Lobby ATM');
  const machine = await insertMachine(pool, {
    operator_user_id: operator.user.id,
    machine_npub: toNpub(machinePub),
    machine_pubkey_hex: machinePub,
    wallet_id: machineWallet.id,
    name: 'Lobby ATM',
    location: 'Main street 1',
    fiat_code: 'USD',
    operator_cash_in_fee_fraction: '0.030000',
    operator_cash_out_fee_fraction: '0.040000',
  });
  await ledger.fund(machineWallet.id, 2_000_000, `demo-fund-${machine.id}`);
  await withTransaction(pool, (c) =>
    replaceCommissionSplits(c, operator.user.id, null, [
      { target: operatorWallet.id, label: 'operator revenue', fraction: '1.000000', sort_order: 0 },
    ]),
  );
  const lpKeys: Record<string, string> = {};
  for (const [name, deposit] of [
    ['alice', '500.00'],
    ['bob', '300.00'],
    ['carol', '200.00'],
  ] as const) {
    const lp = await createUserWithKey(pool, secretBox, { role: 'lp', name });
    lpKeys[name] = lp.api_key;
    const wallet = await insertWallet(pool, lp.user.id, `${name} savings`);
    await insertLpPreferences(pool, lp.user.id, { dca_wallet_id: wallet.id });
    const client = await insertClient(pool, machine.id, lp.user.id, name);
    await insertConfirmedDeposit(pool, {
      client_id: client.id,
      machine_id: machine.id,
      creator_user_id: operator.user.id,
      amount: deposit,
      currency: 'USD',
    });
  }
  const demo: DemoFile = {
    super_api_key: superUser.api_key,
    operator_api_key: operator.api_key,
    operator_pubkey: operator.user.nostr_pubkey!,
    machine_id: machine.id,
    machine_secret: bytesToHex(machineSecret),
    machine_wallet_id: machineWallet.id,
    lp_api_keys: lpKeys,
  };
  writeFileSync(file, JSON.stringify(demo, null, 2) + '\n', { mode: 0o600 });
  opts.log.info({ machine_id: machine.id }, 'demo data seeded');
  return instructions(demo, file, opts);
}
