import type { AlertCondition } from './alertConditions';
import { newId } from './ids';
import type { Pool, Queryable } from './pool';

/** An alert (migration 0013): opened once by a condition, resolved once when it is gone. */
export interface AlertRow {
  id: string;
  operator_user_id: string;
  rule: string;
  alert_key: string;
  subject_type: string;
  subject_id: string;
  severity: 'warning' | 'critical';
  summary: string;
  details: Record<string, unknown>;
  status: 'open' | 'resolved';
  clear_streak: number;
  workflow_started: boolean;
  opened_at: Date;
  last_seen_at: Date;
  resolved_at: Date | null;
}

/** Evaluations in a row that must find a condition gone before its alert resolves (hysteresis). */
export const RESOLVE_AFTER_CLEAR_EVALUATIONS = 2;

export interface EvaluationOutcome {
  /** alerts opened by this evaluation */
  opened: string[];
  /** alerts resolved by this evaluation */
  resolved: string[];
  /** open alerts whose workflow has not reported in (opened by an evaluation that did not finish) */
  unstarted: string[];
  /** open alerts whose condition is gone, waiting for one more evaluation before they resolve */
  clearing: string[];
  open: number;
}

/**
 * Applies one evaluation: every condition that holds keeps (or opens) its alert; every
 * open alert whose condition is gone counts one more clear evaluation and resolves at
 * RESOLVE_AFTER_CLEAR_EVALUATIONS. One evaluation at a time (transaction-scoped
 * advisory lock); the partial unique index keeps one open alert per key regardless.
 */
export async function applyEvaluation(pool: Pool, conditions: AlertCondition[]): Promise<EvaluationOutcome> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query(`SELECT pg_advisory_xact_lock(hashtext('satmachine.alerts.evaluate'))`);
    const { rows: open } = await client.query<{
      id: string;
      operator_user_id: string;
      alert_key: string;
      clear_streak: number;
      workflow_started: boolean;
    }>(
      `SELECT id, operator_user_id, alert_key, clear_streak, workflow_started
         FROM satmachine.alerts WHERE status = 'open'`,
    );
    const byKey = new Map(open.map((a) => [`${a.operator_user_id} ${a.alert_key}`, a]));
    const seen = new Set<string>();
    const holding: AlertCondition[] = [];
    const fresh: AlertCondition[] = [];
    for (const c of conditions) {
      const k = `${c.operator_user_id} ${c.alert_key}`;
      if (seen.has(k)) continue;
      seen.add(k);
      (byKey.has(k) ? holding : fresh).push(c);
    }
    if (holding.length) {
      await client.query(
        `UPDATE satmachine.alerts a
            SET clear_streak = 0, last_seen_at = now(), summary = c.summary, details = c.details
           FROM unnest($1::text[], $2::text[], $3::text[], $4::jsonb[]) AS c(operator_user_id, alert_key, summary, details)
          WHERE a.status = 'open' AND a.operator_user_id = c.operator_user_id AND a.alert_key = c.alert_key`,
        [
          holding.map((c) => c.operator_user_id),
          holding.map((c) => c.alert_key),
          holding.map((c) => c.summary),
          holding.map((c) => JSON.stringify(c.details)),
        ],
      );
    }
    const opened: string[] = [];
    for (const c of fresh) {
      const { rows } = await client.query<{ id: string }>(
        `INSERT INTO satmachine.alerts
           (id, operator_user_id, rule, alert_key, subject_type, subject_id, severity, summary, details)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (operator_user_id, alert_key) WHERE status = 'open' DO NOTHING
         RETURNING id`,
        [
          newId(),
          c.operator_user_id,
          c.rule,
          c.alert_key,
          c.subject_type,
          c.subject_id,
          c.severity,
          c.summary,
          JSON.stringify(c.details),
        ],
      );
      if (rows[0]) opened.push(rows[0].id);
    }
    const gone = open.filter((a) => !seen.has(`${a.operator_user_id} ${a.alert_key}`));
    const resolved: string[] = [];
    const clearing: string[] = [];
    for (const a of gone) {
      if (a.clear_streak + 1 >= RESOLVE_AFTER_CLEAR_EVALUATIONS) resolved.push(a.id);
      else clearing.push(a.id);
    }
    if (clearing.length)
      await client.query(
        `UPDATE satmachine.alerts SET clear_streak = clear_streak + 1 WHERE id = ANY($1) AND status = 'open'`,
        [clearing],
      );
    if (resolved.length)
      await client.query(
        `UPDATE satmachine.alerts SET status = 'resolved', resolved_at = now(), clear_streak = clear_streak + 1
          WHERE id = ANY($1) AND status = 'open'`,
        [resolved],
      );
    await client.query('COMMIT');
    const resolvedSet = new Set(resolved);
    return {
      opened,
      resolved,
      clearing,
      unstarted: open.filter((a) => !a.workflow_started && !resolvedSet.has(a.id)).map((a) => a.id),
      open: open.length - resolved.length + opened.length,
    };
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

