import pg from 'pg';
import type { Pool, PoolClient, Queryable } from './pool';
import { withTransaction } from './pool';
import { newId } from './ids';
import { prepared } from './sql';

/** The channel a new incoming ledger payment is announced on (NOTIFY by the ledger's trigger). */
const LEDGER_PAYMENT_CHANNEL = 'satmachine_ledger_payment';

/** Subscribes a dedicated connection to new incoming ledger payments (its `notification` events). */
export async function listenForLedgerPayments(client: pg.Client): Promise<void> {
  await client.query(`LISTEN ${LEDGER_PAYMENT_CHANNEL}`);
}

export interface LedgerWalletRow {
  id: string;
  owner_user_id: string | null;
  name: string;
  kind: 'user' | 'external';
  balance_sats: number;
  created_at: Date;
}

export interface LedgerTransferRow {
  id: string;
  idempotency_key: string;
  from_wallet_id: string;
  to_wallet_id: string;
  amount_sats: number;
  payment_hash: string;
  memo: string | null;
  created_at: Date;
}

export const EXTERNAL_WALLET = 'external';

export async function insertWallet(
  db: Queryable,
  ownerUserId: string | null,
  name: string,
  id = newId(),
): Promise<LedgerWalletRow> {
  const { rows } = await db.query<LedgerWalletRow>(
    'INSERT INTO satmachine.ledger_wallets (id, owner_user_id, name) VALUES ($1, $2, $3) RETURNING *',
    [id, ownerUserId, name],
  );
  return rows[0]!;
}

export async function getWallet(db: Queryable, id: string): Promise<LedgerWalletRow | null> {
  const { rows } = await db.query<LedgerWalletRow>('SELECT * FROM satmachine.ledger_wallets WHERE id = $1', [
    id,
  ]);
  return rows[0] ?? null;
}

export async function getTransferByKey(db: Queryable, key: string): Promise<LedgerTransferRow | null> {
  const { rows } = await db.query<LedgerTransferRow>(
    'SELECT * FROM satmachine.ledger_transfers WHERE idempotency_key = $1',
    [key],
  );
  return rows[0] ?? null;
}

export type TransferOutcome =
  | { kind: 'done'; transfer: LedgerTransferRow; replayed: boolean }
  | { kind: 'unknown_wallet'; walletId: string }
  | { kind: 'insufficient'; walletId: string; balance: number }
  /** the transfer would carry a balance past ±Number.MAX_SAFE_INTEGER (2^53 − 1) sats */
  | { kind: 'balance_overflow'; walletId: string; balance: number }
  | { kind: 'key_conflict'; transfer: LedgerTransferRow };

/**
 * Moves sats between two wallets in one transaction: two entries summing to zero,
 * both balances updated, a 'user' wallet never below zero. Unique by idempotency
 * key: a second call with the same key returns the first transfer and moves nothing.
 *
 * `db` is the pool (the transfer takes a connection and commits on its own), or a
 * client already inside the caller's transaction: then the transfer is part of it
 * (it commits or rolls back with the caller's work) and takes no second connection.
 */
export async function transfer(
  db: Pool | PoolClient,
  t: { key: string; from: string; to: string; amount: number; paymentHash: string; memo: string | null },
  onCommitted?: (client: Queryable, transfer: LedgerTransferRow) => Promise<void>,
): Promise<TransferOutcome> {
  const run = (c: PoolClient) => transferIn(c, t, onCommitted);
  return db instanceof pg.Pool ? withTransaction(db, run) : run(db);
}

