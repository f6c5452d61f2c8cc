import { z } from 'zod';
import { ALERT_RULES } from '../../db/alertConditions';
import { alertDeliveries, getOperatorAlert, listOperatorAlerts, type AlertRow } from '../../db/alerts';
import {
  getAlertSettings,
  getLpAlertThreshold,
  setLpAlertThreshold,
  updateAlertSettings,
  type AlertSettingsRow,
} from '../../db/alertSettings';
import { formatCents } from '../../domain/decimal';
import type { ApiDeps } from '../deps';
import { notFound } from '../errors';
import { keysetPage } from '../pagination';
import type { RouteRegistry } from '../routeRegistry';
import { cursorPage, cursorQuery, fiatCents, idParams, pubkey } from '../schemas';
import { deliveryShape, deliveryView } from './alertDeliveryView';

const alertShape = z
  .object({
    id: z.string(),
    rule: z.enum(ALERT_RULES),
    alert_key: z.string(),
    subject_type: z.string(),
    subject_id: z.string(),
    severity: z.enum(['warning', 'critical']),
    status: z.enum(['open', 'resolved']),
    summary: z.string(),
    details: z.record(z.string(), z.unknown()),
    opened_at: z.string(),
    last_seen_at: z.string(),
    resolved_at: z.string().nullable(),
    workflow_url: z.string(),
  })
  .meta({ id: 'Alert' });

const settingsShape = z
  .object({
    settlement_alerts: z.boolean(),
    stuck_after_minutes: z.number().int(),
    offline_after_minutes: z.number().int().nullable(),
    cassette_min_count: z.number().int().nullable(),
    fee_mismatch_alerts: z.boolean(),
    fee_mismatch_tolerance_sats: z.number().int().nullable(),
    wallet_min_sats: z.number().int().nullable(),
    lp_remaining_min: z.string().nullable(),
    unreadable_alerts: z.boolean(),
    nostr_recipient_pubkey: z.string().nullable(),
    email_to: z.string().nullable(),
    /** the key alert DMs are signed with (the operator's own) */
    nostr_sender_pubkey: z.string().nullable(),
  })
  .meta({ id: 'AlertSettings' });

