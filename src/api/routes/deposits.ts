import { z } from 'zod';
import { getOperatorClient } from '../../db/clients';
import {
  deleteUnconfirmedDeposit,
  getOperatorDeposit,
  insertDeposit,
  listOperatorDeposits,
  setDepositStatus,
  updatePendingDeposit,
  type DepositRow,
} from '../../db/deposits';
import { formatCents } from '../../domain/decimal';
import type { ApiDeps } from '../deps';
import { conflict, notFound } from '../errors';
import type { RouteRegistry } from '../routeRegistry';
import { fiatCents, id, idParams } from '../schemas';

const depositShape = z
  .object({
    id: z.string(),
    client_id: z.string(),
    machine_id: z.string(),
    creator_user_id: z.string(),
    amount: z.string(),
    currency: z.string(),
    status: z.enum(['pending', 'confirmed', 'rejected']),
    notes: z.string().nullable(),
    created_at: z.string(),
    confirmed_at: z.string().nullable(),
  })
  .meta({ id: 'Deposit' });

const view = (d: DepositRow) => ({
  ...d,
  created_at: d.created_at.toISOString(),
  confirmed_at: d.confirmed_at ? d.confirmed_at.toISOString() : null,
});

const notes = z.string().trim().max(2000);

export function depositRoutes(r: RouteRegistry, deps: ApiDeps): void {
  const depositOf = async (operatorId: string, depositId: string) => {
    const d = await getOperatorDeposit(deps.pool, operatorId, depositId);
    if (!d) throw notFound(`deposit ${depositId}`);
    return d;
  };

  r.add(
    {
      method: 'get',
      path: '/deposits',
      operationId: 'listDeposits',
      summary: "The operator's deposits, newest first",
      tag: 'deposits',
      auth: ['operator'],
      query: z.object({
        client_id: id.optional(),
        machine_id: id.optional(),
        status: z.enum(['pending', 'confirmed', 'rejected']).optional(),
      }),
      response: z.array(depositShape),
    },
    async ({ query, user }) => (await listOperatorDeposits(deps.pool, user.id, query)).map(view),
  );

  r.add(
    {
      method: 'post',
      path: '/deposits',
      operationId: 'createDeposit',
      summary: "Record fiat an LP handed over (pending until confirmed); the currency is the machine's",
      tag: 'deposits',
      auth: ['operator'],
      status: 201,
      body: z.object({ client_id: id, amount: fiatCents({ positive: true }), notes: notes.optional() }),
      response: depositShape,
    },
    async ({ body, user }) => {
      const client = await getOperatorClient(deps.pool, user.id, body.client_id);
      if (!client) throw notFound(`enrolment ${body.client_id}`);
      if (!client.lp_onboarded) {
        throw conflict(
          `LP ${client.username ?? client.user_id} has not onboarded yet: they set a payout wallet under Preferences (PUT /api/v1/lp/preferences) before deposits can be recorded`,
          [{ field: 'body.client_id', message: 'the LP has not onboarded (no payout wallet yet)' }],
        );
      }
      return view(
        await insertDeposit(deps.pool, {
          client_id: client.id,
          machine_id: client.machine_id,
          creator_user_id: user.id,
          amount: formatCents(body.amount),
          notes: body.notes ?? null,
        }),
      );
    },
  );

  r.add(
    {
      method: 'patch',
      path: '/deposits/:id',
      operationId: 'updateDeposit',
      summary: 'Correct the amount or notes of a pending deposit (a confirmed one is never edited)',
      tag: 'deposits',
      auth: ['operator'],
      params: idParams,
      body: z
        .object({ amount: fiatCents({ positive: true }).optional(), notes: notes.nullable().optional() })
        .strict(),
      response: depositShape,
    },
    async ({ params, body, user }) => {
      const d = await depositOf(user.id, params.id);
      if (d.status !== 'pending')
        throw conflict(`deposit is ${d.status}: only a pending deposit can be edited`);
      const updated = await updatePendingDeposit(deps.pool, d.id, {
        amount: body.amount !== undefined ? formatCents(body.amount) : undefined,
        notes: body.notes,
      });
      if (!updated) throw conflict('deposit changed status meanwhile; reload it');
      return view(updated);
    },
  );

  r.add(
    {
      method: 'put',
      path: '/deposits/:id/status',
      operationId: 'setDepositStatus',
      summary: 'Confirm (counts towards the LP balance) or reject a pending deposit',
      tag: 'deposits',
      auth: ['operator'],
      params: idParams,
      body: z.object({ status: z.enum(['confirmed', 'rejected']), notes: notes.optional() }),
      response: depositShape,
    },
    async ({ params, body, user }) => {
      const d = await depositOf(user.id, params.id);
      if (d.status !== 'pending') {
        if (d.status === body.status) return view(d);
        throw conflict(`deposit is already ${d.status}; a ${d.status} deposit cannot become ${body.status}`);
      }
      const updated = await setDepositStatus(deps.pool, d.id, body.status, body.notes);
      if (!updated) throw conflict('deposit changed status meanwhile; reload it');
      return view(updated);
    },
  );

  r.add(
    {
      method: 'delete',
      path: '/deposits/:id',
      operationId: 'deleteDeposit',
      summary: 'Delete a pending or rejected deposit (a confirmed one is never deleted)',
      tag: 'deposits',
      auth: ['operator'],
      params: idParams,
      status: 204,
    },
    async ({ params, user }) => {
      const d = await depositOf(user.id, params.id);
      if (d.status === 'confirmed')
        throw conflict('a confirmed deposit is never deleted: it is part of the LP balance');
      if (!(await deleteUnconfirmedDeposit(deps.pool, d.id)))
        throw conflict('deposit was confirmed meanwhile; it cannot be deleted');
      return undefined;
    },
  );
}
