import type { ApiDeps } from '../deps';
import type { RouteRegistry } from '../routeRegistry';
import { alertRoutes } from './alerts';
import { alertWebhookRoutes } from './alertWebhooks';
import { apiKeyRoutes } from './apiKeys';
import { cashRoutes } from './cash';
import { clientRoutes } from './clients';
import { commissionSplitRoutes } from './commissionSplits';
import { depositRoutes } from './deposits';
import { ledgerRoutes } from './ledger';
import { lnbitsWalletRoutes } from './lnbitsWallets';
import { lpRoutes } from './lp';
import { paymentRoutes } from './payments';
import { reportRoutes } from './reports';
import { settlementActionRoutes } from './settlementActions';
import { settlementRoutes } from './settlements';
import { machineRoutes } from './machines';
import { machineStateRoutes } from './machineState';
import { superConfigRoutes } from './superConfig';
import { userRoutes } from './users';

/** Every /api/v1 route, one module per resource. */
export function mountRoutes(r: RouteRegistry, deps: ApiDeps): void {
  userRoutes(r, deps);
  apiKeyRoutes(r, deps);
  superConfigRoutes(r, deps);
  machineRoutes(r, deps);
  machineStateRoutes(r, deps);
  cashRoutes(r, deps);
  clientRoutes(r, deps);
  depositRoutes(r, deps);
  settlementRoutes(r, deps);
  settlementActionRoutes(r, deps);
  commissionSplitRoutes(r, deps);
  paymentRoutes(r, deps);
  lpRoutes(r, deps);
  reportRoutes(r, deps);
  ledgerRoutes(r, deps);
  lnbitsWalletRoutes(r, deps);
  alertWebhookRoutes(r, deps);
  alertRoutes(r, deps);
}
