import { ApplicationFailure, Context } from '@temporalio/activity';
import { wrapEvent } from 'nostr-tools/nip17';
import { hexToBytes } from 'nostr-tools/utils';
import {
  getAlert,
  markAlertWorkflowStarted,
  recordDelivery,
  wasDelivered,
  type AlertChannel,
  type AlertRow,
} from '../../db/alerts';
import { getAlertSettings, getWebhook, listWebhooks } from '../../db/alertSettings';
import { getUser } from '../../db/users';
import { publishToRelays } from '../../nostr/relayClient';
import { ForbiddenAddressError } from '../../payments/addressPolicy';
import { guardedPost } from '../../payments/webhookTarget';
import { sealedColumns } from '../../security/secretBox';
import type { ActivityDeps } from '../deps';
import { alertPayload, alertSubject, alertText, type AlertEventName } from './payload';
import { parseSmtpUrl, sendMail } from './smtpClient';
import { signatureHeader } from './webhookSignature';

export interface DeliveryTarget {
  channel: AlertChannel;
  endpoint: string;
}

export interface DeliveryPlan {
  status: 'open' | 'resolved';
  targets: DeliveryTarget[];
}

export interface DeliverInput {
  alert_id: string;
  event: AlertEventName;
  endpoint: string;
}

export type DeliverOutcome = 'delivered' | 'already_delivered' | 'skipped';

/** Where an alert event goes now: every enabled webhook, the DM recipient, the e-mail address. */
export async function planAlertDeliveries(
  deps: ActivityDeps,
  input: { alert_id: string; event: AlertEventName },
): Promise<DeliveryPlan> {
  const alert = await getAlert(deps.pool, input.alert_id);
  if (!alert) return { status: 'resolved', targets: [] }; // operator deleted: nothing to tell
  if (input.event === 'open') await markAlertWorkflowStarted(deps.pool, alert.id);
  const settings = await getAlertSettings(deps.pool, alert.operator_user_id);
  const hooks = await listWebhooks(deps.pool, alert.operator_user_id);
  const targets: DeliveryTarget[] = hooks
    .filter((h) => h.enabled)
    .map((h) => ({ channel: 'webhook' as const, endpoint: h.id }));
  if (settings?.nostr_recipient_pubkey)
    targets.push({ channel: 'nostr', endpoint: settings.nostr_recipient_pubkey });
  if (settings?.email_to && deps.alerts?.smtpUrl)
    targets.push({ channel: 'email', endpoint: settings.email_to });
  return { status: alert.status, targets };
}

interface Attempt {
  alert: AlertRow;
  attempt: number;
}

async function begin(
  deps: ActivityDeps,
  input: DeliverInput,
  channel: AlertChannel,
): Promise<Attempt | null> {
  const alert = await getAlert(deps.pool, input.alert_id);
  if (!alert) return null;
  if (await wasDelivered(deps.pool, alert.id, input.event, channel, input.endpoint)) return null;
  return { alert, attempt: Context.current().info.attempt };
}

async function log(
  deps: ActivityDeps,
  a: Attempt,
  input: DeliverInput,
  channel: AlertChannel,
  outcome: 'delivered' | 'failed' | 'refused',
  extra: { http_status?: number; error?: string } = {},
) {
  await recordDelivery(deps.pool, {
    alert_id: a.alert.id,
    operator_user_id: a.alert.operator_user_id,
    channel,
    endpoint: input.endpoint,
    event: input.event,
    attempt: a.attempt,
    outcome,
    http_status: extra.http_status ?? null,
    error: extra.error ?? null,
  });
}

/** A delivery that can never succeed as configured (not retried). */
function refused(message: string): ApplicationFailure {
  return ApplicationFailure.create({ message, type: 'DeliveryRefused', nonRetryable: true });
}

