import { z } from 'zod';
import { listOperatorLegs } from '../../db/payments';
import type { ApiDeps } from '../deps';
import type { RouteRegistry } from '../routeRegistry';
import { id, limitQuery } from '../schemas';
import { legShape, legView } from '../settlementViews';

export function paymentRoutes(r: RouteRegistry, deps: ApiDeps): void {
  r.add(
    {
      method: 'get',
      path: '/payments',
      operationId: 'listPayments',
      summary: "The operator's payment legs, newest first",
      tag: 'payments',
      auth: ['operator'],
      query: z.object({
        leg_type: z.enum(['dca', 'settlement', 'autoforward', 'super_fee', 'operator_split']).optional(),
        status: z.enum(['pending', 'completed', 'failed', 'skipped', 'voided']).optional(),
        settlement_id: id.optional(),
        limit: limitQuery(1000, 200),
      }),
      response: z.array(legShape),
    },
    async ({ query, user }) => (await listOperatorLegs(deps.pool, user.id, query)).map(legView),
  );
}
