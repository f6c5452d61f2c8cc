import { z } from 'zod';
import { listUserEnrolments } from '../../db/clients';
import { getLpPreferences } from '../../db/lp';
import { listLpDeposits, type LpDepositRow } from '../../db/deposits';
import { lpBalances } from '../../db/lpBalances';
import { listLpPayouts, type LpPayoutRow } from '../../db/payments';
import { formatCents, mulDivRound, parseCents } from '../../domain/decimal';
import { balanceShape, balanceView } from '../balanceView';
import type { ApiDeps } from '../deps';
import { keysetPage } from '../pagination';
import type { RouteRegistry } from '../routeRegistry';
import { cursorPage, cursorQuery } from '../schemas';
import { clientShape, clientView } from './clients';
import { lpPreferenceRoutes } from './lpPreferences';

const payoutShape = z
  .object({
    id: z.string(),
    leg_type: z.enum(['dca', 'settlement', 'autoforward']),
    client_id: z.string(),
    machine_id: z.string(),
    machine_name: z.string(),
    settlement_id: z.string().nullable(),
    amount_sats: z.number().int(),
    amount_fiat: z.string(),
    currency: z.string(),
    exchange_rate: z.string().nullable(),
    payment_hash: z.string().nullable(),
    destination: z.string().nullable(),
    completed_at: z.string(),
  })
  .meta({ id: 'LpPayout' });

const payoutView = (p: LpPayoutRow) => ({
  id: p.id,
  leg_type: p.leg_type as 'dca' | 'settlement' | 'autoforward',
  client_id: p.client_id,
  machine_id: p.machine_id,
  machine_name: p.machine_name,
  settlement_id: p.settlement_id,
  amount_sats: p.amount_sats,
  amount_fiat: p.amount_fiat,
  currency: p.currency,
  exchange_rate: p.exchange_rate,
  payment_hash: p.external_payment_hash,
  destination: p.destination,
  completed_at: p.completed_at.toISOString(),
});

const lpDepositShape = z
  .object({
    id: z.string(),
    client_id: z.string(),
    machine_id: z.string(),
    machine_name: z.string(),
    amount: z.string(),
    currency: z.string(),
    status: z.enum(['pending', 'confirmed', 'rejected']),
    notes: z.string().nullable(),
    created_at: z.string(),
    confirmed_at: z.string().nullable(),
  })
  .meta({ id: 'LpDeposit' });

// creator_user_id (the operator account that typed the deposit in) is left out
const lpDepositView = (d: LpDepositRow) => ({
  id: d.id,
  client_id: d.client_id,
  machine_id: d.machine_id,
  machine_name: d.machine_name,
  amount: d.amount,
  currency: d.currency,
  status: d.status,
  notes: d.notes,
  created_at: d.created_at.toISOString(),
  confirmed_at: d.confirmed_at ? d.confirmed_at.toISOString() : null,
});

const CSV_COLUMNS = [
  'completed_at',
  'leg_type',
  'machine_name',
  'amount_sats',
  'amount_fiat',
  'currency',
  'exchange_rate',
  'payment_hash',
  'destination',
  'settlement_id',
  'id',
] as const;

