import { createHash, randomUUID } from 'node:crypto';
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowFailedError,
  WorkflowNotFoundError,
} from '@temporalio/client';
import { z } from 'zod';
import {
  BALANCE_SETTLEMENT_WORKFLOW,
  balanceSettlementWorkflowId,
  type BalanceSettlementInput,
  type BalanceSettlementResult,
} from '../../contract';
import {
  clientHasMoney,
  deleteClient,
  getOperatorClient,
  insertClient,
  listMachineClients,
  listOperatorClients,
  updateClient,
  type ClientRow,
} from '../../db/clients';
import { listClientLegs } from '../../db/legs';
import { operatorClientBalance } from '../../db/lpBalances';
import { getOperatorMachine } from '../../db/machines';
import { getUser } from '../../db/users';
import { formatCents, parseCents, parseRate, RATE_SCALE } from '../../domain/decimal';
import { balanceShape, balanceView } from '../balanceView';
import type { ApiDeps } from '../deps';
import { conflict, notFound, unprocessable } from '../errors';
import { MAX_SATS } from '../../domain/feeSplit';
import type { RouteRegistry } from '../routeRegistry';
import { keysetPage } from '../pagination';
import { cursorPage, cursorQuery, exchangeRate, fiatCents, id, idParams } from '../schemas';
import { legShape, legView } from '../settlementViews';

