import type { Queryable } from './pool';

/**
 * The alert rules that PostgreSQL alone can decide (docs/alerts.md §1). Each row is
 * one condition that holds now: an operator, a rule, the alert key (rule + subject,
 * deterministic, so one condition maps to one open alert) and what to tell.
 */
export interface AlertCondition {
  operator_user_id: string;
  rule: AlertRule;
  alert_key: string;
  subject_type: 'settlement' | 'machine' | 'cassette' | 'client' | 'relay' | 'wallet';
  subject_id: string;
  severity: 'warning' | 'critical';
  summary: string;
  details: Record<string, unknown>;
}

export const ALERT_RULES = [
  'settlement_errored',
  'settlement_rejected',
  'settlement_stuck',
  'machine_offline',
  'cassette_low',
  'fee_mismatch',
  'wallet_low',
  'lp_balance_low',
  'relay_unreadable',
  'wallet_unreadable',
] as const;
export type AlertRule = (typeof ALERT_RULES)[number];

/** Every operator with its rule settings, defaults filled in where it has no row. */
export const OPERATOR_ALERT_SETTINGS = `
  SELECT u.id AS operator_user_id,
         COALESCE(s.settlement_alerts, true) AS settlement_alerts,
         COALESCE(s.stuck_after_minutes, 30) AS stuck_after_minutes,
         CASE WHEN s.operator_user_id IS NULL THEN 15 ELSE s.offline_after_minutes END AS offline_after_minutes,
         s.cassette_min_count,
         s.fee_mismatch_tolerance_sats,
         COALESCE(s.fee_mismatch_alerts, true) AS fee_mismatch_alerts,
         s.wallet_min_sats,
         s.lp_remaining_min,
         COALESCE(s.unreadable_alerts, true) AS unreadable_alerts,
         s.nostr_recipient_pubkey,
         s.email_to
    FROM satmachine.users u
    LEFT JOIN satmachine.alert_settings s ON s.operator_user_id = u.id
   WHERE u.role = 'operator'`;

/** How long an event-like condition (a rejection, a fee mismatch) stays open: it cannot "go away". */
export const EVENT_ALERT_HOURS = 24;

/** Settlements errored, rejected (last 24 h) or stuck past the operator's threshold. */
async function settlementConditions(db: Queryable): Promise<AlertCondition[]> {
  const { rows } = await db.query<AlertCondition>(
    `WITH o AS (${OPERATOR_ALERT_SETTINGS})
     SELECT o.operator_user_id,
            r.rule,
            r.rule || ':' || s.id AS alert_key,
            'settlement' AS subject_type,
            s.id AS subject_id,
            CASE WHEN r.rule = 'settlement_errored' THEN 'critical' ELSE 'warning' END AS severity,
            CASE r.rule
              WHEN 'settlement_errored' THEN 'Settlement ' || s.payment_hash || ' on ' || m.name || ' errored: a leg failed'
              WHEN 'settlement_rejected' THEN 'Settlement ' || s.payment_hash || ' on ' || m.name || ' was rejected'
              ELSE 'Settlement ' || s.payment_hash || ' on ' || m.name || ' is stuck ' || s.status
            END AS summary,
            jsonb_build_object('payment_hash', s.payment_hash, 'machine_id', m.id, 'machine_name', m.name,
                               'status', s.status, 'error_message', s.error_message,
                               'wire_sats', s.wire_sats, 'fiat_amount', s.fiat_amount, 'fiat_code', s.fiat_code,
                               'created_at', s.created_at) AS details
       FROM o
       JOIN satmachine.dca_machines m ON m.operator_user_id = o.operator_user_id
       JOIN satmachine.dca_settlements s ON s.machine_id = m.id
       CROSS JOIN LATERAL (SELECT CASE
              WHEN s.status = 'errored' THEN 'settlement_errored'
              WHEN s.status = 'rejected' AND s.updated_at > now() - make_interval(hours => $1) THEN 'settlement_rejected'
              WHEN s.status = 'pending'
                   AND COALESCE(s.waiting_since, s.created_at) <= now() - make_interval(mins => o.stuck_after_minutes)
                THEN 'settlement_stuck'
              WHEN s.status = 'processing'
                   AND s.processing_started_at <= now() - make_interval(mins => o.stuck_after_minutes)
                THEN 'settlement_stuck'
            END AS rule) r
      WHERE o.settlement_alerts AND r.rule IS NOT NULL
        AND s.status IN ('errored', 'rejected', 'pending', 'processing')`,
    [EVENT_ALERT_HOURS],
  );
  return rows;
}