function csvCell(v: string | number | null): string {
  const s = v === null ? '' : String(v);
  // quote when needed, and neutralise spreadsheet formulas
  const safe = /^[=+\-@\t\r]/.test(s) && !/^-?\d/.test(s) ? `'${s}` : s;
  return /[",\n\r]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

export function lpRoutes(r: RouteRegistry, deps: ApiDeps): void {
  lpPreferenceRoutes(r, deps);

  r.add(
    {
      method: 'get',
      path: '/lp/enrolments',
      operationId: 'listLpEnrolments',
      summary: 'The machines you are enrolled at, across operators',
      tag: 'lp',
      auth: ['lp'],
      response: z.array(
        clientShape.extend({
          machine_name: z.string(),
          fiat_code: z.string(),
          operator_user_id: z.string(),
          operator_name: z.string(),
        }),
      ),
    },
    async ({ user }) =>
      (await listUserEnrolments(deps.pool, user.id)).map((e) => ({
        ...clientView(e),
        machine_name: e.machine_name,
        fiat_code: e.fiat_code,
        operator_user_id: e.operator_user_id,
        operator_name: e.operator_name,
      })),
  );

  r.add(
    {
      method: 'get',
      path: '/lp/balances',
      operationId: 'listLpBalances',
      summary: 'Your balance at every enrolment, across operators',
      tag: 'lp',
      auth: ['lp'],
      response: z.array(balanceShape.extend({ machine_name: z.string(), operator_user_id: z.string() })),
    },
    async ({ user }) =>
      (await lpBalances(deps.pool, user.id)).map((b) => ({
        ...balanceView(b),
        machine_name: b.machine_name,
        operator_user_id: b.operator_user_id,
      })),
  );

  r.add(
    {
      method: 'get',
      path: '/lp/payments',
      operationId: 'listLpPayments',
      summary:
        'Your payouts (completed dca / settlement / autoforward legs), newest first; ?format=csv exports them all',
      tag: 'lp',
      auth: ['lp'],
      query: z.object({
        format: z.enum(['json', 'csv']).default('json'),
        ...cursorQuery(),
      }),
      response: cursorPage(payoutShape),
    },
    async ({ query, user, res }) => {
      if (query.format === 'csv') {
        const rows = (await listLpPayouts(deps.pool, user.id, { limit: null })).map(payoutView);
        res.setHeader('content-type', 'text/csv; charset=utf-8');
        res.setHeader('content-disposition', 'attachment; filename="satmachine-payouts.csv"');
        const lines = [
          CSV_COLUMNS.join(','),
          ...rows.map((p) => CSV_COLUMNS.map((c) => csvCell(p[c])).join(',')),
        ];
        res.status(200).send(lines.join('\r\n') + '\r\n');
        return undefined;
      }
      return keysetPage(
        query,
        (page) => listLpPayouts(deps.pool, user.id, page),
        payoutView,
        (p) => p.completed_at,
      );
    },
  );

  r.add(
    {
      method: 'get',
      path: '/lp/deposits',
      operationId: 'listLpDeposits',
      summary:
        'The fiat deposits operators recorded for you (pending, confirmed, rejected), across your enrolments, newest first',
      tag: 'lp',
      auth: ['lp'],
      query: z.object(cursorQuery()),
      response: cursorPage(lpDepositShape),
    },
    async ({ query, user }) => {
      return keysetPage(
        query,
        (page) => listLpDeposits(deps.pool, user.id, page),
        lpDepositView,
        (d) => d.created_at,
      );
    },
  );

  r.add(
    {
      method: 'get',
      path: '/lp/summary',
      operationId: 'getLpSummary',
      summary: 'Your totals per currency across every enrolment',
      tag: 'lp',
      auth: ['lp'],
      response: z.object({
        onboarded: z.boolean(),
        enrolments: z.number().int(),
        currencies: z.array(
          z.object({
            currency: z.string(),
            confirmed_deposits: z.string(),
            spent_fiat: z.string(),
            pending_fiat: z.string(),
            remaining_balance: z.string(),
            total_sats: z.number().int(),
            average_cost_basis: z.string().nullable(),
          }),
        ),
        last_payout_at: z.string().nullable(),
      }),
    },
    async ({ user }) => {
      const balances = await lpBalances(deps.pool, user.id);
      const byCurrency = new Map<
        string,
        { deposits: number; spent: number; pending: number; remaining: number; sats: number }
      >();
      for (const b of balances) {
        const t = byCurrency.get(b.currency) ?? { deposits: 0, spent: 0, pending: 0, remaining: 0, sats: 0 };
        t.deposits += parseCents(b.confirmed_deposits);
        t.spent += parseCents(b.spent_fiat);
        t.pending += parseCents(b.pending_fiat);
        t.remaining += parseCents(b.remaining_balance);
        t.sats += b.total_sats;
        byCurrency.set(b.currency, t);
      }
      const last = await listLpPayouts(deps.pool, user.id, { limit: 1 });
      return {
        onboarded: (await getLpPreferences(deps.pool, user.id)) !== null,
        enrolments: balances.length,
        currencies: [...byCurrency.entries()].map(([currency, t]) => ({
          currency,
          confirmed_deposits: formatCents(t.deposits),
          spent_fiat: formatCents(t.spent),
          pending_fiat: formatCents(t.pending),
          remaining_balance: formatCents(t.remaining),
          total_sats: t.sats,
          average_cost_basis:
            t.sats > 0 ? formatCents(mulDivRound(BigInt(t.spent), 100_000_000n, BigInt(t.sats))) : null,
        })),
        last_payout_at: last[0] ? last[0].completed_at.toISOString() : null,
      };
    },
  );
}
