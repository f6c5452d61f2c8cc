import { z } from 'zod';
import {
  legReportBatch,
  settlementReportBatch,
  type KeysetPosition,
  type LegReportFilter,
  type ReportScope,
  type SettlementReportFilter,
} from '../../db/reports';
import { statementBuckets, statementEnrolments, statementPending } from '../../db/reportsLpStatement';
import { revenueLegsByPeriod, volumeByPeriod } from '../../db/reportsRevenue';
import { EXPORT_BATCH_ROWS, streamCsv } from '../csvExport';
import type { ApiDeps } from '../deps';
import { notFound } from '../errors';
import { lpStatements, statementShape } from '../lpStatement';
import {
  MAX_SPAN_DAYS,
  checkInScope,
  decodeReportCursor,
  encodeReportCursor,
  periodStarts,
  rangeQuery,
  reportScope,
  resolveRange,
} from '../reportQuery';
import {
  LEG_REPORT_COLUMNS,
  LEG_STATUSES,
  LEG_TYPES,
  SETTLEMENT_REPORT_COLUMNS,
  legReportShape,
  legReportView,
  settlementReportShape,
  settlementReportView,
} from '../reportViews';
import { revenueReport, revenueShape } from '../revenueReport';
import type { RouteRegistry } from '../routeRegistry';
import { cursorPage, id, limitQuery } from '../schemas';
import { STATUSES } from '../settlementViews';

const pageQuery = {
  format: z.enum(['json', 'csv']).default('json').describe('csv streams every row of the range (no paging)'),
  limit: limitQuery(500, 100).describe('rows per JSON page'),
  cursor: z.string().max(300).optional().describe('next_cursor of the previous page'),
  operator_id: id.optional().describe('platform only: one operator (an operator may only name itself)'),
};

const period = z.enum(['day', 'month']).default('day');

/** One JSON page of a keyset report, oldest first. */
async function jsonPage<R extends { cursor_at: string; id: string }, V>(
  batch: (after: KeysetPosition | undefined, limit: number) => Promise<R[]>,
  view: (r: R) => V,
  q: { limit: number; cursor?: string },
): Promise<{ items: V[]; next_cursor: string | null }> {
  const rows = await batch(decodeReportCursor(q.cursor), q.limit + 1);
  const page = rows.slice(0, q.limit);
  const last = page[page.length - 1];
  return {
    items: page.map(view),
    next_cursor:
      rows.length > q.limit && last ? encodeReportCursor({ at: last.cursor_at, id: last.id }) : null,
  };
}

/** Enrolments in one statement answer (narrow with client_id, machine_id or lp_user_id). */
const STATEMENT_MAX_ENROLMENTS = 1000;

const fileDate = (d: Date) => d.toISOString().slice(0, 10);