/** Active machines not seen (beacon, telemetry, settlement) for the operator's threshold. */
async function offlineConditions(db: Queryable): Promise<AlertCondition[]> {
  const { rows } = await db.query<AlertCondition>(
    `WITH o AS (${OPERATOR_ALERT_SETTINGS})
     SELECT o.operator_user_id, 'machine_offline' AS rule, 'machine_offline:' || m.id AS alert_key,
            'machine' AS subject_type, m.id AS subject_id, 'critical' AS severity,
            'Machine ' || m.name || ' is offline: not seen for ' || o.offline_after_minutes || ' minutes or more' AS summary,
            jsonb_build_object('machine_id', m.id, 'machine_name', m.name, 'last_seen_at', seen.at,
                               'offline_after_minutes', o.offline_after_minutes) AS details
       FROM o
       JOIN satmachine.dca_machines m ON m.operator_user_id = o.operator_user_id AND m.is_active
       LEFT JOIN satmachine.dca_telemetry t ON t.machine_id = m.id
       CROSS JOIN LATERAL (
         SELECT GREATEST(t.beacon_received_at, t.telemetry_received_at,
                         (SELECT max(created_at) FROM satmachine.dca_settlements WHERE machine_id = m.id)) AS at
       ) seen
      WHERE o.offline_after_minutes IS NOT NULL
        AND COALESCE(seen.at, m.created_at) <= now() - make_interval(mins => o.offline_after_minutes)`,
  );
  return rows;
}

/** Cassettes whose count (the machine's report, else the operator's view) is below the minimum. */
async function cassetteConditions(db: Queryable): Promise<AlertCondition[]> {
  const { rows } = await db.query<AlertCondition>(
    `WITH o AS (${OPERATOR_ALERT_SETTINGS})
     SELECT o.operator_user_id, 'cassette_low' AS rule,
            'cassette_low:' || m.id || ':' || c.position AS alert_key,
            'cassette' AS subject_type, m.id || ':' || c.position AS subject_id, 'warning' AS severity,
            'Cassette ' || c.position || ' of ' || m.name || ' holds ' || COALESCE(c.state_count, c.count) ||
              ' bills (below ' || o.cassette_min_count || ')' AS summary,
            jsonb_build_object('machine_id', m.id, 'machine_name', m.name, 'position', c.position,
                               'denomination', COALESCE(c.state_denomination, c.denomination),
                               'count', COALESCE(c.state_count, c.count), 'min_count', o.cassette_min_count) AS details
       FROM o
       JOIN satmachine.dca_machines m ON m.operator_user_id = o.operator_user_id AND m.is_active
       JOIN satmachine.cassette_configs c ON c.machine_id = m.id
      WHERE o.cassette_min_count IS NOT NULL AND COALESCE(c.state_count, c.count) < o.cassette_min_count`,
  );
  return rows;
}

/** Settlements of the last 24 h whose fee differs from the expected split by more than the tolerance. */
async function feeMismatchConditions(db: Queryable): Promise<AlertCondition[]> {
  const { rows } = await db.query<AlertCondition>(
    `WITH o AS (${OPERATOR_ALERT_SETTINGS})
     SELECT o.operator_user_id, 'fee_mismatch' AS rule, 'fee_mismatch:' || s.id AS alert_key,
            'settlement' AS subject_type, s.id AS subject_id, 'warning' AS severity,
            'Fee mismatch of ' || s.fee_mismatch_sats || ' sats on settlement ' || s.payment_hash || ' (' || m.name ||
              '), tolerance ' || tol.sats || ' sats' AS summary,
            jsonb_build_object('payment_hash', s.payment_hash, 'machine_id', m.id, 'machine_name', m.name,
                               'fee_sats', s.fee_sats, 'fee_mismatch_sats', s.fee_mismatch_sats,
                               'tolerance_sats', tol.sats, 'principal_sats', s.principal_sats) AS details
       FROM o
       JOIN satmachine.dca_machines m ON m.operator_user_id = o.operator_user_id
       JOIN satmachine.dca_settlements s ON s.machine_id = m.id
       CROSS JOIN LATERAL (SELECT COALESCE(o.fee_mismatch_tolerance_sats,
                                           GREATEST(1, floor(COALESCE(s.principal_sats, 0) * 0.001)))::bigint AS sats) tol
      WHERE o.fee_mismatch_alerts AND s.fee_mismatch_sats IS NOT NULL
        AND s.created_at > now() - make_interval(hours => $1)
        AND abs(s.fee_mismatch_sats) > tol.sats`,
    [EVENT_ALERT_HOURS],
  );
  return rows;
}