export async function markAlertWorkflowStarted(db: Queryable, alertId: string): Promise<void> {
  await db.query(`UPDATE satmachine.alerts SET workflow_started = true WHERE id = $1`, [alertId]);
}

export async function getAlert(db: Queryable, alertId: string): Promise<AlertRow | null> {
  const { rows } = await db.query<AlertRow>(`SELECT * FROM satmachine.alerts WHERE id = $1`, [alertId]);
  return rows[0] ?? null;
}

export async function getOperatorAlert(
  db: Queryable,
  operatorId: string,
  alertId: string,
): Promise<AlertRow | null> {
  const { rows } = await db.query<AlertRow>(
    `SELECT * FROM satmachine.alerts WHERE id = $1 AND operator_user_id = $2`,
    [alertId, operatorId],
  );
  return rows[0] ?? null;
}

export interface AlertListFilter {
  status?: 'open' | 'resolved';
  rule?: string;
  limit: number;
  /** keyset: rows older than this (opened_at, id) */
  before?: { opened_at: Date; id: string };
}

/** One page of the operator's alerts, newest first. */
export async function listOperatorAlerts(
  db: Queryable,
  operatorId: string,
  f: AlertListFilter,
): Promise<(AlertRow & { cursor_ms: number })[]> {
  const params: unknown[] = [operatorId, f.limit];
  const where = ['operator_user_id = $1'];
  if (f.status) {
    params.push(f.status);
    where.push(`status = $${params.length}`);
  }
  if (f.rule) {
    params.push(f.rule);
    where.push(`rule = $${params.length}`);
  }
  if (f.before) {
    params.push(f.before.opened_at, f.before.id);
    where.push(`(date_trunc('milliseconds', opened_at), id) < ($${params.length - 1}, $${params.length})`);
  }
  const { rows } = await db.query<AlertRow & { cursor_ms: number }>(
    `SELECT *, (extract(epoch FROM date_trunc('milliseconds', opened_at)) * 1000)::bigint AS cursor_ms
       FROM satmachine.alerts WHERE ${where.join(' AND ')}
      ORDER BY date_trunc('milliseconds', opened_at) DESC, id DESC LIMIT $2`,
    params,
  );
  return rows;
}

// ---- deliveries ---------------------------------------------------------------------

export type AlertChannel = 'webhook' | 'nostr' | 'email';
export type AlertEvent = 'open' | 'resolve';

export interface DeliveryRow {
  id: string;
  alert_id: string;
  operator_user_id: string;
  channel: AlertChannel;
  endpoint: string;
  event: AlertEvent;
  attempt: number;
  outcome: 'delivered' | 'failed' | 'refused';
  http_status: number | null;
  error: string | null;
  created_at: Date;
}

export async function wasDelivered(
  db: Queryable,
  alertId: string,
  event: AlertEvent,
  channel: AlertChannel,
  endpoint: string,
): Promise<boolean> {
  const { rows } = await db.query(
    `SELECT 1 FROM satmachine.alert_deliveries
      WHERE alert_id = $1 AND event = $2 AND channel = $3 AND endpoint = $4 AND outcome = 'delivered'`,
    [alertId, event, channel, endpoint],
  );
  return rows.length > 0;
}

/** Logs one attempt; a second success of the same delivery is not logged twice. */
export async function recordDelivery(
  db: Queryable,
  d: Omit<DeliveryRow, 'id' | 'created_at'>,
): Promise<void> {
  await db.query(
    `INSERT INTO satmachine.alert_deliveries
       (id, alert_id, operator_user_id, channel, endpoint, event, attempt, outcome, http_status, error)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
     ON CONFLICT DO NOTHING`,
    [
      newId(),
      d.alert_id,
      d.operator_user_id,
      d.channel,
      d.endpoint,
      d.event,
      d.attempt,
      d.outcome,
      d.http_status,
      d.error?.slice(0, 1000) ?? null,
    ],
  );
}

export async function alertDeliveries(db: Queryable, alertId: string): Promise<DeliveryRow[]> {
  const { rows } = await db.query<DeliveryRow>(
    `SELECT * FROM satmachine.alert_deliveries WHERE alert_id = $1 ORDER BY created_at, id`,
    [alertId],
  );
  return rows;
}

/** The delivery log of one webhook (newest first), scoped to its operator. */
export async function webhookDeliveries(
  db: Queryable,
  operatorId: string,
  webhookId: string,
  limit: number,
): Promise<DeliveryRow[]> {
  const { rows } = await db.query<DeliveryRow>(
    `SELECT * FROM satmachine.alert_deliveries
      WHERE channel = 'webhook' AND endpoint = $1 AND operator_user_id = $2
      ORDER BY created_at DESC, id DESC LIMIT $3`,
    [webhookId, operatorId, limit],
  );
  return rows;
}