export function reportRoutes(r: RouteRegistry, deps: ApiDeps): void {
  r.add(
    {
      method: 'get',
      path: '/reports/settlements',
      operationId: 'reportSettlements',
      summary:
        'Settlements created in [from, to) (UTC), oldest first: JSON pages (cursor) or, with format=csv, every row streamed as CSV',
      tag: 'reports',
      auth: ['operator', 'super'],
      query: z.object({
        ...rangeQuery,
        machine_id: id.optional(),
        status: z.enum(STATUSES).optional(),
        tx_type: z.enum(['cash_out', 'cash_in']).optional(),
        ...pageQuery,
      }),
      response: cursorPage(settlementReportShape),
    },
    async ({ query, user, res }) => {
      const range = resolveRange(query);
      const scope = await reportScope(deps.pool, user, query.operator_id);
      await checkInScope(deps.pool, scope, query);
      const f: SettlementReportFilter = {
        ...range,
        machineId: query.machine_id,
        status: query.status,
        txType: query.tx_type,
      };
      if (query.format === 'csv') {
        await streamCsv(res, {
          filename: `satmachine-settlements-${fileDate(range.from)}-${fileDate(range.to)}.csv`,
          columns: SETTLEMENT_REPORT_COLUMNS,
          batch: (after) => settlementReportBatch(deps.pool, scope, f, after, EXPORT_BATCH_ROWS),
          position: (row) => ({ at: row.cursor_at, id: row.id }),
          record: settlementReportView,
          log: deps.logger,
        });
        return undefined;
      }
      return jsonPage(
        (after, limit) => settlementReportBatch(deps.pool, scope, f, after, limit),
        settlementReportView,
        query,
      );
    },
  );

  r.add(
    {
      method: 'get',
      path: '/reports/legs',
      operationId: 'reportLegs',
      summary:
        'Payment legs created in [from, to) (UTC), oldest first, by machine, status, leg type and LP: JSON pages or streamed CSV',
      tag: 'reports',
      auth: ['operator', 'super'],
      query: z.object({
        ...rangeQuery,
        machine_id: id.optional(),
        status: z.enum(LEG_STATUSES).optional(),
        leg_type: z.enum(LEG_TYPES).optional(),
        client_id: id.optional().describe('one LP enrolment'),
        lp_user_id: id.optional().describe('one LP, across its enrolments'),
        ...pageQuery,
      }),
      response: cursorPage(legReportShape),
    },
    async ({ query, user, res }) => {
      const range = resolveRange(query);
      const scope = await reportScope(deps.pool, user, query.operator_id);
      await checkInScope(deps.pool, scope, query);
      const f: LegReportFilter = {
        ...range,
        machineId: query.machine_id,
        status: query.status,
        legType: query.leg_type,
        clientId: query.client_id,
        lpUserId: query.lp_user_id,
      };
      if (query.format === 'csv') {
        await streamCsv(res, {
          filename: `satmachine-legs-${fileDate(range.from)}-${fileDate(range.to)}.csv`,
          columns: LEG_REPORT_COLUMNS,
          batch: (after) => legReportBatch(deps.pool, scope, f, after, EXPORT_BATCH_ROWS),
          position: (row) => ({ at: row.cursor_at, id: row.id }),
          record: legReportView,
          log: deps.logger,
        });
        return undefined;
      }
      return jsonPage(
        (after, limit) => legReportBatch(deps.pool, scope, f, after, limit),
        legReportView,
        query,
      );
    },
  );

  r.add(
    {
      method: 'get',
      path: '/reports/revenue',
      operationId: 'reportRevenue',
      summary:
        'Volume and fee revenue per UTC day or month (by the settlement date): platform fee, operator fee, each commission split',
      tag: 'reports',
      auth: ['operator', 'super'],
      query: z.object({
        ...rangeQuery,
        period,
        machine_id: id.optional(),
        operator_id: pageQuery.operator_id,
      }),
      response: revenueShape,
    },
    async ({ query, user }) => {
      const range = resolveRange(query, MAX_SPAN_DAYS[query.period]);
      const scope: ReportScope = await reportScope(deps.pool, user, query.operator_id);
      await checkInScope(deps.pool, scope, query);
      const f = { ...range, period: query.period, machineId: query.machine_id };
      const [volume, legs] = await Promise.all([
        volumeByPeriod(deps.pool, scope, f),
        revenueLegsByPeriod(deps.pool, scope, f),
      ]);
      return {
        from: range.from.toISOString(),
        to: range.to.toISOString(),
        period: query.period,
        operator_id: scope.operatorId,
        ...revenueReport(periodStarts(range, query.period), volume, legs),
      };
    },
  );

  r.add(
    {
      method: 'get',
      path: '/reports/lp-statement',
      operationId: 'reportLpStatement',
      summary:
        'LP statement per UTC month (or day): deposits, payouts, average cost, balance left; an LP sees its own enrolments, an operator those at its machines',
      tag: 'reports',
      auth: ['lp', 'operator', 'super'],
      query: z.object({
        ...rangeQuery,
        period: z.enum(['day', 'month']).default('month'),
        client_id: id.optional().describe('one enrolment'),
        machine_id: id.optional(),
        lp_user_id: id.optional().describe('operator / platform: one LP'),
      }),
      response: z.object({
        from: z.string(),
        to: z.string(),
        period: z.enum(['day', 'month']),
        statements: z.array(statementShape),
      }),
    },
    async ({ query, user }) => {
      const range = resolveRange(query, MAX_SPAN_DAYS[query.period]);
      let operatorId: string | undefined;
      if (user.role === 'lp') {
        // an LP reads its own enrolments only: naming another LP is naming a resource it cannot see
        if (query.lp_user_id !== undefined && query.lp_user_id !== user.id)
          throw notFound(`LP ${query.lp_user_id}`);
      } else {
        const scope = await reportScope(deps.pool, user);
        await checkInScope(deps.pool, scope, query);
        operatorId = scope.operatorId ?? undefined;
      }
      const enrolments = await statementEnrolments(
        deps.pool,
        {
          operatorId,
          lpUserId: user.role === 'lp' ? user.id : query.lp_user_id,
          clientId: query.client_id,
          machineId: query.machine_id,
        },
        STATEMENT_MAX_ENROLMENTS,
      );
      if (user.role === 'lp' && enrolments.length === 0 && query.client_id !== undefined)
        throw notFound(`enrolment ${query.client_id}`);
      if (user.role === 'lp' && enrolments.length === 0 && query.machine_id !== undefined)
        throw notFound(`machine ${query.machine_id}`);
      const ids = enrolments.map((e) => e.client_id);
      const [buckets, pending] = await Promise.all([
        statementBuckets(deps.pool, ids, { ...range, period: query.period }),
        statementPending(deps.pool, ids),
      ]);
      return {
        from: range.from.toISOString(),
        to: range.to.toISOString(),
        period: query.period,
        statements: lpStatements(enrolments, periodStarts(range, query.period), buckets, pending),
      };
    },
  );
}
