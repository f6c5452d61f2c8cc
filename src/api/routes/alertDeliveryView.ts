import { z } from 'zod';
import type { DeliveryRow } from '../../db/alerts';

/** One delivery attempt of an alert (the delivery log), as the API shows it. */
export const deliveryShape = z
  .object({
    id: z.string(),
    alert_id: z.string(),
    channel: z.enum(['webhook', 'nostr', 'email']),
    endpoint: z.string(),
    event: z.enum(['open', 'resolve']),
    attempt: z.number().int(),
    outcome: z.enum(['delivered', 'failed', 'refused']),
    http_status: z.number().int().nullable(),
    error: z.string().nullable(),
    created_at: z.string(),
  })
  .meta({ id: 'AlertDelivery' });

export const deliveryView = (d: DeliveryRow) => ({
  id: d.id,
  alert_id: d.alert_id,
  channel: d.channel,
  endpoint: d.endpoint,
  event: d.event,
  attempt: d.attempt,
  outcome: d.outcome,
  http_status: d.http_status,
  error: d.error,
  created_at: d.created_at.toISOString(),
});
