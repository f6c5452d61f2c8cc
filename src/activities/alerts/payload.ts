import type { AlertRow } from '../../db/alerts';

export type AlertEventName = 'open' | 'resolve';

/** The JSON every channel carries (webhook body; inside the DM and e-mail as text). */
export interface AlertPayload {
  type: 'alert.opened' | 'alert.resolved';
  /** the same for every attempt of one delivery: receivers deduplicate on it */
  delivery_id: string;
  sent_at: string;
  alert: {
    id: string;
    operator_id: string;
    rule: string;
    key: string;
    subject_type: string;
    subject_id: string;
    severity: string;
    status: 'open' | 'resolved';
    summary: string;
    details: Record<string, unknown>;
    opened_at: string;
    resolved_at: string | null;
  };
}

export function alertPayload(alert: AlertRow, event: AlertEventName, sentAt: Date): AlertPayload {
  return {
    type: event === 'open' ? 'alert.opened' : 'alert.resolved',
    delivery_id: `${alert.id}:${event}`,
    sent_at: sentAt.toISOString(),
    alert: {
      id: alert.id,
      operator_id: alert.operator_user_id,
      rule: alert.rule,
      key: alert.alert_key,
      subject_type: alert.subject_type,
      subject_id: alert.subject_id,
      severity: alert.severity,
      // what the receiver is told: an open is open, a resolve is resolved
      status: event === 'open' ? 'open' : 'resolved',
      summary: alert.summary,
      details: alert.details,
      opened_at: alert.opened_at.toISOString(),
      resolved_at: alert.resolved_at ? alert.resolved_at.toISOString() : null,
    },
  };
}

/** Subject line of a DM / e-mail: `[satmachine] OPEN critical: <summary>`. */
export function alertSubject(p: AlertPayload): string {
  const what = p.type === 'alert.opened' ? `OPEN ${p.alert.severity}` : 'RESOLVED';
  return `[satmachine] ${what}: ${p.alert.summary}`.replace(/[\r\n]+/g, ' ').slice(0, 200);
}

/** Plain text of a DM / e-mail: a readable head, then the payload as JSON. */
export function alertText(p: AlertPayload): string {
  return [
    alertSubject(p),
    '',
    `rule: ${p.alert.rule}`,
    `subject: ${p.alert.subject_type} ${p.alert.subject_id}`,
    `opened: ${p.alert.opened_at}`,
    ...(p.alert.resolved_at ? [`resolved: ${p.alert.resolved_at}`] : []),
    `alert id: ${p.alert.id}`,
    '',
    JSON.stringify(p),
  ].join('\n');
}