/** POSTs the signed payload to one webhook; a non-2xx answer or a network error is retried. */
export async function deliverAlertWebhook(deps: ActivityDeps, input: DeliverInput): Promise<DeliverOutcome> {
  const a = await begin(deps, input, 'webhook');
  if (!a) return 'already_delivered';
  const hook = await getWebhook(deps.pool, input.endpoint);
  if (!hook || hook.operator_user_id !== a.alert.operator_user_id || !hook.enabled) return 'skipped';
  const secret = deps.secretBox.open(hook.secret_enc, sealedColumns.alertWebhookSecret(hook.id));
  const body = JSON.stringify(alertPayload(a.alert, input.event, new Date()));
  const payloadType = input.event === 'open' ? 'alert.opened' : 'alert.resolved';
  const headers = {
    'content-type': 'application/json',
    'user-agent': 'satmachine-alerts',
    'x-satmachine-event': payloadType,
    'x-satmachine-delivery': `${a.alert.id}:${input.event}`,
    'x-satmachine-signature': signatureHeader(secret, body, Math.floor(Date.now() / 1000)),
  };
  const policy = { allowLoopback: deps.alerts?.webhookAllowLoopback ?? false };
  let status: number;
  try {
    ({ status } = await guardedPost(hook.url, body, headers, policy));
  } catch (err) {
    const message = (err as Error).message;
    if (err instanceof ForbiddenAddressError) {
      await log(deps, a, input, 'webhook', 'refused', { error: message });
      throw refused(message);
    }
    await log(deps, a, input, 'webhook', 'failed', { error: message });
    throw new Error(`webhook ${hook.url}: ${message}`, { cause: err });
  }
  if (status >= 200 && status < 300) {
    await log(deps, a, input, 'webhook', 'delivered', { http_status: status });
    return 'delivered';
  }
  const why = status >= 300 && status < 400 ? 'redirects are not followed' : 'not a 2xx answer';
  await log(deps, a, input, 'webhook', 'failed', { http_status: status, error: why });
  throw new Error(`webhook ${hook.url} answered HTTP ${status} (${why}); retrying with backoff`);
}

/**
 * Sends a NIP-17 direct message (kind 14 sealed in 13, gift-wrapped in 1059, NIP-44
 * inside) from the operator's own key to the recipient, published to the relays.
 */
export async function deliverAlertNostr(deps: ActivityDeps, input: DeliverInput): Promise<DeliverOutcome> {
  const a = await begin(deps, input, 'nostr');
  if (!a) return 'already_delivered';
  const relays = deps.alerts?.relays ?? [];
  const operator = await getUser(deps.pool, a.alert.operator_user_id);
  if (!operator?.nostr_secret_enc) {
    await log(deps, a, input, 'nostr', 'refused', { error: 'the operator has no Nostr key' });
    throw refused('the operator has no Nostr key to sign direct messages with');
  }
  if (!relays.length) {
    await log(deps, a, input, 'nostr', 'refused', { error: 'no relays configured' });
    throw refused('no Nostr relays are configured (NOSTR_RELAYS)');
  }
  const secret = deps.secretBox.open(
    operator.nostr_secret_enc,
    sealedColumns.operatorNostrSecret(operator.id),
  );
  const payload = alertPayload(a.alert, input.event, new Date());
  const wrap = wrapEvent(
    hexToBytes(secret),
    { publicKey: input.endpoint },
    alertText(payload),
    alertSubject(payload),
  );
  const results = await publishToRelays(relays, wrap, deps.logger.child({}, { level: 'warn' }));
  const accepted = results.filter((r) => r.accepted);
  if (accepted.length) {
    await log(deps, a, input, 'nostr', 'delivered', {
      ...(accepted.length < results.length
        ? {
            error: results
              .filter((r) => !r.accepted)
              .map((r) => `${r.relay}: ${r.message}`)
              .join('; '),
          }
        : {}),
    });
    return 'delivered';
  }
  const why = results.map((r) => `${r.relay}: ${r.message}`).join('; ');
  await log(deps, a, input, 'nostr', 'failed', { error: why });
  throw new Error(`no relay accepted the direct message (${why})`);
}

/** Sends the alert as a plain-text e-mail through SMTP_URL. */
export async function deliverAlertEmail(deps: ActivityDeps, input: DeliverInput): Promise<DeliverOutcome> {
  const smtpUrl = deps.alerts?.smtpUrl;
  if (!smtpUrl) return 'skipped';
  const a = await begin(deps, input, 'email');
  if (!a) return 'already_delivered';
  const payload = alertPayload(a.alert, input.event, new Date());
  try {
    await sendMail(parseSmtpUrl(smtpUrl), {
      from: deps.alerts?.smtpFrom ?? 'satmachine@localhost',
      to: input.endpoint,
      subject: alertSubject(payload),
      text: alertText(payload),
      messageId: `${payload.delivery_id.replace(':', '.')}@satmachine`,
    });
  } catch (err) {
    await log(deps, a, input, 'email', 'failed', { error: (err as Error).message });
    throw err;
  }
  await log(deps, a, input, 'email', 'delivered');
  return 'delivered';
}
