import { z } from 'zod';
import { WithStartWorkflowOperation, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import type { UpdateDefinition } from '@temporalio/common';
import {
  SA_SETTLEMENT_STATUS,
  SETTLEMENT_WORKFLOW,
  closeUpdate,
  forceResetUpdate,
  partialDispenseUpdate,
  retryUpdate,
  settlementWorkflowId,
  stateQuery,
  voidFailedLegsUpdate,
  type SettlementActionResult,
  type SettlementWorkflowInput,
  type SettlementWorkflowState,
} from '../../contract';
import { getOperatorMachine } from '../../db/machines';
import { listSettlementLegs, type LegRow } from '../../db/legs';
import {
  getOperatorSettlement,
  getOperatorSettlementByHash,
  listOperatorSettlements,
  worklistBuckets,
  prependNote,
  type SettlementRow,
} from '../../db/settlements';
import { completeWorklist } from '../../db/worklist';
import { mismatchTolerance } from '../../domain/feeSplit';
import { formatNote } from '../../domain/notes';
import { settlementActions } from '../../metrics/registry';
import type { ApiDeps } from '../deps';
import { ApiError, conflict, notFound } from '../errors';
import { decodeCursor, encodeCursor } from '../pagination';
import type { RouteRegistry } from '../routeRegistry';
import { fiatCents, id, idParams, limitQuery } from '../schemas';
import { waitingShape, waitingView } from '../worklistWaiting';

/** Statuses no operator action can change (their workflow is never started again). */
const FINAL_STATUSES: readonly string[] = ['processed', 'partial', 'refunded', 'rejected'];

const STATUSES = [
  'pending',
  'processing',
  'processed',
  'partial',
  'refunded',
  'errored',
  'rejected',
] as const;

export const legShape = z
  .object({
    id: z.string(),
    settlement_id: z.string().nullable(),
    client_id: z.string().nullable(),
    machine_id: z.string(),
    leg_type: z.enum(['dca', 'settlement', 'autoforward', 'super_fee', 'operator_split']),
    label: z.string().nullable(),
    source_wallet_id: z.string().nullable(),
    destination_wallet_id: z.string().nullable(),
    destination_ln_address: z.string().nullable(),
    amount_sats: z.number().int(),
    amount_fiat: z.string(),
    exchange_rate: z.string().nullable(),
    external_payment_hash: z.string().nullable(),
    status: z.enum(['pending', 'completed', 'failed', 'skipped', 'voided']),
    error_message: z.string().nullable(),
    parent_leg_id: z.string().nullable(),
    replaces_leg_id: z.string().nullable(),
    created_at: z.string(),
    completed_at: z.string().nullable(),
  })
  .meta({ id: 'SettlementLeg' });

export function legView(l: LegRow) {
  return {
    id: l.id,
    settlement_id: l.settlement_id,
    client_id: l.client_id,
    machine_id: l.machine_id,
    leg_type: l.leg_type,
    label: l.label,
    source_wallet_id: l.source_wallet_id,
    destination_wallet_id: l.destination_wallet_id,
    destination_ln_address: l.destination_ln_address,
    amount_sats: l.amount_sats,
    amount_fiat: l.amount_fiat,
    exchange_rate: l.exchange_rate,
    external_payment_hash: l.external_payment_hash,
    status: l.status,
    error_message: l.error_message,
    parent_leg_id: l.parent_leg_id,
    replaces_leg_id: l.replaces_leg_id,
    created_at: l.created_at.toISOString(),
    completed_at: l.completed_at ? l.completed_at.toISOString() : null,
  };
}

const settlementShape = z
  .object({
    id: z.string(),
    machine_id: z.string(),
    payment_hash: z.string(),
    bitspire_event_id: z.string().nullable(),
    bitspire_txid: z.string().nullable(),
    tx_type: z.enum(['cash_out', 'cash_in']).nullable(),
    wire_sats: z.number().int().nullable(),
    fiat_amount: z.string().nullable(),
    fiat_code: z.string().nullable(),
    exchange_rate: z.string().nullable(),
    principal_sats: z.number().int().nullable(),
    fee_sats: z.number().int().nullable(),
    platform_fee_sats: z.number().int().nullable(),
    operator_fee_sats: z.number().int().nullable(),
    fee_mismatch_sats: z.number().int().nullable(),
    fee_mismatch_tolerance_sats: z.number().int().nullable(),
    fee_mismatch_over_tolerance: z.boolean(),
    refund_sats: z.number().int(),
    status: z.enum(STATUSES),
    error_message: z.string().nullable(),
    notes: z.string().nullable(),
    created_at: z.string(),
    processed_at: z.string().nullable(),
    temporal_url: z.string(),
  })
  .meta({ id: 'Settlement' });

export function settlementView(s: SettlementRow, deps: ApiDeps) {
  const tolerance = s.principal_sats === null ? null : mismatchTolerance(s.principal_sats);
  return {
    id: s.id,
    machine_id: s.machine_id,
    payment_hash: s.payment_hash,
    bitspire_event_id: s.bitspire_event_id,
    bitspire_txid: s.bitspire_txid,
    tx_type: s.tx_type,
    wire_sats: s.wire_sats,
    fiat_amount: s.fiat_amount,
    fiat_code: s.fiat_code,
    exchange_rate: s.exchange_rate,
    principal_sats: s.principal_sats,
    fee_sats: s.fee_sats,
    platform_fee_sats: s.platform_fee_sats,
    operator_fee_sats: s.operator_fee_sats,
    fee_mismatch_sats: s.fee_mismatch_sats,
    fee_mismatch_tolerance_sats: tolerance,
    fee_mismatch_over_tolerance:
      tolerance !== null && s.fee_mismatch_sats !== null && Math.abs(s.fee_mismatch_sats) > tolerance,
    refund_sats: s.refund_sats,
    status: s.status as (typeof STATUSES)[number],
    error_message: s.error_message,
    notes: s.notes,
    created_at: s.created_at.toISOString(),
    processed_at: s.processed_at ? s.processed_at.toISOString() : null,
    temporal_url: temporalUrl(deps, s.payment_hash),
  };
}

export function temporalUrl(deps: ApiDeps, paymentHash: string): string {
  return `${deps.config.temporalUiUrl.replace(/\/$/, '')}/namespaces/${encodeURIComponent(deps.config.namespace)}/workflows/${settlementWorkflowId(paymentHash)}`;
}

const actionShape = z
  .object({
    settlement: settlementShape,
    result: z.object({ status: z.string(), phase: z.string(), message: z.string() }),
  })
  .meta({ id: 'SettlementAction' });

/** Why Temporal refused an update, in the operator's words. */
function updateRefusal(err: unknown): string | null {
  if (err instanceof WorkflowUpdateFailedError) {
    // the innermost cause says why (a validator's message, or the activity's refusal)
    let e: { message?: string; cause?: unknown } | undefined = err;
    let message = err.message;
    while (e?.cause) {
      e = e.cause;
      if (e.message) message = e.message;
    }
    return message;
  }
  return null;
}

async function workflowClosed(client: Client, hash: string): Promise<boolean | null> {
  try {
    const d = await client.workflow.getHandle(settlementWorkflowId(hash)).describe();
    return d.status.name !== 'RUNNING';
  } catch (err) {
    if ((err as { name?: string }).name === 'WorkflowNotFoundError') return true;
    return null;
  }
}

export function settlementRoutes(r: RouteRegistry, deps: ApiDeps): void {
  const settlementOf = async (operatorId: string, settlementId: string) => {
    const s = await getOperatorSettlement(deps.pool, operatorId, settlementId);
    if (!s) throw notFound(`settlement ${settlementId}`);
    return s;
  };

  /**
   * Sends an operator action to the settlement's workflow as an Update; 409 with the
   * reason when refused. A settlement that is not final goes through update-with-start:
   * a running workflow gets the Update, a closed one (terminated, timed out, failed) a
   * fresh run in resume mode for the same payment hash that loads the settlement from
   * the database and then handles the Update (docs/settlement.md §7.1). Two actions at
   * once on a closed workflow start one run: the second meets the first's (USE_EXISTING).
   * A settlement without the ATM event's amounts (its workflow closed while it waited
   * for its signals) is resumed too: the run waits for the operator's retry or close.
   */
  async function act<Args extends [unknown]>(
    action: string,
    s: SettlementRow,
    operatorId: string,
    update: UpdateDefinition<SettlementActionResult, Args>,
    args: Args,
  ) {
    const workflowId = settlementWorkflowId(s.payment_hash);
    const send = (): Promise<SettlementActionResult> => {
      // a final settlement never runs again (§7.1)
      if (FINAL_STATUSES.includes(s.status)) {
        return deps.temporal.workflow.getHandle(workflowId).executeUpdate(update, { args });
      }
      const input: SettlementWorkflowInput = {
        payment_hash: s.payment_hash,
        stuck_after_ms: deps.config.stuckThresholdMinutes * 60_000,
        resume: true,
      };
      return deps.temporal.workflow.executeUpdateWithStart(update, {
        args,
        startWorkflowOperation: new WithStartWorkflowOperation(SETTLEMENT_WORKFLOW, {
          workflowId,
          taskQueue: deps.config.taskQueue,
          args: [input],
          workflowIdConflictPolicy: 'USE_EXISTING',
          workflowIdReusePolicy: 'ALLOW_DUPLICATE',
          typedSearchAttributes: [{ key: SA_SETTLEMENT_STATUS, value: s.status }],
          staticSummary: `settlement of payment ${s.payment_hash.slice(0, 16)}… (resumed by ${action})`,
        }),
      });
    };
    try {
      const result = await send();
      settlementActions.inc({ action, outcome: 'applied' });
      const fresh = (await getOperatorSettlement(deps.pool, operatorId, s.id)) ?? s;
      return { settlement: settlementView(fresh, deps), result };
    } catch (err) {
      const refusal = updateRefusal(err);
      if (refusal) {
        settlementActions.inc({ action, outcome: 'refused' });
        throw conflict(`${action} refused: ${refusal}`, { status: s.status });
      }
      const closed = await workflowClosed(deps.temporal, s.payment_hash);
      if (closed) {
        settlementActions.inc({ action, outcome: 'refused' });
        throw conflict(
          `${action} refused: settlement is ${s.status} and its workflow has finished; nothing can change any more`,
          { status: s.status },
        );
      }
      if (closed === null)
        throw new ApiError(503, 'temporal_unavailable', 'Temporal is not reachable; try again shortly');
      throw err;
    }
  }

  r.add(
    {
      method: 'get',
      path: '/settlements',
      operationId: 'listSettlements',
      summary: 'Settlements, newest first (cursor pagination)',
      tag: 'settlements',
      auth: ['operator'],
      query: z.object({
        status: z.enum(STATUSES).optional(),
        machine_id: id.optional(),
        limit: limitQuery(500, 100),
        cursor: z.string().max(200).optional(),
      }),
      response: z.object({ items: z.array(settlementShape), next_cursor: z.string().nullable() }),
    },
    async ({ query, user }) => {
      const rows = await listOperatorSettlements(deps.pool, {
        operatorId: user.id,
        status: query.status,
        machineId: query.machine_id,
        limit: query.limit + 1,
        before: (() => {
          const c = decodeCursor(query.cursor);
          return c ? { created_at: c.at, id: c.id } : undefined;
        })(),
      });
      const page = rows.slice(0, query.limit);
      const last = page[page.length - 1];
      return {
        items: page.map((s) => settlementView(s, deps)),
        next_cursor: rows.length > query.limit && last ? encodeCursor(last.created_at, last.id) : null,
      };
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
        limit: limitQuery(500, 100),
        cursor: z.string().max(200).optional(),
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
        workflow = await Promise.race([
          deps.temporal.workflow
            .getHandle(settlementWorkflowId(s.payment_hash))
            .query(stateQuery)
            .catch(() => null),
          new Promise<null>((r) => setTimeout(() => r(null), 2000)),
        ]);
      }
      return { ...settlementView(s, deps), legs: legs.map(legView), workflow };
    },
  );

  const actor = z.object({}).strict();

  r.add(
    {
      method: 'post',
      path: '/settlements/:id/retry',
      operationId: 'retrySettlement',
      summary:
        'Retry an errored settlement: failed legs voided, fresh legs paid; completed legs are never paid again',
      tag: 'settlements',
      auth: ['operator'],
      params: idParams,
      body: actor.optional(),
      response: actionShape,
    },
    async ({ params, user }) => {
      const s = await settlementOf(user.id, params.id);
      return act('retry', s, user.id, retryUpdate, [{ user_id: user.id }]);
    },
  );

  const BULK_RETRY_MAX = 100;
  r.add(
    {
      method: 'post',
      path: '/settlements/retry-errored',
      operationId: 'retryErroredSettlements',
      summary:
        `Retry every errored settlement (of one machine, or all; oldest first, at most ${BULK_RETRY_MAX} a call) — ` +
        'after an outage of the payment backend. Each is retried as POST /settlements/:id/retry would',
      tag: 'settlements',
      auth: ['operator'],
      body: z.object({ machine_id: id.optional() }).strict(),
      response: z.object({
        results: z.array(
          z.object({
            settlement_id: z.string(),
            outcome: z
              .enum(['retried', 'refused', 'error'])
              .describe('error: Temporal or the database did not answer for this one; call again'),
            message: z.string(),
          }),
        ),
        remaining: z.number().int().describe('errored settlements left for another call'),
      }),
    },
    async ({ body, user }) => {
      if (body.machine_id && !(await getOperatorMachine(deps.pool, user.id, body.machine_id))) {
        throw notFound(`machine ${body.machine_id}`);
      }
      const errored = await listOperatorSettlements(deps.pool, {
        operatorId: user.id,
        status: 'errored',
        machineId: body.machine_id,
        limit: 10_000,
      });
      const batch = errored.reverse().slice(0, BULK_RETRY_MAX);
      const results: { settlement_id: string; outcome: 'retried' | 'refused' | 'error'; message: string }[] =
        [];
      for (const s of batch) {
        try {
          const out = await act('retry', s, user.id, retryUpdate, [{ user_id: user.id }]);
          results.push({ settlement_id: s.id, outcome: 'retried', message: out.result.message });
        } catch (err) {
          // one settlement's trouble never hides what was done for the others
          const refused = err instanceof ApiError && err.status === 409;
          results.push({
            settlement_id: s.id,
            outcome: refused ? 'refused' : 'error',
            message: (err as Error).message,
          });
        }
      }
      return { results, remaining: errored.length - batch.length };
    },
  );

  r.add(
    {
      method: 'post',
      path: '/settlements/:id/force-reset',
      operationId: 'forceResetSettlement',
      summary:
        'Force-reset a settlement stuck pending or processing past the threshold: in-flight payments cancelled, errored',
      tag: 'settlements',
      auth: ['operator'],
      params: idParams,
      body: actor.optional(),
      response: actionShape,
    },
    async ({ params, user }) => {
      const s = await settlementOf(user.id, params.id);
      return act('force-reset', s, user.id, forceResetUpdate, [{ user_id: user.id }]);
    },
  );

  r.add(
    {
      method: 'post',
      path: '/settlements/:id/partial-dispense',
      operationId: 'recordPartialDispense',
      summary:
        'The machine dispensed less fiat: amounts scale, open legs voided and replanned, refund_sats recorded',
      tag: 'settlements',
      auth: ['operator'],
      params: idParams,
      body: z.object({ fiat_amount: fiatCents(), note: z.string().trim().min(1).max(2000) }),
      response: actionShape,
    },
    async ({ params, body, user }) => {
      const s = await settlementOf(user.id, params.id);
      return act('partial-dispense', s, user.id, partialDispenseUpdate, [
        { user_id: user.id, fiat_amount_cents: body.fiat_amount, note: body.note },
      ]);
    },
  );

  r.add(
    {
      method: 'post',
      path: '/settlements/:id/void-failed-legs',
      operationId: 'voidFailedSettlementLegs',
      summary:
        'Give up on the failed legs of an errored settlement: each is looked up at the payment backend first ' +
        '(paid → completed), the rest are voided (a failed dca leg releases the fiat it held of its LP); ' +
        'the settlement ends processed (partial after a partial dispense)',
      tag: 'settlements',
      auth: ['operator'],
      params: idParams,
      body: z.object({ note: z.string().trim().min(1).max(2000) }),
      response: actionShape,
    },
    async ({ params, body, user }) => {
      const s = await settlementOf(user.id, params.id);
      return act('void-failed-legs', s, user.id, voidFailedLegsUpdate, [
        { user_id: user.id, note: body.note },
      ]);
    },
  );

  r.add(
    {
      method: 'post',
      path: '/settlements/:id/close',
      operationId: 'closeSettlement',
      summary:
        "Close for good a settlement that never got its ATM event's amounts (no money arrived for it): " +
        'rejected with "closed by operator: <note>", final; refused when it has amounts or legs. ' +
        'Works whether its workflow still waits for the signals or has closed',
      tag: 'settlements',
      auth: ['operator'],
      params: idParams,
      body: z.object({ note: z.string().trim().min(1).max(2000) }),
      response: actionShape,
    },
    async ({ params, body, user }) => {
      const s = await settlementOf(user.id, params.id);
      if (!FINAL_STATUSES.includes(s.status)) {
        const legs = await listSettlementLegs(deps.pool, s.id);
        if (s.wire_sats !== null || legs.length > 0) {
          settlementActions.inc({ action: 'close', outcome: 'refused' });
          throw conflict(
            `close refused: the settlement has the ATM event's amounts${legs.length ? ` and ${legs.length} leg(s)` : ''}; ` +
              'retry, partially dispense or void its failed legs instead',
            { status: s.status },
          );
        }
      }
      return act('close', s, user.id, closeUpdate, [{ user_id: user.id, note: body.note }]);
    },
  );

  r.add(
    {
      method: 'post',
      path: '/settlements/:id/notes',
      operationId: 'addSettlementNote',
      summary: 'Add a note (append-only, newest first, stamped with UTC time and your user id)',
      tag: 'settlements',
      auth: ['operator'],
      status: 201,
      params: idParams,
      body: z.object({ text: z.string().trim().min(1).max(2000) }),
      response: settlementShape,
    },
    async ({ params, body, user }) => {
      const s = await settlementOf(user.id, params.id);
      const updated = await prependNote(deps.pool, s.id, formatNote(new Date(), user.id, body.text));
      settlementActions.inc({ action: 'note', outcome: 'applied' });
      return settlementView(updated!, deps);
    },
  );
}