async function transferIn(
  c: PoolClient,
  t: { key: string; from: string; to: string; amount: number; paymentHash: string; memo: string | null },
  onCommitted?: (client: Queryable, transfer: LedgerTransferRow) => Promise<void>,
): Promise<TransferOutcome> {
  // lock both wallets in id order: concurrent transfers never deadlock
  const { rows: wallets } = await c.query<LedgerWalletRow>(
    'SELECT * FROM satmachine.ledger_wallets WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE',
    [[t.from, t.to]],
  );
  const from = wallets.find((w) => w.id === t.from);
  const to = wallets.find((w) => w.id === t.to);
  if (!from) return { kind: 'unknown_wallet', walletId: t.from };
  if (!to) return { kind: 'unknown_wallet', walletId: t.to };
  // checked under the locks: a concurrent call with the same key has committed by now
  const prior = await getTransferByKey(c, t.key);
  if (prior) return replay(prior, t);
  if (from.kind === 'user' && from.balance_sats < t.amount) {
    return { kind: 'insufficient', walletId: from.id, balance: from.balance_sats };
  }
  // checked under the locks: no balance (the destination's, or the external wallet's
  // negative one) may leave the range a JavaScript number holds exactly
  if (to.balance_sats > Number.MAX_SAFE_INTEGER - t.amount) {
    return { kind: 'balance_overflow', walletId: to.id, balance: to.balance_sats };
  }
  if (from.balance_sats < -Number.MAX_SAFE_INTEGER + t.amount) {
    return { kind: 'balance_overflow', walletId: from.id, balance: from.balance_sats };
  }
  // the transfer and both balances in one statement (one round trip); its two entries
  // are the view satmachine.ledger_entries (migration 0019)
  const { rows } = await c.query<LedgerTransferRow>(
    `WITH tr AS (
         INSERT INTO satmachine.ledger_transfers (id, idempotency_key, from_wallet_id, to_wallet_id, amount_sats, payment_hash, memo)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *
       ), balances AS (
         UPDATE satmachine.ledger_wallets
            SET balance_sats = balance_sats + CASE WHEN id = $3 THEN -$5::bigint ELSE $5::bigint END
          WHERE id IN ($3, $4)
       )
       SELECT * FROM tr`,
    [newId(), t.key, t.from, t.to, t.amount, t.paymentHash, t.memo],
  );
  if (onCommitted) await onCommitted(c, rows[0]!);
  return { kind: 'done', transfer: rows[0]!, replayed: false };
}

function replay(prior: LedgerTransferRow, t: { from: string; to: string; amount: number }): TransferOutcome {
  if (prior.from_wallet_id !== t.from || prior.to_wallet_id !== t.to || prior.amount_sats !== t.amount) {
    return { kind: 'key_conflict', transfer: prior };
  }
  return { kind: 'done', transfer: prior, replayed: true };
}

export interface LightningPaymentRow {
  id: string;
  wallet_id: string;
  payment_hash: string;
  amount_sats: number;
  direction: 'incoming' | 'outgoing';
  transfer_id: string;
  created_at: Date;
  forwarded_at: Date | null;
}

export async function getLightningPayment(
  db: Queryable,
  walletId: string,
  paymentHash: string,
  direction: string,
): Promise<LightningPaymentRow | null> {
  const { rows } = await db.query<LightningPaymentRow>(
    'SELECT * FROM satmachine.ledger_lightning_payments WHERE wallet_id = $1 AND payment_hash = $2 AND direction = $3',
    [walletId, paymentHash, direction],
  );
  return rows[0] ?? null;
}

export async function insertLightningPayment(
  db: Queryable,
  p: { walletId: string; paymentHash: string; amountSats: number; direction: string; transferId: string },
): Promise<void> {
  await db.query(
    `INSERT INTO satmachine.ledger_lightning_payments (id, wallet_id, payment_hash, amount_sats, direction, transfer_id)
     VALUES ($1, $2, $3, $4, $5, $6)`,
    [newId(), p.walletId, p.paymentHash, p.amountSats, p.direction, p.transferId],
  );
  await db.query("SELECT pg_notify('satmachine_ledger_payment', $1)", [p.walletId]);
}

/**
 * Up to `limit` payments not yet forwarded, oldest first (read outside any transaction:
 * the observer signals them without holding a lock, then marks them forwarded).
 */
export async function unforwardedPayments(db: Queryable, limit: number): Promise<LightningPaymentRow[]> {
  const { rows } = await db.query<LightningPaymentRow>(
    `SELECT * FROM satmachine.ledger_lightning_payments
      WHERE forwarded_at IS NULL ORDER BY created_at, id LIMIT $1`,
    [limit],
  );
  return rows;
}

