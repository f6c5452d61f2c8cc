import { z } from 'zod';
import type { UpdateDefinition } from '@temporalio/common';
import {
  closeUpdate,
  forceResetUpdate,
  partialDispenseUpdate,
  retryUpdate,
  voidFailedLegsUpdate,
  type SettlementActionResult,
} from '../../contract';
import { getOperatorMachine } from '../../db/machines';
import { listSettlementLegs } from '../../db/legs';
import { getOperatorSettlement, listOperatorSettlements, type SettlementRow } from '../../db/settlements';
import { settlementActions } from '../../metrics/registry';
import type { ApiDeps } from '../deps';
import { ApiError, conflict, notFound } from '../errors';
import type { RouteRegistry } from '../routeRegistry';
import { fiatCents, id, idParams } from '../schemas';
import { sendAction, sendNote } from '../settlementGateway';
import { FINAL_STATUSES, actionShape, settlementShape, settlementView } from '../settlementViews';
import { operatorSettlementOr404 } from './settlements';

/**
 * The operator actions on a settlement (docs/settlement.md §7): each sends its
 * workflow Update through the gateway (src/api/settlementGateway.ts) and answers with
 * the settlement as it is now.
 */
export function settlementActionRoutes(r: RouteRegistry, deps: ApiDeps): void {
  const settlementOf = (operatorId: string, settlementId: string) =>
    operatorSettlementOr404(deps, operatorId, settlementId);

  /** An operator action through the gateway, answered with the settlement as it is now. */
  async function act<Args extends [unknown]>(
    action: string,
    s: SettlementRow,
    operatorId: string,
    update: UpdateDefinition<SettlementActionResult, Args>,
    args: Args,
  ): Promise<{ settlement: ReturnType<typeof settlementView>; result: SettlementActionResult }> {
    const result = await sendAction(deps, action, s, update, args);
    const fresh = (await getOperatorSettlement(deps.pool, operatorId, s.id)) ?? s;
    return { settlement: settlementView(fresh, deps), result };
  }

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
      await sendNote(deps, s, user.id, body.text);
      return settlementView((await getOperatorSettlement(deps.pool, user.id, s.id)) ?? s, deps);
    },
  );
}
