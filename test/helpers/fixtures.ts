import { randomBytes } from 'node:crypto';
import { generateSecretKey, getPublicKey } from 'nostr-tools/pure';
import { bytesToHex } from 'nostr-tools/utils';
import { createUserWithKey } from '../../src/api/userAccounts';
import { replaceCommissionSplits } from '../../src/db/commissionSplits';
import { newId } from '../../src/db/ids';
import { insertWallet } from '../../src/db/ledger';
import { insertLpPreferences } from '../../src/db/lp';
import { insertMachine, type MachineRow } from '../../src/db/machines';
import type { Pool } from '../../src/db/pool';
import { withTransaction } from '../../src/db/pool';
import { updateSuperConfig } from '../../src/db/superConfig';
import { toNpub } from '../../src/domain/nostrKeys';
import { SecretBox, sealedColumns } from '../../src/security/secretBox';
import { LedgerBackend } from '../../src/payments/ledger';
import { TEST_SECRET_KEY, testLogger } from './stack';

export const secretBox = new SecretBox(TEST_SECRET_KEY);

export interface Operator {
  id: string;
  apiKey: string;
  pubkey: string;
  secretHex: string;
}

export interface Machine {
  row: MachineRow;
  secretHex: string;
  pubkey: string;
  walletId: string;
}

export interface Lp {
  userId: string;
  apiKey: string;
  clientId: string;
  walletId: string;
}

export const newPaymentHash = () => randomBytes(32).toString('hex');

export function ledgerFor(pool: Pool): LedgerBackend {
  return new LedgerBackend({ pool, logger: testLogger });
}

export async function createSuper(pool: Pool, opts: { cashIn?: string; cashOut?: string } = {}) {
  const user = await createUserWithKey(pool, secretBox, { role: 'super', name: 'platform' });
  const wallet = await insertWallet(pool, user.user.id, 'platform fees');
  await updateSuperConfig(pool, {
    super_wallet_id: wallet.id,
    platform_cash_in_fee_fraction: opts.cashIn ?? '0.010000',
    platform_cash_out_fee_fraction: opts.cashOut ?? '0.010000',
  });
  return { id: user.user.id, apiKey: user.api_key, walletId: wallet.id };
}

export async function createOperator(pool: Pool, name = 'operator'): Promise<Operator> {
  const { user, api_key } = await createUserWithKey(pool, secretBox, { role: 'operator', name });
  const { rows } = await pool.query<{ nostr_secret_enc: string }>(
    'SELECT nostr_secret_enc FROM satmachine.users WHERE id = $1',
    [user.id],
  );
  return {
    id: user.id,
    apiKey: api_key,
    pubkey: user.nostr_pubkey!,
    secretHex: secretBox.open(rows[0]!.nostr_secret_enc, sealedColumns.operatorNostrSecret(user.id)),
  };
}

export async function createMachine(
  pool: Pool,
  operator: Operator,
  opts: {
    cashInFee?: string;
    cashOutFee?: string;
    delaySeconds?: number;
    fiat?: string;
    name?: string;
    fundSats?: number;
  } = {},
): Promise<Machine> {
  const secret = generateSecretKey();
  const pub = getPublicKey(secret);
  const wallet = await insertWallet(pool, operator.id, 'machine wallet');
  const row = await insertMachine(pool, {
    operator_user_id: operator.id,
    machine_npub: toNpub(pub),
    machine_pubkey_hex: pub,
    wallet_id: wallet.id,
    name: opts.name ?? 'ATM',
    fiat_code: opts.fiat ?? 'USD',
    operator_cash_in_fee_fraction: opts.cashInFee ?? '0.030000',
    operator_cash_out_fee_fraction: opts.cashOutFee ?? '0.040000',
    distribution_delay_seconds: opts.delaySeconds ?? 0,
  });
  if (opts.fundSats) await ledgerFor(pool).fund(wallet.id, opts.fundSats, `fund-${row.id}`);
  return { row, secretHex: bytesToHex(secret), pubkey: pub, walletId: wallet.id };
}