export const clientShape = z
  .object({
    id: z.string(),
    machine_id: z.string(),
    user_id: z.string(),
    username: z.string().nullable(),
    status: z.enum(['active', 'inactive']),
    lp_onboarded: z.boolean(),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .meta({ id: 'Client' });

export const clientView = (c: ClientRow) => ({
  id: c.id,
  machine_id: c.machine_id,
  user_id: c.user_id,
  username: c.username,
  status: c.status,
  lp_onboarded: c.lp_onboarded,
  created_at: c.created_at.toISOString(),
  updated_at: c.updated_at.toISOString(),
});

export function clientRoutes(r: RouteRegistry, deps: ApiDeps): void {
  const machineOf = async (operatorId: string, machineId: string) => {
    const m = await getOperatorMachine(deps.pool, operatorId, machineId);
    if (!m) throw notFound(`machine ${machineId}`);
    return m;
  };
  const clientOf = async (operatorId: string, clientId: string) => {
    const c = await getOperatorClient(deps.pool, operatorId, clientId);
    if (!c) throw notFound(`enrolment ${clientId}`);
    return c;
  };

  r.add(
    {
      method: 'get',
      path: '/machines/:id/clients',
      operationId: 'listMachineClients',
      summary: 'LP enrolments at a machine',
      tag: 'clients',
      auth: ['operator'],
      params: idParams,
      response: z.array(clientShape),
    },
    async ({ params, user }) => {
      await machineOf(user.id, params.id);
      return (await listMachineClients(deps.pool, params.id)).map(clientView);
    },
  );

  r.add(
    {
      method: 'post',
      path: '/machines/:id/clients',
      operationId: 'createMachineClient',
      summary: 'Enrol an LP at a machine (the LP onboards itself by setting its preferences)',
      tag: 'clients',
      auth: ['operator'],
      status: 201,
      params: idParams,
      body: z.object({ user_id: id, username: z.string().trim().min(1).max(100).optional() }),
      response: clientShape,
    },
    async ({ params, body, user }) => {
      await machineOf(user.id, params.id);
      const lp = await getUser(deps.pool, body.user_id);
      if (!lp)
        throw unprocessable(`user ${body.user_id} does not exist`, [
          { field: 'body.user_id', message: 'unknown user' },
        ]);
      if (lp.role !== 'lp')
        throw unprocessable(`user ${body.user_id} is a ${lp.role}, not an LP`, [
          { field: 'body.user_id', message: 'not an LP' },
        ]);
      try {
        return clientView(await insertClient(deps.pool, params.id, body.user_id, body.username ?? lp.name));
      } catch (err) {
        if ((err as { code?: string }).code === '23505')
          throw conflict('this LP is already enrolled at this machine');
        throw err;
      }
    },
  );

  r.add(
    {
      method: 'get',
      path: '/clients',
      operationId: 'listClients',
      summary: "All the operator's LP enrolments",
      tag: 'clients',
      auth: ['operator'],
      response: z.array(clientShape),
    },
    async ({ user }) => (await listOperatorClients(deps.pool, user.id)).map(clientView),
  );

  r.add(
    {
      method: 'patch',
      path: '/clients/:id',
      operationId: 'updateClient',
      summary: 'Rename or (de)activate an enrolment',
      tag: 'clients',
      auth: ['operator'],
      params: idParams,
      body: z
        .object({
          username: z.string().trim().min(1).max(100).optional(),
          status: z.enum(['active', 'inactive']).optional(),
        })
        .strict(),
      response: clientShape,
    },
    async ({ params, body, user }) => {
      await clientOf(user.id, params.id);
      return clientView((await updateClient(deps.pool, params.id, body))!);
    },
  );

  r.add(
    {
      method: 'delete',
      path: '/clients/:id',
      operationId: 'deleteClient',
      summary: 'Remove an enrolment that never held money (else deactivate it)',
      tag: 'clients',
      auth: ['operator'],
      params: idParams,
      status: 204,
    },
    async ({ params, user }) => {
      await clientOf(user.id, params.id);
      if (await clientHasMoney(deps.pool, params.id)) {
        throw conflict(
          'this enrolment has deposits or payments; deactivate it instead (PATCH {"status": "inactive"})',
        );
      }
      await deleteClient(deps.pool, params.id);
      return undefined;
    },
  );

  r.add(
    {
      method: 'get',
      path: '/clients/:id/legs',
      operationId: 'listClientLegs',
      summary:
        "An enrolment's payment legs (dca, settlement, autoforward; every status), newest first, cursor pagination",
      tag: 'clients',
      auth: ['operator'],
      params: idParams,
      query: z.object(cursorQuery()),
      response: cursorPage(legShape),
    },
    async ({ params, query, user }) => {
      const c = await clientOf(user.id, params.id);
      return keysetPage(
        query,
        (page) => listClientLegs(deps.pool, c.id, page),
        legView,
        (l) => l.created_at,
      );
    },
  );

  r.add(
    {
      method: 'get',
      path: '/clients/:id/balance',
      operationId: 'getClientBalance',
      summary: 'Balance of an enrolment',
      tag: 'clients',
      auth: ['operator'],
      params: idParams,
      response: balanceShape,
    },
    async ({ params, user }) => {
      const b = await operatorClientBalance(deps.pool, user.id, params.id);
      if (!b) throw notFound(`enrolment ${params.id}`);
      return balanceView(b);
    },
  );

  r.add(
    {
      method: 'post',
      path: '/clients/:id/balance-settlement',
      operationId: 'settleClientBalance',
      summary:
        'Pay an LP all (default) or part of its remaining fiat in sats at a given rate (balanceSettlementWorkflow). ' +
        'Send an Idempotency-Key header (1–100 of A–Z a–z 0–9 . _ : -) and a repeated request pays once and gets the first answer ' +
        "(for as long as Temporal keeps the closed workflow: the namespace's retention period)",
      tag: 'clients',
      auth: ['operator'],
      params: idParams,
      body: z.object({ exchange_rate: exchangeRate, fiat_amount: fiatCents({ positive: true }).optional() }),
      response: z.object({
        workflow_id: z.string(),
        leg_id: z.string().nullable(),
        status: z.enum(['completed', 'failed', 'nothing_to_settle']),
        amount_sats: z.number().int(),
        amount_fiat: z.string(),
        error: z.string().optional(),
      }),
    },
    async ({ params, body, user, req }) => {
      const client = await clientOf(user.id, params.id);
      const key = req.header('idempotency-key');
      if (key !== undefined && !/^[A-Za-z0-9._:-]{1,100}$/.test(key)) {
        throw unprocessable('Idempotency-Key must be 1–100 characters of A–Z, a–z, 0–9, . _ : -', [
          { field: 'headers.idempotency-key', message: 'invalid' },
        ]);
      }
      const requestHash = createHash('sha256')
        .update(JSON.stringify([client.id, body]))
        .digest('hex');
      const workflowId = balanceSettlementWorkflowId(client.id, key ?? randomUUID());
      const respond = (result: BalanceSettlementResult) => {
        if (result.status === 'failed') {
          throw conflict(
            `balance settlement failed: ${result.error ?? 'the payment was refused'} (leg ${result.leg_id} kept as failed)`,
            { workflow_id: workflowId, leg_id: result.leg_id },
          );
        }
        return {
          workflow_id: workflowId,
          leg_id: result.leg_id,
          status: result.status,
          amount_sats: result.amount_sats,
          amount_fiat: formatCents(result.amount_fiat_cents),
          ...(result.error ? { error: result.error } : {}),
        };
      };
      /** the request made before under this Idempotency-Key: its answer again (it pays once) */
      const earlier = async () => {
        const handle = deps.temporal.workflow.getHandle(workflowId);
        const d = await handle.describe();
        if (d.memo?.request !== requestHash) {
          throw conflict('this Idempotency-Key was used for a different balance settlement request');
        }
        let result: BalanceSettlementResult;
        try {
          result = await handle.result();
        } catch (err) {
          if (!(err instanceof WorkflowFailedError)) throw err;
          throw conflict(
            `the balance settlement made under this Idempotency-Key did not finish (${err.message}); send the request again with a new key`,
            { workflow_id: workflowId },
          );
        }
        return respond(result);
      };
      if (key !== undefined) {
        try {
          return await earlier();
        } catch (err) {
          if (!(err instanceof WorkflowNotFoundError)) throw err;
        }
      }
      const balance = (await operatorClientBalance(deps.pool, user.id, client.id))!;
      const remaining = parseCents(balance.remaining_balance);
      if (remaining <= 0)
        throw conflict(
          `nothing to settle: the remaining balance is ${balance.remaining_balance} ${balance.currency}`,
        );
      const cents = body.fiat_amount ?? remaining;
      if (cents > remaining)
        throw conflict(
          `fiat_amount exceeds the remaining balance of ${balance.remaining_balance} ${balance.currency}`,
        );
      const sats = (BigInt(cents) * parseRate(body.exchange_rate)) / (100n * RATE_SCALE);
      if (sats < 1n) throw conflict('that amount is below 1 sat at this exchange rate');
      if (sats > BigInt(MAX_SATS)) {
        throw unprocessable(
          `that is ${sats} sats, more than 21,000,000 BTC: check exchange_rate (sats per one fiat unit)`,
          [{ field: 'body.exchange_rate', message: 'too large for this amount' }],
        );
      }
      if (!client.lp_onboarded)
        throw conflict('the LP has not onboarded (no payout wallet): it must set its preferences first');
      const input: BalanceSettlementInput = {
        client_id: client.id,
        operator_user_id: user.id,
        exchange_rate: body.exchange_rate,
        ...(body.fiat_amount !== undefined ? { fiat_amount_cents: body.fiat_amount } : {}),
      };
      let result: BalanceSettlementResult;
      try {
        result = await deps.temporal.workflow.execute<
          (i: BalanceSettlementInput) => Promise<BalanceSettlementResult>
        >(BALANCE_SETTLEMENT_WORKFLOW, {
          workflowId,
          taskQueue: deps.config.taskQueue,
          args: [input],
          memo: { request: requestHash },
          // the same key again, running or closed: never a second workflow (answered by `earlier`)
          workflowIdConflictPolicy: 'FAIL',
          workflowIdReusePolicy: 'REJECT_DUPLICATE',
          staticSummary: `balance settlement of ${client.username ?? client.id}`,
        });
      } catch (err) {
        if (err instanceof WorkflowExecutionAlreadyStartedError) return earlier();
        throw err;
      }
      return respond(result);
    },
  );
}
