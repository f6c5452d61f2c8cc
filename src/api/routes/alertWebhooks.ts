import { createHmac, randomBytes } from 'node:crypto';
import { z } from 'zod';
import { webhookDeliveries } from '../../db/alerts';
import {
  deleteWebhook,
  getOperatorWebhook,
  insertWebhook,
  listWebhooks,
  newWebhookId,
  setWebhookEnabled,
  type WebhookRow,
} from '../../db/alertSettings';
import { webhookUrlProblem } from '../../payments/webhookTarget';
import { sealedColumns } from '../../security/secretBox';
import type { ApiDeps } from '../deps';
import { conflict, invalidField, notFound } from '../errors';
import type { RouteRegistry } from '../routeRegistry';
import { idParams, limitQuery } from '../schemas';
import { deliveryShape, deliveryView } from './alertDeliveryView';

const MAX_WEBHOOKS = 10;

const webhookShape = z
  .object({
    id: z.string(),
    url: z.string(),
    description: z.string().nullable(),
    enabled: z.boolean(),
    created_at: z.string(),
    /** a fingerprint of the secret (first 8 hex of its SHA-256 HMAC of "fingerprint"), to tell secrets apart */
    secret_hint: z.string(),
  })
  .meta({ id: 'AlertWebhook' });

/** Alert webhooks (docs/alerts.md §3): registered before /alerts/:id, whose path would take them. */
export function alertWebhookRoutes(r: RouteRegistry, deps: ApiDeps): void {
  const webhookView = (w: WebhookRow) => {
    const secret = deps.secretBox.open(w.secret_enc, sealedColumns.alertWebhookSecret(w.id));
    return {
      id: w.id,
      url: w.url,
      description: w.description,
      enabled: w.enabled,
      created_at: w.created_at.toISOString(),
      secret_hint: createHmac('sha256', secret).update('fingerprint').digest('hex').slice(0, 8),
    };
  };
  const webhookOf = async (operatorId: string, webhookId: string) => {
    const w = await getOperatorWebhook(deps.pool, operatorId, webhookId);
    if (!w) throw notFound(`webhook ${webhookId}`);
    return w;
  };

  r.add(
    {
      method: 'get',
      path: '/alerts/webhooks',
      operationId: 'listAlertWebhooks',
      summary: "The operator's alert webhooks (the secrets are never shown again)",
      tag: 'alerts',
      auth: ['operator'],
      response: z.array(webhookShape),
    },
    async ({ user }) => (await listWebhooks(deps.pool, user.id)).map(webhookView),
  );

  r.add(
    {
      method: 'post',
      path: '/alerts/webhooks',
      operationId: 'createAlertWebhook',
      summary:
        'Add a webhook: alerts are POSTed there signed with HMAC-SHA256 under the secret returned once (docs/alerts.md)',
      tag: 'alerts',
      auth: ['operator'],
      status: 201,
      body: z
        .object({ url: z.string().max(2000), description: z.string().trim().max(200).optional() })
        .strict(),
      response: z.object({ webhook: webhookShape, secret: z.string() }),
    },
    async ({ body, user }) => {
      const problem = await webhookUrlProblem(body.url, {
        allowLoopback: deps.config.webhookAllowLoopback ?? false,
      });
      if (problem) throw invalidField('body.url', `webhook url ${problem}`);
      if ((await listWebhooks(deps.pool, user.id)).length >= MAX_WEBHOOKS)
        throw conflict(`at most ${MAX_WEBHOOKS} webhooks per operator: delete one first`);
      const id = newWebhookId();
      const secret = `whsec_${randomBytes(32).toString('base64url')}`;
      const row = await insertWebhook(deps.pool, {
        id,
        operator_user_id: user.id,
        url: body.url,
        secret_enc: deps.secretBox.seal(secret, sealedColumns.alertWebhookSecret(id)),
        description: body.description ?? null,
      });
      return { webhook: webhookView(row), secret };
    },
  );

  r.add(
    {
      method: 'patch',
      path: '/alerts/webhooks/:id',
      operationId: 'updateAlertWebhook',
      summary: 'Turn a webhook on or off',
      tag: 'alerts',
      auth: ['operator'],
      params: idParams,
      body: z.object({ enabled: z.boolean() }).strict(),
      response: webhookShape,
    },
    async ({ params, body, user }) => {
      const row = await setWebhookEnabled(deps.pool, user.id, params.id, body.enabled);
      if (!row) throw notFound(`webhook ${params.id}`);
      return webhookView(row);
    },
  );

  r.add(
    {
      method: 'delete',
      path: '/alerts/webhooks/:id',
      operationId: 'deleteAlertWebhook',
      summary: 'Remove a webhook (its delivery log stays)',
      tag: 'alerts',
      auth: ['operator'],
      params: idParams,
    },
    async ({ params, user }) => {
      if (!(await deleteWebhook(deps.pool, user.id, params.id))) throw notFound(`webhook ${params.id}`);
      return undefined;
    },
  );

  r.add(
    {
      method: 'get',
      path: '/alerts/webhooks/:id/deliveries',
      operationId: 'listAlertWebhookDeliveries',
      summary: "A webhook's delivery log: every attempt, newest first",
      tag: 'alerts',
      auth: ['operator'],
      params: idParams,
      query: z.object({ limit: limitQuery(1000, 100) }),
      response: z.array(deliveryShape),
    },
    async ({ params, query, user }) => {
      await webhookOf(user.id, params.id);
      return (await webhookDeliveries(deps.pool, user.id, params.id, query.limit)).map(deliveryView);
    },
  );
}