/** Active enrolments with deposits whose remaining fiat is below the LP's own threshold, else the operator's. */
async function lpBalanceConditions(db: Queryable): Promise<AlertCondition[]> {
  const { rows } = await db.query<AlertCondition>(
    `WITH o AS (${OPERATOR_ALERT_SETTINGS}),
     b AS (
       SELECT c.id AS client_id, c.user_id, c.username, m.id AS machine_id, m.name AS machine_name,
              m.operator_user_id, m.fiat_code,
              COALESCE(lb.confirmed_deposits, 0) AS deposits,
              COALESCE(lb.confirmed_deposits - lb.spent_fiat - lb.pending_fiat, 0) AS remaining
         FROM satmachine.dca_clients c
         JOIN satmachine.dca_machines m ON m.id = c.machine_id
         -- the maintained balance row (migration 0012): the same formula as every other
         -- balance read, without summing each enrolment's legs on every evaluation
         LEFT JOIN satmachine.lp_balances lb ON lb.client_id = c.id
        WHERE c.status = 'active')
     SELECT o.operator_user_id, 'lp_balance_low' AS rule, 'lp_balance_low:' || b.client_id AS alert_key,
            'client' AS subject_type, b.client_id AS subject_id, 'warning' AS severity,
            'LP ' || COALESCE(b.username, u.name) || ' at ' || b.machine_name || ' has ' ||
              b.remaining::numeric(18,2) || ' ' || b.fiat_code || ' left (below ' || th.min::numeric(18,2) || ')' AS summary,
            jsonb_build_object('client_id', b.client_id, 'lp_user_id', b.user_id, 'machine_id', b.machine_id,
                               'machine_name', b.machine_name, 'remaining', b.remaining::numeric(18,2)::text,
                               'threshold', th.min::numeric(18,2)::text, 'currency', b.fiat_code,
                               'threshold_set_by', th.who) AS details
       FROM b
       JOIN o ON o.operator_user_id = b.operator_user_id
       JOIN satmachine.users u ON u.id = b.user_id
       LEFT JOIN satmachine.lp_alert_settings l ON l.user_id = b.user_id
       CROSS JOIN LATERAL (SELECT COALESCE(l.remaining_min, o.lp_remaining_min) AS min,
                                  CASE WHEN l.remaining_min IS NOT NULL THEN 'lp' ELSE 'operator' END AS who) th
      WHERE th.min IS NOT NULL AND b.deposits > 0 AND b.remaining < th.min`,
  );
  return rows;
}

/** Every condition PostgreSQL decides, all operators. */
export async function databaseAlertConditions(db: Queryable): Promise<AlertCondition[]> {
  const parts = await Promise.all([
    settlementConditions(db),
    offlineConditions(db),
    cassetteConditions(db),
    feeMismatchConditions(db),
    lpBalanceConditions(db),
  ]);
  return parts.flat();
}

export interface MachineWalletRow {
  operator_user_id: string;
  machine_id: string;
  machine_name: string;
  wallet_id: string;
  wallet_min_sats: number | null;
  unreadable_alerts: boolean;
  /** ledger: the wallet's balance (null: no such ledger wallet) */
  ledger_balance_sats: number | null;
  /** LNbits: why the payment observer cannot read this wallet, when it cannot */
  lnbits_watch_error: string | null;
  lnbits_registered: boolean;
}

/** Active machines' wallets with what the database knows of them (balances are probed for LNbits). */
export async function machineWallets(db: Queryable): Promise<MachineWalletRow[]> {
  const { rows } = await db.query<MachineWalletRow>(
    `WITH o AS (${OPERATOR_ALERT_SETTINGS})
     SELECT o.operator_user_id, m.id AS machine_id, m.name AS machine_name, m.wallet_id,
            o.wallet_min_sats, o.unreadable_alerts,
            w.balance_sats AS ledger_balance_sats,
            lw.watch_error AS lnbits_watch_error, lw.wallet_id IS NOT NULL AS lnbits_registered
       FROM o
       JOIN satmachine.dca_machines m ON m.operator_user_id = o.operator_user_id AND m.is_active
       LEFT JOIN satmachine.ledger_wallets w ON w.id = m.wallet_id
       LEFT JOIN satmachine.lnbits_wallets lw ON lw.wallet_id = m.wallet_id
      WHERE o.wallet_min_sats IS NOT NULL OR o.unreadable_alerts`,
  );
  return rows;
}

/** Operators that want "cannot be read" alerts (relays are platform-wide: each such operator is told). */
export async function operatorsWithUnreadableAlerts(db: Queryable): Promise<string[]> {
  const { rows } = await db.query<{ operator_user_id: string }>(
    `SELECT operator_user_id FROM (${OPERATOR_ALERT_SETTINGS}) o WHERE o.unreadable_alerts`,
  );
  return rows.map((r) => r.operator_user_id);
}