export async function createLp(
  pool: Pool,
  machine: Machine,
  opts: {
    name: string;
    depositCents?: number;
    mode?: 'flow' | 'fixed';
    dailyLimit?: string;
    autoforward?: string;
  },
): Promise<Lp> {
  const { user, api_key } = await createUserWithKey(pool, secretBox, { role: 'lp', name: opts.name });
  const wallet = await insertWallet(pool, user.id, `${opts.name} wallet`);
  await insertLpPreferences(pool, user.id, {
    dca_wallet_id: wallet.id,
    default_dca_mode: opts.mode ?? 'flow',
    fixed_mode_daily_limit: opts.dailyLimit ?? null,
    autoforward_ln_address: opts.autoforward ?? null,
    autoforward_enabled: !!opts.autoforward,
  });
  const clientId = newId();
  await pool.query(
    'INSERT INTO satmachine.dca_clients (id, machine_id, user_id, username) VALUES ($1, $2, $3, $4)',
    [clientId, machine.row.id, user.id, opts.name],
  );
  if (opts.depositCents) await addDeposit(pool, machine, clientId, opts.depositCents);
  return { userId: user.id, apiKey: api_key, clientId, walletId: wallet.id };
}

export async function addDeposit(
  pool: Pool,
  machine: Machine,
  clientId: string,
  cents: number,
): Promise<void> {
  await pool.query(
    `INSERT INTO satmachine.dca_deposits (id, client_id, machine_id, creator_user_id, amount, currency, status, confirmed_at)
     VALUES ($1, $2, $3, $4, $5, $6, 'confirmed', now())`,
    [
      newId(),
      clientId,
      machine.row.id,
      machine.row.operator_user_id,
      (cents / 100).toFixed(2),
      machine.row.fiat_code,
    ],
  );
}

export async function setDefaultSplits(
  pool: Pool,
  operator: Operator,
  legs: { target: string; fraction: string; label?: string }[],
) {
  await withTransaction(pool, (c) =>
    replaceCommissionSplits(
      c,
      operator.id,
      null,
      legs.map((l, i) => ({
        target: l.target,
        label: l.label ?? `split ${i}`,
        fraction: l.fraction,
        sort_order: i,
      })),
    ),
  );
}

/** The operator's default split: the whole commission to one new wallet of theirs (returns its id). */
export async function splitAllToNewWallet(
  pool: Pool,
  operator: Operator,
  opts: { walletName?: string; fraction?: string; label?: string } = {},
): Promise<string> {
  const wallet = await insertWallet(pool, operator.id, opts.walletName ?? 'rev');
  await setDefaultSplits(pool, operator, [
    { target: wallet.id, fraction: opts.fraction ?? '1', ...(opts.label ? { label: opts.label } : {}) },
  ]);
  return wallet.id;
}

/** The platform (super) and one operator whose whole commission goes to a new wallet of theirs. */
export async function createSuperAndOperator(
  pool: Pool,
  opts: { name?: string; split?: Parameters<typeof splitAllToNewWallet>[2] } = {},
): Promise<Operator> {
  await createSuper(pool);
  const operator = await createOperator(pool, opts.name);
  await splitAllToNewWallet(pool, operator, opts.split);
  return operator;
}

export function settlementContent(o: {
  paymentHash: string;
  txType?: 'cash_out' | 'cash_in';
  wireSats: number;
  feeSats: number;
  fiat: string;
  rate?: string;
  fiatCode?: string;
  cassettes?: Record<string, { denomination: number; count: number }>;
}) {
  return {
    v: 1,
    txid: `tx-${o.paymentHash.slice(0, 8)}`,
    tx_type: o.txType ?? 'cash_out',
    payment_hash: o.paymentHash,
    wire_sats: o.wireSats,
    fiat_amount: o.fiat,
    fiat_code: o.fiatCode ?? 'USD',
    exchange_rate: o.rate ?? '1000',
    fee_sats: o.feeSats,
    bills: [],
    cassettes: o.cassettes ?? {},
  };
}

/**
 * A bare leg row straight in SQL, without a settlement (the ledger-payment tests): paid from
 * `fromWallet` or, when null, the machine's wallet, to a wallet or a Lightning address.
 */
export async function insertBareLeg(
  pool: Pool,
  machine: Machine,
  operator: Operator,
  leg: {
    type?: string;
    sats: number;
    toWallet?: string | null;
    toAddress?: string | null;
    fromWallet?: string | null;
    status?: string;
  },
): Promise<string> {
  const id = newId();
  await pool.query(
    `INSERT INTO satmachine.dca_payments (id, machine_id, operator_user_id, leg_type, amount_sats,
                                          destination_wallet_id, destination_ln_address, source_wallet_id, status)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
    [
      id,
      machine.row.id,
      operator.id,
      leg.type ?? 'operator_split',
      leg.sats,
      leg.toWallet ?? null,
      leg.toAddress ?? null,
      leg.fromWallet ?? null,
      leg.status ?? 'pending',
    ],
  );
  return id;
}
