import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { generateSecretKey, getPublicKey } from 'nostr-tools/pure';
import { bytesToHex } from 'nostr-tools/utils';
import { createUserWithKey } from '../api/userAccounts';
import { insertClient } from '../db/clients';
import { replaceCommissionSplits } from '../db/commissionSplits';
import { insertConfirmedDeposit } from '../db/deposits';
import { insertWallet } from '../db/ledger';
import { applyBootstrapState } from '../db/cassettes';
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

/** A demo machine as the simulator and the demo heartbeat need it. */
export interface DemoMachine {
  id: string;
  name: string;
  model: string;
  secret: string;
  wallet_id: string;
  fiat_code: string;
  /** the cassettes it was seeded with (the simulator reads the current counts from the API) */
  cassettes: Record<string, { denomination: number; count: number }>;
}

export interface DemoFile {
  super_api_key: string;
  operator_api_key: string;
  operator_pubkey: string;
  /** the first machine (Lobby ATM), kept for older demo files and `simulate --demo` without a fleet */
  machine_id: string;
  machine_secret: string;
  machine_wallet_id: string;
  lp_api_keys: Record<string, string>;
  /** every demo machine; absent in demo files written before the fleet demo */
  machines?: DemoMachine[];
}

/** The demo's fleet: a busy lobby machine and an airport machine with a hold window and an unpayable LP. */
const DEMO_FLEET = [
  {
    name: 'Lobby ATM',
    model: 'BATM4 (simulated)',
    location: 'Main street 1',
    distribution_delay_seconds: 0,
    cassettes: { '1': { denomination: 20, count: 400 }, '2': { denomination: 50, count: 200 } },
    lps: [
      ['alice', '500.00', null],
      ['bob', '300.00', null],
      ['carol', '200.00', null],
    ],
  },
  {
    name: 'Airport ATM',
    model: 'BATM10 (simulated)',
    location: 'Terminal 2, arrivals',
    // a 90 s window in which the operator can record a partial dispense before any sat moves
    distribution_delay_seconds: 90,
    cassettes: { '1': { denomination: 20, count: 120 }, '2': { denomination: 100, count: 30 } },
    // dave forwards his sats to a Lightning address whose domain does not exist: every
    // airport cash-out ends with one unpayable leg, errored, for the worklist
    lps: [['dave', '400.00', 'dave@unreachable.invalid']],
  },
] as const;

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
 * and platform fees, an operator with a default commission split and two machines
 * (funded for cash-in, cassettes loaded): the Lobby ATM with three LPs, the Airport
 * ATM with a hold window and one LP whose autoforward cannot be paid (DEMO_FLEET).
 */
export async function seedDemo(
  pool: Pool,
  secretBox: SecretBox,
  opts: {
    apiUrl: string;
    relays: string[];
    log: Logger;
    dataDir?: string;
    /** the Airport ATM's hold window (90 s; tests shorten it) */
    airportHoldSeconds?: number;
  },
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
  await withTransaction(pool, (c) =>
    replaceCommissionSplits(c, operator.user.id, null, [
      { target: operatorWallet.id, label: 'operator revenue', fraction: '1.000000', sort_order: 0 },
    ]),
  );
  const lpKeys: Record<string, string> = {};
  const machines: DemoMachine[] = [];
  for (const spec of DEMO_FLEET) {
    const machineSecret = generateSecretKey();
    const machinePub = getPublicKey(machineSecret);
    const machineWallet = await insertWallet(pool, operator.user.id, `machine ${spec.name}`);
    const machine = await insertMachine(pool, {
      operator_user_id: operator.user.id,
      machine_npub: toNpub(machinePub),
      machine_pubkey_hex: machinePub,
      wallet_id: machineWallet.id,
      name: spec.name,
      location: spec.location,
      fiat_code: 'USD',
      operator_cash_in_fee_fraction: '0.030000',
      operator_cash_out_fee_fraction: '0.040000',
      distribution_delay_seconds:
        spec.distribution_delay_seconds && opts.airportHoldSeconds !== undefined
          ? opts.airportHoldSeconds
          : spec.distribution_delay_seconds,
    });
    // cash-in pays the customer from the machine wallet
    await ledger.fund(machineWallet.id, 2_000_000, `demo-fund-${machine.id}`);
    await withTransaction(pool, (c) =>
      applyBootstrapState(c, machine.id, `demo-seed-${machine.id}`, new Date(), spec.cassettes),
    );
    for (const [name, deposit, autoforward] of spec.lps) {
      const lp = await createUserWithKey(pool, secretBox, { role: 'lp', name });
      lpKeys[name] = lp.api_key;
      const wallet = await insertWallet(pool, lp.user.id, `${name} savings`);
      await insertLpPreferences(pool, lp.user.id, {
        dca_wallet_id: wallet.id,
        ...(autoforward ? { autoforward_ln_address: autoforward, autoforward_enabled: true } : {}),
      });
      const client = await insertClient(pool, machine.id, lp.user.id, name);
      await insertConfirmedDeposit(pool, {
        client_id: client.id,
        machine_id: machine.id,
        creator_user_id: operator.user.id,
        amount: deposit,
        currency: 'USD',
      });
    }
    machines.push({
      id: machine.id,
      name: spec.name,
      model: spec.model,
      secret: bytesToHex(machineSecret),
      wallet_id: machineWallet.id,
      fiat_code: 'USD',
      cassettes: structuredClone(spec.cassettes),
    });
  }
  const lobby = machines[0]!;
  const demo: DemoFile = {
    super_api_key: superUser.api_key,
    operator_api_key: operator.api_key,
    operator_pubkey: operator.user.nostr_pubkey!,
    machine_id: lobby.id,
    machine_secret: lobby.secret,
    machine_wallet_id: lobby.wallet_id,
    lp_api_keys: lpKeys,
    machines,
  };
  writeFileSync(file, JSON.stringify(demo, null, 2) + '\n', { mode: 0o600 });
  opts.log.info({ machines: machines.map((m) => m.id) }, 'demo data seeded');
  return instructions(demo, file, opts);
}
