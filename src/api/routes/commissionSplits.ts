import { destinationProblem } from '../walletOwnership';
import { z } from 'zod';
import {
  getCommissionSplits,
  replaceCommissionSplits,
  type CommissionSplitRow,
} from '../../db/commissionSplits';
import { getOperatorMachine } from '../../db/machines';
import { withTransaction } from '../../db/pool';
import { formatPpm, parsePpm, PPM } from '../../domain/decimal';
import { isLightningAddress } from '../../domain/validation';
import type { ApiDeps } from '../deps';
import { notFound, unprocessable } from '../errors';
import type { RouteRegistry } from '../routeRegistry';
import { id, shareFraction } from '../schemas';

const legShape = z
  .object({
    target: z.string(),
    label: z.string().nullable(),
    fraction: z.string(),
    sort_order: z.number().int(),
  })
  .meta({ id: 'CommissionSplitLeg' });

const splitsShape = z
  .object({
    machine_id: z.string().nullable(),
    legs: z.array(legShape),
    effective: z.object({ source: z.enum(['machine', 'operator_default', 'none']), legs: z.array(legShape) }),
  })
  .meta({ id: 'CommissionSplits' });

const view = (rows: CommissionSplitRow[]) =>
  rows.map((r) => ({ target: r.target, label: r.label, fraction: r.fraction, sort_order: r.sort_order }));

export function commissionSplitRoutes(r: RouteRegistry, deps: ApiDeps): void {
  const scope = z.object({ machine_id: id.optional() });

  async function show(operatorId: string, machineId: string | null) {
    const own = await getCommissionSplits(deps.pool, operatorId, machineId);
    const fallback = machineId && !own.length ? await getCommissionSplits(deps.pool, operatorId, null) : [];
    const source = own.length
      ? machineId
        ? 'machine'
        : 'operator_default'
      : fallback.length
        ? 'operator_default'
        : 'none';
    return {
      machine_id: machineId,
      legs: view(own),
      effective: {
        source: source,
        legs: view(own.length ? own : fallback),
      },
    };
  }

  async function checkMachine(operatorId: string, machineId: string | undefined) {
    if (machineId && !(await getOperatorMachine(deps.pool, operatorId, machineId)))
      throw notFound(`machine ${machineId}`);
  }

  r.add(
    {
      method: 'get',
      path: '/commission-splits',
      operationId: 'getCommissionSplits',
      summary:
        "How the operator's remainder is shared: the default (no machine_id) or one machine's override",
      tag: 'commission-splits',
      auth: ['operator'],
      query: scope,
      response: splitsShape,
    },
    async ({ query, user }) => {
      await checkMachine(user.id, query.machine_id);
      return show(user.id, query.machine_id ?? null);
    },
  );

  r.add(
    {
      method: 'put',
      path: '/commission-splits',
      operationId: 'setCommissionSplits',
      summary:
        'Replace the rules of one scope atomically; fractions must sum to 1; an empty list removes the scope',
      tag: 'commission-splits',
      auth: ['operator'],
      query: scope,
      body: z.object({
        legs: z
          .array(
            z.object({
              target: z
                .string()
                .trim()
                .min(1)
                .max(320)
                .describe('a wallet id or a Lightning address name@domain'),
              label: z.string().trim().max(100).nullable().optional(),
              fraction: shareFraction,
              sort_order: z.number().int().min(0).max(10_000),
            }),
          )
          .max(50),
      }),
      response: splitsShape,
    },
    async ({ query, body, user }) => {
      await checkMachine(user.id, query.machine_id);
      const problems: { field: string; message: string }[] = [];
      const total = body.legs.reduce((a, l) => a + parsePpm(l.fraction), 0n);
      // fractions carry at most 6 decimals, so "sums to 1 within 1e-9" means exactly 1,000,000 ppm
      if (body.legs.length && total !== PPM) {
        problems.push({
          field: 'body.legs',
          message: `fractions must sum to 1, they sum to ${formatPpm(total)}`,
        });
      }
      const orders = new Set<number>();
      for (const [i, leg] of body.legs.entries()) {
        if (orders.has(leg.sort_order))
          problems.push({ field: `body.legs.${i}.sort_order`, message: 'sort_order must be unique' });
        orders.add(leg.sort_order);
        const target = leg.target.includes('@') ? leg.target.toLowerCase() : leg.target;
        if (target.includes('@') && !isLightningAddress(target)) {
          problems.push({ field: `body.legs.${i}.target`, message: 'not a Lightning address name@domain' });
        } else if (!target.includes('@') && !/^[A-Za-z0-9_-]{1,200}$/.test(target)) {
          problems.push({
            field: `body.legs.${i}.target`,
            message: 'must be a wallet id or a Lightning address',
          });
        } else {
          const problem = await destinationProblem(deps, target);
          if (problem) problems.push({ field: `body.legs.${i}.target`, message: problem });
        }
      }
      if (problems.length)
        throw unprocessable(
          `invalid commission split: ${problems.map((p) => p.message).join('; ')}`,
          problems,
        );
      await withTransaction(deps.pool, (c) =>
        replaceCommissionSplits(
          c,
          user.id,
          query.machine_id ?? null,
          body.legs.map((l) => ({
            target: l.target.includes('@') ? l.target.toLowerCase() : l.target,
            label: l.label ?? null,
            fraction: l.fraction,
            sort_order: l.sort_order,
          })),
        ),
      );
      return show(user.id, query.machine_id ?? null);
    },
  );
}