/** Marks payments forwarded (their signal was delivered), in one statement. */
export async function markPaymentsForwarded(db: Queryable, ids: readonly string[]): Promise<void> {
  if (!ids.length) return;
  await db.query(
    'UPDATE satmachine.ledger_lightning_payments SET forwarded_at = now() WHERE id = ANY($1::text[]) AND forwarded_at IS NULL',
    [ids],
  );
}

/**
 * Σ of every entry is zero and each wallet's balance equals the sum of its entries (the
 * entries are derived from the transfers, migration 0019: the first holds by
 * construction, the second compares every stored balance with its transfers).
 */
export async function ledgerInvariantViolations(db: Queryable): Promise<string[]> {
  const problems: string[] = [];
  const { rows: sum } = await db.query<{ total: string | null }>(
    'SELECT sum(amount_sats)::text AS total FROM satmachine.ledger_entries',
  );
  if ((sum[0]?.total ?? '0') !== '0') problems.push(`entries sum to ${sum[0]?.total}, not 0`);
  const { rows } = await db.query<{ id: string; balance_sats: number; entries: number }>(
    `SELECT w.id, w.balance_sats, COALESCE(sum(e.amount_sats), 0)::bigint AS entries
       FROM satmachine.ledger_wallets w LEFT JOIN satmachine.ledger_entries e ON e.wallet_id = w.id
      GROUP BY w.id HAVING w.balance_sats <> COALESCE(sum(e.amount_sats), 0)`,
  );
  for (const r of rows) problems.push(`wallet ${r.id}: balance ${r.balance_sats} ≠ entries ${r.entries}`);
  return problems;
}

/** What `satmachine.pay_ledger_leg` decided (migration 0018). */
export interface LedgerLegRow {
  outcome: 'missing' | 'settled' | 'paid' | 'refused';
  leg_type: string | null;
  status: string | null;
  payment_hash: string | null;
  code: string | null;
  wallet_id: string | null;
  balance: number | null;
  amount: number | null;
  source_wallet_id: string | null;
  destination: string | null;
}

/**
 * Pays a pending leg from the ledger in one statement (one round trip, its own
 * transaction): the leg locked, both wallets locked in id order, the transfer under
 * the leg id as key (a second call finds it and moves nothing), the leg completed.
 * A refusal comes back with the leg untouched.
 */
export async function payLedgerLeg(
  db: Queryable,
  legId: string,
  lnAddressDomain: string,
): Promise<LedgerLegRow> {
  // prepared (the function's result columns are fixed by its RETURNS TABLE)
  const { rows } = await db.query<LedgerLegRow>(
    prepared('pay-ledger-leg', 'SELECT * FROM satmachine.pay_ledger_leg($1, $2, $3)', [
      legId,
      newId(),
      lnAddressDomain,
    ]),
  );
  return rows[0]!;
}

/**
 * Pays pending legs together in one statement and one transaction
 * (`satmachine.pay_ledger_legs`, migration 0020): each leg decided and paid exactly as
 * `payLedgerLeg` does, its row in the answer at its place in `legIds`. Throws when any
 * leg's payment raises; then nothing of the batch is committed.
 */
export async function payLedgerLegs(
  db: Queryable,
  legIds: readonly string[],
  lnAddressDomain: string,
): Promise<LedgerLegRow[]> {
  const { rows } = await db.query<LedgerLegRow & { leg_id: string }>(
    prepared('pay-ledger-legs', 'SELECT * FROM satmachine.pay_ledger_legs($1, $2, $3)', [
      legIds,
      legIds.map(() => newId()),
      lnAddressDomain,
    ]),
  );
  if (rows.length !== legIds.length || rows.some((r, i) => r.leg_id !== legIds[i])) {
    throw new Error(
      `pay_ledger_legs answered ${rows.length} rows for ${legIds.length} legs, not one per leg in order`,
    );
  }
  return rows;
}
