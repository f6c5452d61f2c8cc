import { z } from 'zod';
import {
  getCollection,
  insertCollection,
  lastCollectedAt,
  listCollections,
  lockMachineCash,
  settledBills,
  type CashCollectionRow,
} from '../../db/cashCollections';
import { listCassettes } from '../../db/cassettes';
import { getOperatorMachine, type MachineRow } from '../../db/machines';
import { withTransaction, type Queryable } from '../../db/pool';
import { billValueCents, forecastDenomination, reconcile } from '../../domain/cashReconciliation';
import { formatCents } from '../../domain/decimal';
import { denominationRefusal } from '../../domain/machineEvents';
import type { ApiDeps } from '../deps';
import { conflict, notFound, unprocessable } from '../errors';
import type { RouteRegistry } from '../routeRegistry';
import { id, idParams, limitQuery } from '../schemas';

const INT32_MAX = 2_147_483_647;
/** a collection may be dated this far ahead of the server's clock (clock skew), no further */
const FUTURE_SLACK_MS = 5 * 60_000;

const billsShape = z.array(
  z.object({ denomination: z.number().int(), count: z.number().int(), value: z.string() }),
);

const reconciliationShape = {
  bills: z
    .array(
      z.object({
        denomination: z.number().int(),
        counted: z.number().int(),
        expected: z.number().int(),
        difference: z.number().int().describe('counted − expected, in bills'),
        counted_value: z.string(),
        expected_value: z.string(),
        difference_value: z.string(),
      }),
    )
    .describe('per denomination: counted against what the cash-in settlements of the period inserted'),
  counted_total: z.string(),
  expected_total: z.string(),
  difference_total: z.string(),
  differs: z.boolean().describe('a difference is flagged: some denomination does not match'),
  differences: z.array(z.string()),
};

const collectionShape = z
  .object({
    id: z.string(),
    machine_id: z.string(),
    fiat_code: z.string(),
    collected_at: z.string(),
    note: z.string().nullable(),
    created_by: z.string(),
    created_at: z.string(),
    period: z.object({
      from: z.string().nullable().describe('the previous collection (null: the machine’s first)'),
      to: z.string(),
    }),
    cash_in_settlements: z.number().int(),
    ...reconciliationShape,
    dispensed: billsShape.describe(
      'bills the cash-out settlements of the period dispensed from the cassettes',
    ),
    dispensed_total: z.string(),
  })
  .meta({ id: 'CashCollection' });

const forecastShape = z
  .object({
    position: z.number().int(),
    denomination: z.number().int(),
    count: z.number().int(),
    count_source: z.enum(['machine', 'operator']),
    denomination_bills: z.number().int(),
    dispensed_in_window: z.number().int(),
    bills_per_day: z.string(),
    days_until_empty: z.number().nullable(),
  })
  .meta({ id: 'CassetteForecast' });

function listOf(bills: Map<number, number>) {
  return [...bills.entries()]
    .sort(([a], [b]) => a - b)
    .map(([denomination, count]) => ({
      denomination,
      count,
      value: formatCents(billValueCents(denomination, count)),
    }));
}

function totalOf(bills: Map<number, number>): string {
  let cents = 0n;
  for (const [d, n] of bills) cents += billValueCents(d, n);
  return formatCents(cents);
}

async function collectionView(db: Queryable, m: MachineRow, c: CashCollectionRow) {
  const [cashIn, cashOut] = await Promise.all([
    settledBills(db, m.id, 'cash_in', c.period_from, c.collected_at),
    settledBills(db, m.id, 'cash_out', c.period_from, c.collected_at),
  ]);
  const counted = new Map(c.bills.map((b) => [b.denomination, b.count]));
  return {
    id: c.id,
    machine_id: m.id,
    fiat_code: m.fiat_code,
    collected_at: c.collected_at.toISOString(),
    note: c.note,
    created_by: c.created_by,
    created_at: c.created_at.toISOString(),
    period: { from: c.period_from?.toISOString() ?? null, to: c.collected_at.toISOString() },
    cash_in_settlements: cashIn.settlements,
    ...reconcile(counted, cashIn.bills, m.fiat_code),
    dispensed: listOf(cashOut.bills),
    dispensed_total: totalOf(cashOut.bills),
  };
}

