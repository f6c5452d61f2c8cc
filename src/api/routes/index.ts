import type { ApiDeps } from '../deps';
import type { RouteRegistry } from '../routeRegistry';
import { ledgerRoutes } from './ledger';
import { machineRoutes } from './machines';
import { superConfigRoutes } from './superConfig';
import { userRoutes } from './users';

/** Every /api/v1 route, one module per resource. */
export function mountRoutes(r: RouteRegistry, deps: ApiDeps): void {
  userRoutes(r, deps);
  superConfigRoutes(r, deps);
  machineRoutes(r, deps);
  ledgerRoutes(r, deps);
}
