import type { Queryable } from './pool';

/** The LNbits backend's tables (migration 0003_lnbits.sql). Keys are stored sealed, never in clear. */

export interface LnbitsWalletRow {
  wallet_id: string;
  owner_user_id: string;
  name: string;
  admin_key_enc: string | null;
  invoice_key_enc: string;
  created_at: Date;
  updated_at: Date;
  /** the observer last read its payments (written at most once a minute) */
  watched_at: Date | null;
  /** why the observer cannot read its payments now, and since when */
  watch_error: string | null;
  watch_error_at: Date | null;
}

export interface LnbitsPaymentRow {
  idempotency_key: string;
  attempt: number;
  kind: 'wallet' | 'address';
  source_wallet_id: string;
  destination: string;
  amount_sats: number;
  memo: string;
  payment_hash: string;
  bolt11: string;
  expires_at: Date | null;
  status: 'created' | 'paid' | 'dead';
  fee_sats: number | null;
  paid_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

// ---- wallet keys ------------------------------------------------------------------

export async function getLnbitsWallet(db: Queryable, walletId: string): Promise<LnbitsWalletRow | null> {
  const { rows } = await db.query<LnbitsWalletRow>(
    'SELECT * FROM satmachine.lnbits_wallets WHERE wallet_id = $1',
    [walletId],
  );
  return rows[0] ?? null;
}

/** Every registered wallet (owner null), or one user's. */
export async function listLnbitsWallets(
  db: Queryable,
  ownerUserId: string | null,
): Promise<LnbitsWalletRow[]> {
  const { rows } = await db.query<LnbitsWalletRow>(
    `SELECT * FROM satmachine.lnbits_wallets WHERE $1::text IS NULL OR owner_user_id = $1
      ORDER BY created_at, wallet_id`,
    [ownerUserId],
  );
  return rows;
}

/**
 * Registers a wallet's sealed keys, or replaces them (a key rotation) when the same
 * owner registers it again. Returns null when another user already registered it.
 */
export async function upsertLnbitsWallet(
  db: Queryable,
  w: {
    wallet_id: string;
    owner_user_id: string;
    name: string;
    admin_key_enc: string | null;
    invoice_key_enc: string;
  },
): Promise<{ row: LnbitsWalletRow; created: boolean } | null> {
  const { rows } = await db.query<LnbitsWalletRow & { inserted: boolean }>(
    `INSERT INTO satmachine.lnbits_wallets (wallet_id, owner_user_id, name, admin_key_enc, invoice_key_enc)
     VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (wallet_id) DO UPDATE
        SET name = EXCLUDED.name, admin_key_enc = EXCLUDED.admin_key_enc,
            invoice_key_enc = EXCLUDED.invoice_key_enc, updated_at = now(),
            watch_error = NULL, watch_error_at = NULL
      WHERE satmachine.lnbits_wallets.owner_user_id = EXCLUDED.owner_user_id
     RETURNING *, (xmax = 0) AS inserted`,
    [w.wallet_id, w.owner_user_id, w.name, w.admin_key_enc, w.invoice_key_enc],
  );
  const r = rows[0];
  if (!r) return null;
  const { inserted, ...row } = r;
  return { row, created: inserted };
}

/** Deletes a registration: any (owner null, the platform) or one user's own. */
export async function deleteLnbitsWallet(
  db: Queryable,
  walletId: string,
  ownerUserId: string | null,
): Promise<boolean> {
  const { rowCount } = await db.query(
    `DELETE FROM satmachine.lnbits_wallets WHERE wallet_id = $1 AND ($2::text IS NULL OR owner_user_id = $2)`,
    [walletId, ownerUserId],
  );
  return (rowCount ?? 0) > 0;
}

// ---- invoices behind payments (exactly once per idempotency key) -----------------------

/** Every invoice of a key, oldest attempt first (empty: nothing was ever asked to be paid). */
export async function getLnbitsPayments(db: Queryable, key: string): Promise<LnbitsPaymentRow[]> {
  const { rows } = await db.query<LnbitsPaymentRow>(
    'SELECT * FROM satmachine.lnbits_payments WHERE idempotency_key = $1 ORDER BY attempt',
    [key],
  );
  return rows;
}

export type InsertPaymentOutcome =
  | { kind: 'inserted'; row: LnbitsPaymentRow }
  /** a concurrent call stored its invoice for this attempt first: settle that one */
  | { kind: 'attempt_exists'; row: LnbitsPaymentRow }
  /** this payment hash already belongs to another payment (an LNURL server handing out one invoice twice) */
  | { kind: 'hash_taken' };

/** Stores an invoice of a key before it is paid; the first invoice of an attempt always wins. */
export async function insertLnbitsPayment(
  db: Queryable,
  p: {
    idempotency_key: string;
    attempt: number;
    kind: 'wallet' | 'address';
    source_wallet_id: string;
    destination: string;
    amount_sats: number;
    memo: string;
    payment_hash: string;
    bolt11: string;
    expires_at: Date | null;
  },
): Promise<InsertPaymentOutcome> {
  const { rows } = await db.query<LnbitsPaymentRow>(
    `INSERT INTO satmachine.lnbits_payments
       (idempotency_key, attempt, kind, source_wallet_id, destination, amount_sats, memo, payment_hash, bolt11,
        expires_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
     ON CONFLICT DO NOTHING RETURNING *`,
    [
      p.idempotency_key,
      p.attempt,
      p.kind,
      p.source_wallet_id,
      p.destination,
      p.amount_sats,
      p.memo,
      p.payment_hash,
      p.bolt11,
      p.expires_at,
    ],
  );
  if (rows[0]) return { kind: 'inserted', row: rows[0] };
  const { rows: same } = await db.query<LnbitsPaymentRow>(
    'SELECT * FROM satmachine.lnbits_payments WHERE idempotency_key = $1 AND attempt = $2',
    [p.idempotency_key, p.attempt],
  );
  return same[0] ? { kind: 'attempt_exists', row: same[0] } : { kind: 'hash_taken' };
}

export async function markLnbitsPaymentPaid(
  db: Queryable,
  row: Pick<LnbitsPaymentRow, 'idempotency_key' | 'attempt'>,
  feeSats: number,
): Promise<LnbitsPaymentRow | null> {
  const { rows } = await db.query<LnbitsPaymentRow>(
    `UPDATE satmachine.lnbits_payments
        SET status = 'paid', fee_sats = $3, paid_at = COALESCE(paid_at, now()), updated_at = now()
      WHERE idempotency_key = $1 AND attempt = $2 RETURNING *`,
    [row.idempotency_key, row.attempt, feeSats],
  );
  return rows[0] ?? null;
}

/** An invoice proved unpayable: the key may get another one. Only an unpaid invoice dies. */
export async function markLnbitsPaymentDead(
  db: Queryable,
  row: Pick<LnbitsPaymentRow, 'idempotency_key' | 'attempt'>,
): Promise<void> {
  await db.query(
    `UPDATE satmachine.lnbits_payments SET status = 'dead', updated_at = now()
      WHERE idempotency_key = $1 AND attempt = $2 AND status = 'created'`,
    [row.idempotency_key, row.attempt],
  );
}

/** Of these payment hashes, the ones of invoices satmachine itself created for its payments. */
export async function ownPaymentHashes(db: Queryable, hashes: string[]): Promise<Set<string>> {
  if (!hashes.length) return new Set();
  const { rows } = await db.query<{ payment_hash: string }>(
    'SELECT payment_hash FROM satmachine.lnbits_payments WHERE payment_hash = ANY($1::text[])',
    [hashes],
  );
  return new Set(rows.map((r) => r.payment_hash));
}

// ---- the payment observer ----------------------------------------------------------

/** The observer read this wallet: the error (if any) is over. Writes at most once a minute. */
export async function recordWatchOk(db: Queryable, walletId: string): Promise<void> {
  await db.query(
    `UPDATE satmachine.lnbits_wallets SET watched_at = now(), watch_error = NULL, watch_error_at = NULL
      WHERE wallet_id = $1
        AND (watch_error IS NOT NULL OR watched_at IS NULL OR watched_at < now() - interval '1 minute')`,
    [walletId],
  );
}

/** The observer cannot read this wallet: why, since the first failure of this kind. */
export async function recordWatchError(db: Queryable, walletId: string, error: string): Promise<void> {
  await db.query(
    `UPDATE satmachine.lnbits_wallets
        SET watch_error = $2, watch_error_at = CASE WHEN watch_error IS NULL THEN now() ELSE watch_error_at END
      WHERE wallet_id = $1 AND watch_error IS DISTINCT FROM $2`,
    [walletId, error.slice(0, 500)],
  );
}

export async function getObserverCursor(db: Queryable, walletId: string): Promise<Date | null> {
  const { rows } = await db.query<{ updated_to: Date }>(
    'SELECT updated_to FROM satmachine.lnbits_observer_cursors WHERE wallet_id = $1',
    [walletId],
  );
  return rows[0]?.updated_to ?? null;
}

/** Moves a wallet's cursor forward (never back: two observers may poll the same wallet). */
export async function advanceObserverCursor(db: Queryable, walletId: string, to: Date): Promise<void> {
  await db.query(
    `INSERT INTO satmachine.lnbits_observer_cursors (wallet_id, updated_to) VALUES ($1, $2)
     ON CONFLICT (wallet_id) DO UPDATE
        SET updated_to = GREATEST(satmachine.lnbits_observer_cursors.updated_to, EXCLUDED.updated_to),
            polled_at = now()`,
    [walletId, to],
  );
}

export async function wasObserved(
  db: Queryable,
  walletId: string,
  paymentHash: string,
  direction: 'incoming' | 'outgoing',
): Promise<boolean> {
  const { rows } = await db.query(
    `SELECT 1 FROM satmachine.lnbits_observed_payments
      WHERE wallet_id = $1 AND payment_hash = $2 AND direction = $3`,
    [walletId, paymentHash, direction],
  );
  return rows.length > 0;
}

/**
 * Forgets payments reported long ago. A poll rescans only from a minute before its
 * wallet's cursor, so a payment reported more than a day before that cursor can never
 * be seen again; it must also be older than `keepDays`. Returns how many rows went.
 */
export async function purgeObserved(db: Queryable, keepDays: number): Promise<number> {
  const { rowCount } = await db.query(
    `DELETE FROM satmachine.lnbits_observed_payments o
      USING satmachine.lnbits_observer_cursors c
      WHERE c.wallet_id = o.wallet_id
        AND o.reported_at < c.updated_to - interval '1 day'
        AND o.reported_at < now() - make_interval(days => $1)`,
    [keepDays],
  );
  return rowCount ?? 0;
}

export async function recordObserved(
  db: Queryable,
  p: { wallet_id: string; payment_hash: string; direction: 'incoming' | 'outgoing'; amount_sats: number },
): Promise<void> {
  await db.query(
    `INSERT INTO satmachine.lnbits_observed_payments (wallet_id, payment_hash, direction, amount_sats)
     VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`,
    [p.wallet_id, p.payment_hash, p.direction, p.amount_sats],
  );
}