const EMAIL = /^[^\s<>@",;:\\]+@[^\s<>@",;:\\]+\.[^\s<>@",;:\\]+$/;

export function alertRoutes(r: RouteRegistry, deps: ApiDeps): void {
  const workflowUrl = (alertId: string) =>
    `${deps.config.temporalUiUrl.replace(/\/$/, '')}/namespaces/${encodeURIComponent(deps.config.namespace)}/workflows/alert-${alertId}`;
  const alertView = (a: AlertRow) => ({
    id: a.id,
    rule: a.rule as (typeof ALERT_RULES)[number],
    alert_key: a.alert_key,
    subject_type: a.subject_type,
    subject_id: a.subject_id,
    severity: a.severity,
    status: a.status,
    summary: a.summary,
    details: a.details,
    opened_at: a.opened_at.toISOString(),
    last_seen_at: a.last_seen_at.toISOString(),
    resolved_at: a.resolved_at ? a.resolved_at.toISOString() : null,
    workflow_url: workflowUrl(a.id),
  });
  const settingsView = (s: AlertSettingsRow, sender: string | null) => ({
    settlement_alerts: s.settlement_alerts,
    stuck_after_minutes: s.stuck_after_minutes,
    offline_after_minutes: s.offline_after_minutes,
    cassette_min_count: s.cassette_min_count,
    fee_mismatch_alerts: s.fee_mismatch_alerts,
    fee_mismatch_tolerance_sats: s.fee_mismatch_tolerance_sats,
    wallet_min_sats: s.wallet_min_sats,
    lp_remaining_min: s.lp_remaining_min,
    unreadable_alerts: s.unreadable_alerts,
    nostr_recipient_pubkey: s.nostr_recipient_pubkey,
    email_to: s.email_to,
    nostr_sender_pubkey: sender,
  });
  r.add(
    {
      method: 'get',
      path: '/alerts',
      operationId: 'listAlerts',
      summary: "The operator's alerts (open and resolved), newest first (cursor pagination)",
      tag: 'alerts',
      auth: ['operator'],
      query: z.object({
        status: z.enum(['open', 'resolved']).optional(),
        rule: z.enum(ALERT_RULES).optional(),
        ...cursorQuery(),
      }),
      response: cursorPage(alertShape),
    },
    async ({ query, user }) => {
      return keysetPage(
        query,
        ({ limit, before }) =>
          listOperatorAlerts(deps.pool, user.id, {
            status: query.status,
            rule: query.rule,
            limit,
            ...(before ? { before: { opened_at: before.at, id: before.id } } : {}),
          }),
        alertView,
        (a) => new Date(Number(a.cursor_ms)),
      );
    },
  );

  r.add(
    {
      method: 'get',
      path: '/alerts/settings',
      operationId: 'getAlertSettings',
      summary: 'Alert rules (thresholds) and where alerts are delivered',
      tag: 'alerts',
      auth: ['operator'],
      response: settingsShape,
    },
    async ({ user }) =>
      settingsView((await getAlertSettings(deps.pool, user.id))!, user.nostr_pubkey ?? null),
  );

  r.add(
    {
      method: 'patch',
      path: '/alerts/settings',
      operationId: 'updateAlertSettings',
      summary: 'Change alert rules or channels (fields left out are kept; null turns a threshold rule off)',
      tag: 'alerts',
      auth: ['operator'],
      body: z
        .object({
          settlement_alerts: z.boolean().optional(),
          stuck_after_minutes: z.number().int().min(1).max(10080).optional(),
          offline_after_minutes: z.number().int().min(1).max(10080).nullable().optional(),
          cassette_min_count: z.number().int().min(0).max(100000).nullable().optional(),
          fee_mismatch_alerts: z.boolean().optional(),
          fee_mismatch_tolerance_sats: z
            .number()
            .int()
            .min(0)
            .max(2_100_000_000_000_000)
            .nullable()
            .optional(),
          wallet_min_sats: z.number().int().min(0).max(2_100_000_000_000_000).nullable().optional(),
          lp_remaining_min: fiatCents().nullable().optional(),
          unreadable_alerts: z.boolean().optional(),
          nostr_recipient: pubkey.nullable().optional(),
          email_to: z
            .string()
            .max(254)
            .regex(EMAIL, 'must be an e-mail address name@domain')
            .nullable()
            .optional(),
        })
        .strict(),
      response: settingsShape,
    },
    async ({ body, user }) => {
      const { nostr_recipient, lp_remaining_min, ...rest } = body;
      const row = await updateAlertSettings(deps.pool, user.id, {
        ...rest,
        ...(nostr_recipient !== undefined ? { nostr_recipient_pubkey: nostr_recipient } : {}),
        ...(lp_remaining_min !== undefined
          ? { lp_remaining_min: lp_remaining_min === null ? null : formatCents(lp_remaining_min) }
          : {}),
      });
      return settingsView(row!, user.nostr_pubkey ?? null);
    },
  );

  r.add(
    {
      method: 'get',
      path: '/alerts/:id',
      operationId: 'getAlert',
      summary: 'One alert with every delivery attempt',
      tag: 'alerts',
      auth: ['operator'],
      params: idParams,
      response: alertShape.extend({ deliveries: z.array(deliveryShape) }).meta({ id: 'AlertWithDeliveries' }),
    },
    async ({ params, user }) => {
      const a = await getOperatorAlert(deps.pool, user.id, params.id);
      if (!a) throw notFound(`alert ${params.id}`);
      return { ...alertView(a), deliveries: (await alertDeliveries(deps.pool, a.id)).map(deliveryView) };
    },
  );

  const lpShape = z.object({ remaining_min: z.string().nullable() }).meta({ id: 'LpAlertSettings' });

  r.add(
    {
      method: 'get',
      path: '/lp/alert-settings',
      operationId: 'getLpAlertSettings',
      summary: "The LP's own threshold: its operators are alerted when a remaining balance falls below it",
      tag: 'lp',
      auth: ['lp'],
      response: lpShape,
    },
    async ({ user }) => ({ remaining_min: await getLpAlertThreshold(deps.pool, user.id) }),
  );

  r.add(
    {
      method: 'put',
      path: '/lp/alert-settings',
      operationId: 'setLpAlertSettings',
      summary: "Set the LP's own low-balance threshold (null: the operator's default applies)",
      tag: 'lp',
      auth: ['lp'],
      body: z.object({ remaining_min: fiatCents().nullable() }).strict(),
      response: lpShape,
    },
    async ({ body, user }) => {
      await setLpAlertThreshold(
        deps.pool,
        user.id,
        body.remaining_min === null ? null : formatCents(body.remaining_min),
      );
      return { remaining_min: await getLpAlertThreshold(deps.pool, user.id) };
    },
  );
}
