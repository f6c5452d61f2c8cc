import { OPERATOR_ALERT_SETTINGS } from './alertConditions';
import { newId } from './ids';
import type { Queryable } from './pool';
import { buildSet } from './sql';

/** An operator's alert rules and channels, defaults filled in (docs/alerts.md §1). */
export interface AlertSettingsRow {
  operator_user_id: string;
  settlement_alerts: boolean;
  stuck_after_minutes: number;
  offline_after_minutes: number | null;
  cassette_min_count: number | null;
  fee_mismatch_tolerance_sats: number | null;
  fee_mismatch_alerts: boolean;
  wallet_min_sats: number | null;
  lp_remaining_min: string | null;
  unreadable_alerts: boolean;
  nostr_recipient_pubkey: string | null;
  email_to: string | null;
}

export const ALERT_SETTING_COLUMNS = [
  'settlement_alerts',
  'stuck_after_minutes',
  'offline_after_minutes',
  'cassette_min_count',
  'fee_mismatch_tolerance_sats',
  'fee_mismatch_alerts',
  'wallet_min_sats',
  'lp_remaining_min',
  'unreadable_alerts',
  'nostr_recipient_pubkey',
  'email_to',
] as const;

export type AlertSettingsPatch = Partial<Omit<AlertSettingsRow, 'operator_user_id'>>;

export async function getAlertSettings(db: Queryable, operatorId: string): Promise<AlertSettingsRow | null> {
  const { rows } = await db.query<AlertSettingsRow>(
    `SELECT * FROM (${OPERATOR_ALERT_SETTINGS}) o WHERE o.operator_user_id = $1`,
    [operatorId],
  );
  return rows[0] ?? null;
}

/** Changes the given fields (whitelisted columns only); a first change stores the defaults with it. */
export async function updateAlertSettings(
  db: Queryable,
  operatorId: string,
  patch: AlertSettingsPatch,
): Promise<AlertSettingsRow | null> {
  await db.query(
    `INSERT INTO satmachine.alert_settings (operator_user_id) VALUES ($1) ON CONFLICT DO NOTHING`,
    [operatorId],
  );
  const params: unknown[] = [operatorId];
  const set = buildSet(patch, ALERT_SETTING_COLUMNS, params);
  if (set.count)
    await db.query(
      `UPDATE satmachine.alert_settings SET ${set.clause}, updated_at = now() WHERE operator_user_id = $1`,
      params,
    );
  return getAlertSettings(db, operatorId);
}

/** Whether a Nostr key is some operator's alert recipient (the embedded relay accepts gift wraps to it). */
export async function isAlertRecipient(db: Queryable, pubkeyHex: string): Promise<boolean> {
  const { rows } = await db.query(
    `SELECT 1 FROM satmachine.alert_settings WHERE nostr_recipient_pubkey = $1 LIMIT 1`,
    [pubkeyHex],
  );
  return rows.length > 0;
}

// ---- the LP's own threshold -----------------------------------------------------------

export async function getLpAlertThreshold(db: Queryable, userId: string): Promise<string | null> {
  const { rows } = await db.query<{ remaining_min: string | null }>(
    `SELECT remaining_min::text FROM satmachine.lp_alert_settings WHERE user_id = $1`,
    [userId],
  );
  return rows[0]?.remaining_min ?? null;
}

export async function setLpAlertThreshold(db: Queryable, userId: string, min: string | null): Promise<void> {
  await db.query(
    `INSERT INTO satmachine.lp_alert_settings (user_id, remaining_min) VALUES ($1, $2)
     ON CONFLICT (user_id) DO UPDATE SET remaining_min = excluded.remaining_min, updated_at = now()`,
    [userId, min],
  );
}

// ---- webhook endpoints -----------------------------------------------------------------

export interface WebhookRow {
  id: string;
  operator_user_id: string;
  url: string;
  secret_enc: string;
  description: string | null;
  enabled: boolean;
  created_at: Date;
}

export const newWebhookId = newId;

export async function insertWebhook(
  db: Queryable,
  w: { id: string; operator_user_id: string; url: string; secret_enc: string; description: string | null },
): Promise<WebhookRow> {
  const { rows } = await db.query<WebhookRow>(
    `INSERT INTO satmachine.alert_webhooks (id, operator_user_id, url, secret_enc, description)
     VALUES ($1, $2, $3, $4, $5) RETURNING *`,
    [w.id, w.operator_user_id, w.url, w.secret_enc, w.description],
  );
  return rows[0]!;
}

export async function listWebhooks(db: Queryable, operatorId: string): Promise<WebhookRow[]> {
  const { rows } = await db.query<WebhookRow>(
    `SELECT * FROM satmachine.alert_webhooks WHERE operator_user_id = $1 ORDER BY created_at, id`,
    [operatorId],
  );
  return rows;
}

export async function getOperatorWebhook(
  db: Queryable,
  operatorId: string,
  id: string,
): Promise<WebhookRow | null> {
  const { rows } = await db.query<WebhookRow>(
    `SELECT * FROM satmachine.alert_webhooks WHERE id = $1 AND operator_user_id = $2`,
    [id, operatorId],
  );
  return rows[0] ?? null;
}

export async function getWebhook(db: Queryable, id: string): Promise<WebhookRow | null> {
  const { rows } = await db.query<WebhookRow>(`SELECT * FROM satmachine.alert_webhooks WHERE id = $1`, [id]);
  return rows[0] ?? null;
}

export async function setWebhookEnabled(
  db: Queryable,
  operatorId: string,
  id: string,
  enabled: boolean,
): Promise<WebhookRow | null> {
  const { rows } = await db.query<WebhookRow>(
    `UPDATE satmachine.alert_webhooks SET enabled = $3 WHERE id = $1 AND operator_user_id = $2 RETURNING *`,
    [id, operatorId, enabled],
  );
  return rows[0] ?? null;
}

export async function deleteWebhook(db: Queryable, operatorId: string, id: string): Promise<boolean> {
  const { rowCount } = await db.query(
    `DELETE FROM satmachine.alert_webhooks WHERE id = $1 AND operator_user_id = $2`,
    [id, operatorId],
  );
  return (rowCount ?? 0) > 0;
}
