import { z } from 'zod';
import { listSettlementLegs } from '../../db/legs';
import {
  getOperatorSettlement,
  getOperatorSettlementByHash,
  listOperatorSettlements,
  worklistBuckets,
  type SettlementRow,
} from '../../db/settlements';
import { completeWorklist } from '../../db/worklist';
import type { SettlementWorkflowState } from '../../contract';
import type { ApiDeps } from '../deps';
import { invalidField, notFound } from '../errors';
import { decodeCursor, encodeCursor, keysetPage } from '../pagination';
import type { RouteRegistry } from '../routeRegistry';
import { utcInstant } from '../reportQuery';
import { cursorPage, cursorQuery, id, idParams } from '../schemas';
import { workflowState } from '../settlementGateway';
import {
  STATUSES,
  legShape,
  legView,
  settlementShape,
  settlementView,
  temporalUrl,
} from '../settlementViews';
import { waitingShape, waitingView } from '../worklistWaiting';

/** The caller's settlement, or a 404 (another operator's settlement is not found either). */
export async function operatorSettlementOr404(deps: ApiDeps, operatorId: string, settlementId: string) {
  const s = await getOperatorSettlement(deps.pool, operatorId, settlementId);
  if (!s) throw notFound(`settlement ${settlementId}`);
  return s;
}

/** Settlements: what the operator reads (list, worklist, one); the actions are in ./settlementActions.ts. */
export function settlementRoutes(r: RouteRegistry, deps: ApiDeps): void {
  const settlementOf = (operatorId: string, settlementId: string) =>
    operatorSettlementOr404(deps, operatorId, settlementId);

  r.add(
    {
      method: 'get',
      path: '/settlements',
      operationId: 'listSettlements',
      summary:
        'Settlements, newest first (cursor pagination); from/to narrow them to a UTC date range [from, to)',
      tag: 'settlements',
      auth: ['operator'],
      query: z.object({
        status: z.enum(STATUSES).optional(),
        machine_id: id.optional(),
        from: utcInstant
          .optional()
          .describe('created at or after (UTC date YYYY-MM-DD or instant with a zone)'),
        to: utcInstant.optional().describe('created before (UTC)'),
        ...cursorQuery(),
      }),
      response: cursorPage(settlementShape),
    },
    async ({ query, user }) => {
      if (query.from && query.to && query.from.getTime() >= query.to.getTime())
        throw invalidField('query.to', 'to must be after from: the range is [from, to) in UTC');
      return keysetPage(
        query,
        ({ limit, before }) =>
          listOperatorSettlements(deps.pool, {
            operatorId: user.id,
            status: query.status,
            machineId: query.machine_id,
            from: query.from,
            to: query.to,
            limit,
            before: before ? { created_at: before.at, id: before.id } : undefined,
          }),
        (s) => settlementView(s, deps),
        (s) => s.created_at,
      );
    },
  );

  r.add(
    {
      method: 'get',
      path: '/settlements/worklist',
      operationId: 'getSettlementWorklist',
      summary:
        'What needs the operator: rejected, errored, stuck pending, stuck processing; threshold 0 = everything in flight, adding holding (payments not started: hold window) and waiting (first signal seen, no row yet); newest first across the buckets, cursor pagination',
      tag: 'settlements',
      auth: ['operator'],
      query: z.object({
        threshold_minutes: z.coerce.number().int().min(0).max(525600).optional(),
        ...cursorQuery(),
      }),
      response: z.object({
        threshold_minutes: z.number().int(),
        rejected: z.array(settlementShape),
        errored: z.array(settlementShape),
        stuck_pending: z.array(settlementShape),
        stuck_processing: z.array(settlementShape),
        holding: z.array(settlementShape),
        waiting: z.array(waitingShape),
        next_cursor: z.string().nullable(),
      }),
    },
    async ({ query, user }) => {
      const threshold = query.threshold_minutes ?? deps.config.stuckThresholdMinutes;
      const c = decodeCursor(query.cursor);
      const rows = await completeWorklist(deps.pool, user.id, threshold, {
        limit: query.limit + 1,
        before: c ? { created_at: c.at, id: c.id } : undefined,
      });
      const page = rows.slice(0, query.limit);
      const last = page[page.length - 1]?.row;
      const w = worklistBuckets(page.flatMap((e) => (e.kind === 'settlement' ? [e.row] : [])));
      const v = (list: SettlementRow[]) => list.map((s) => settlementView(s, deps));
      return {
        threshold_minutes: threshold,
        rejected: v(w.rejected),
        errored: v(w.errored),
        stuck_pending: v(w.stuck_pending),
        stuck_processing: v(w.stuck_processing),
        holding: v(w.holding),
        waiting: page.flatMap((e) =>
          e.kind === 'waiting' ? [waitingView(e.row, temporalUrl(deps, e.row.payment_hash))] : [],
        ),
        next_cursor:
          rows.length > query.limit && last ? encodeCursor(new Date(Number(last.cursor_ms)), last.id) : null,
      };
    },
  );

  r.add(
    {
      method: 'get',
      path: '/settlements/by-hash/:payment_hash',
      operationId: 'getSettlementByPaymentHash',
      summary: 'One settlement looked up by its payment hash (64 hex characters), without its legs',
      tag: 'settlements',
      auth: ['operator'],
      params: z.object({
        payment_hash: z
          .string()
          .regex(/^[0-9a-fA-F]{64}$/, 'must be a payment hash: 64 hex characters')
          .transform((h) => h.toLowerCase()),
      }),
      response: settlementShape,
    },
    async ({ params, user }) => {
      const s = await getOperatorSettlementByHash(deps.pool, user.id, params.payment_hash);
      if (!s) throw notFound(`settlement with payment hash ${params.payment_hash}`);
      return settlementView(s, deps);
    },
  );

  r.add(
    {
      method: 'get',
      path: '/settlements/:id',
      operationId: 'getSettlement',
      summary: 'One settlement with every leg (and the live workflow state when it runs)',
      tag: 'settlements',
      auth: ['operator'],
      params: idParams,
      response: settlementShape.extend({
        legs: z.array(legShape),
        workflow: z.record(z.string(), z.unknown()).nullable(),
      }),
    },
    async ({ params, user }) => {
      const s = await settlementOf(user.id, params.id);
      const legs = await listSettlementLegs(deps.pool, s.id);
      let workflow: SettlementWorkflowState | null = null;
      if (s.status === 'pending' || s.status === 'processing' || s.status === 'errored') {
        workflow = await workflowState(deps, s);
      }
      return { ...settlementView(s, deps), legs: legs.map(legView), workflow };
    },
  );
}