export function cashRoutes(r: RouteRegistry, deps: ApiDeps): void {
  const machineOf = async (operatorId: string, machineId: string): Promise<MachineRow> => {
    const m = await getOperatorMachine(deps.pool, operatorId, machineId);
    if (!m) throw notFound(`machine ${machineId}`);
    return m;
  };

  r.add(
    {
      method: 'post',
      path: '/machines/:id/cash-collections',
      operationId: 'createCashCollection',
      summary:
        'Record a cash collection: the bills counted per denomination; answered with what the settlements since the previous collection say should be there, differences flagged',
      tag: 'cash',
      auth: ['operator'],
      params: idParams,
      body: z
        .object({
          bills: z
            .array(
              z
                .object({
                  denomination: z
                    .number()
                    .int()
                    .positive()
                    .max(INT32_MAX)
                    .describe('bill value in whole currency units, e.g. 20'),
                  count: z.number().int().min(0, 'count must be 0 or more').max(INT32_MAX),
                })
                .strict(),
            )
            .max(50)
            .describe('every denomination counted (an empty list: the cash box was empty)'),
          collected_at: z.iso
            .datetime({ offset: true })
            .optional()
            .describe('when the cash was taken out (default now); later than the previous collection'),
          note: z.string().max(1000).optional(),
        })
        .strict(),
      response: collectionShape,
      status: 201,
    },
    async ({ params, body, user }) => {
      const m = await machineOf(user.id, params.id);
      const seen = new Set<number>();
      body.bills.forEach((b, i) => {
        const field = `body.bills.${i}.denomination`;
        const refusal = denominationRefusal(m.fiat_code, b.denomination);
        if (refusal) throw unprocessable(refusal, [{ field, message: refusal }]);
        if (seen.has(b.denomination)) {
          const message = `denomination ${b.denomination} is listed twice; give each denomination once`;
          throw unprocessable(message, [{ field, message }]);
        }
        seen.add(b.denomination);
      });
      const at = body.collected_at ? new Date(body.collected_at) : new Date();
      if (at.getTime() > Date.now() + FUTURE_SLACK_MS) {
        const message = 'collected_at is in the future; give the time the cash was taken out';
        throw unprocessable(message, [{ field: 'body.collected_at', message }]);
      }
      const collectionId = await withTransaction(deps.pool, async (c) => {
        await lockMachineCash(c, m.id);
        const last = await lastCollectedAt(c, m.id);
        if (last && at.getTime() <= last.getTime()) {
          throw conflict(
            `a collection at ${last.toISOString()} is already recorded for this machine; a new one must be later (collections close periods in time order)`,
            { last_collected_at: last.toISOString() },
          );
        }
        return insertCollection(c, {
          machine_id: m.id,
          collected_at: at,
          note: body.note ?? null,
          created_by: user.id,
          bills: body.bills,
        });
      });
      deps.logger.info(
        { machine_id: m.id, collection_id: collectionId, operator: user.id },
        'cash collection recorded',
      );
      return collectionView(deps.pool, m, (await getCollection(deps.pool, m.id, collectionId))!);
    },
  );

  r.add(
    {
      method: 'get',
      path: '/machines/:id/cash-collections',
      operationId: 'listCashCollections',
      summary: "A machine's cash collections, newest first, each reconciled against its period's settlements",
      tag: 'cash',
      auth: ['operator'],
      params: idParams,
      query: z.object({ limit: limitQuery(100, 20) }),
      response: z.object({ items: z.array(collectionShape) }),
    },
    async ({ params, query, user }) => {
      const m = await machineOf(user.id, params.id);
      const rows = await listCollections(deps.pool, m.id, query.limit);
      const items = [];
      for (const c of rows) items.push(await collectionView(deps.pool, m, c));
      return { items };
    },
  );

  r.add(
    {
      method: 'get',
      path: '/machines/:id/cash-collections/:collection_id',
      operationId: 'getCashCollection',
      summary: 'One cash collection, reconciled against its period’s settlements',
      tag: 'cash',
      auth: ['operator'],
      params: z.object({ id, collection_id: id }),
      response: collectionShape,
    },
    async ({ params, user }) => {
      const m = await machineOf(user.id, params.id);
      const c = await getCollection(deps.pool, m.id, params.collection_id);
      if (!c) throw notFound(`cash collection ${params.collection_id}`);
      return collectionView(deps.pool, m, c);
    },
  );

  r.add(
    {
      method: 'get',
      path: '/machines/:id/cash',
      operationId: 'getMachineCash',
      summary:
        'Cash now: what the cash box should hold since the last collection, what the cassettes dispensed, and days until each cassette is empty at the dispense rate of the last window_days',
      tag: 'cash',
      auth: ['operator'],
      params: idParams,
      query: z.object({
        window_days: z.coerce
          .number()
          .int()
          .min(1)
          .max(90)
          .default(7)
          .describe('the dispense rate is measured over this many days up to now (default 7)'),
      }),
      response: z.object({
        machine_id: z.string(),
        fiat_code: z.string(),
        since: z
          .string()
          .nullable()
          .describe('the last collection (null: none yet, since the first settlement)'),
        cash_in_settlements: z.number().int(),
        cash_box: billsShape.describe('bills the cash-in settlements since the last collection inserted'),
        cash_box_total: z.string(),
        dispensed: billsShape,
        dispensed_total: z.string(),
        window_days: z.number().int(),
        cassettes: z.array(forecastShape),
      }),
    },
    async ({ params, query, user }) => {
      const m = await machineOf(user.id, params.id);
      const now = new Date();
      const since = await lastCollectedAt(deps.pool, m.id);
      const windowFrom = new Date(now.getTime() - query.window_days * 86_400_000);
      const [cashIn, cashOut, recent, cassettes] = await Promise.all([
        settledBills(deps.pool, m.id, 'cash_in', since, now),
        settledBills(deps.pool, m.id, 'cash_out', since, now),
        settledBills(deps.pool, m.id, 'cash_out', windowFrom, now),
        listCassettes(deps.pool, m.id),
      ]);
      // the machine's reported state when it has one, else the operator's view
      const positions = cassettes.map((c) => ({
        position: c.position,
        denomination: c.state_denomination ?? c.denomination,
        count: c.state_count ?? c.count,
        count_source: c.state_count !== null ? 'machine' : 'operator',
      }));
      const perDenomination = new Map<number, number>();
      for (const p of positions)
        perDenomination.set(p.denomination, (perDenomination.get(p.denomination) ?? 0) + p.count);
      return {
        machine_id: m.id,
        fiat_code: m.fiat_code,
        since: since?.toISOString() ?? null,
        cash_in_settlements: cashIn.settlements,
        cash_box: listOf(cashIn.bills),
        cash_box_total: totalOf(cashIn.bills),
        dispensed: listOf(cashOut.bills),
        dispensed_total: totalOf(cashOut.bills),
        window_days: query.window_days,
        cassettes: positions.map((p) => ({
          ...p,
          ...forecastDenomination(
            perDenomination.get(p.denomination)!,
            recent.bills.get(p.denomination) ?? 0,
            query.window_days,
          ),
        })),
      };
    },
  );
}
