import { destinationProblem } from '../walletOwnership';
import { z } from 'zod';
import { getSuperConfig, updateSuperConfig } from '../../db/superConfig';
import type { ApiDeps } from '../deps';
import type { RouteRegistry } from '../routeRegistry';
import { feeFraction, walletId } from '../schemas';
import { invalidField } from '../errors';

const configShape = z
  .object({
    platform_cash_in_fee_fraction: z.string(),
    platform_cash_out_fee_fraction: z.string(),
    super_wallet_id: z.string().nullable(),
    updated_at: z.string(),
  })
  .meta({ id: 'SuperConfig' });

export function superConfigRoutes(r: RouteRegistry, deps: ApiDeps): void {
  const view = (c: Awaited<ReturnType<typeof getSuperConfig>>) => ({
    platform_cash_in_fee_fraction: c.platform_cash_in_fee_fraction,
    platform_cash_out_fee_fraction: c.platform_cash_out_fee_fraction,
    super_wallet_id: c.super_wallet_id,
    updated_at: c.updated_at.toISOString(),
  });

  r.add(
    {
      method: 'get',
      path: '/super/config',
      operationId: 'getSuperConfig',
      summary: 'Platform fees and super wallet',
      tag: 'super',
      auth: ['super'],
      response: configShape,
    },
    async () => view(await getSuperConfig(deps.pool)),
  );

  r.add(
    {
      method: 'patch',
      path: '/super/config',
      operationId: 'updateSuperConfig',
      summary: 'Change platform fee fractions or the super wallet (fields left out are kept)',
      tag: 'super',
      auth: ['super'],
      body: z
        .object({
          platform_cash_in_fee_fraction: feeFraction.optional(),
          platform_cash_out_fee_fraction: feeFraction.optional(),
          super_wallet_id: walletId.nullable().optional(),
        })
        .strict(),
      response: configShape,
    },
    async ({ body }) => {
      if (body.super_wallet_id) {
        const problem = await destinationProblem(deps, body.super_wallet_id);
        if (problem) throw invalidField('body.super_wallet_id', problem);
      }
      return view(await updateSuperConfig(deps.pool, body));
    },
  );
}
