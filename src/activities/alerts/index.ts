import type { ActivityDeps } from '../deps';
import {
  deliverAlertEmail,
  deliverAlertNostr,
  deliverAlertWebhook,
  planAlertDeliveries,
  type DeliverInput,
} from './deliver';
import { evaluateAlerts } from './evaluate';
import type { AlertEventName } from './payload';

/** The alert activities (docs/alerts.md), bound to the worker's dependencies. */
export function createAlertActivities(deps: ActivityDeps) {
  return {
    evaluateAlerts: () => evaluateAlerts(deps),
    planAlertDeliveries: (input: { alert_id: string; event: AlertEventName }) =>
      planAlertDeliveries(deps, input),
    deliverAlertWebhook: (input: DeliverInput) => deliverAlertWebhook(deps, input),
    deliverAlertNostr: (input: DeliverInput) => deliverAlertNostr(deps, input),
    deliverAlertEmail: (input: DeliverInput) => deliverAlertEmail(deps, input),
  };
}
