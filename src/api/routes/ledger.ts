import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { ApiDeps } from '../deps';
import type { RouteRegistry } from '../routeRegistry';
import { conflict, invalidField, notFound } from '../errors';
import { BalanceOverflowError, InsufficientFundsError, WalletNotFoundError } from '../../payments/ledger';
import { PaymentRefusedError } from '../../payments/backend';
import { id, idParams } from '../schemas';
import type { LedgerWalletRow } from '../../db/ledger';
import { MAX_SATS } from '../../domain/feeSplit';

const walletShape = z
  .object({
    id: z.string(),
    name: z.string(),
    owner_user_id: z.string().nullable(),
    balance_sats: z.number().int(),
    lightning_address: z.string(),
    created_at: z.string(),
  })
  .meta({ id: 'LedgerWallet' });

/** Ledger backend only: wallets, balances, and Lightning payments reported as a node would. */
export function ledgerRoutes(r: RouteRegistry, deps: ApiDeps): void {
  const ledger = deps.ledger;
  if (!ledger) return;
  const view = (w: LedgerWalletRow) => ({
    id: w.id,
    name: w.name,
    owner_user_id: w.owner_user_id,
    balance_sats: w.balance_sats,
    lightning_address: `${w.id}@${ledger.lnAddressDomain}`,
    created_at: w.created_at.toISOString(),
  });

  r.add(
    {
      method: 'post',
      path: '/ledger/wallets',
      operationId: 'createLedgerWallet',
      summary: 'Create a ledger wallet owned by the caller',
      tag: 'ledger',
      auth: 'any',
      status: 201,
      body: z.object({ name: z.string().trim().min(1).max(100) }),
      response: walletShape,
    },
    async ({ body, user }) => view(await ledger.createWallet(user.id, body.name)),
  );

  r.add(
    {
      method: 'get',
      path: '/ledger/wallets/:id',
      operationId: 'getLedgerWallet',
      summary: 'A wallet and its balance (its owner, or super)',
      tag: 'ledger',
      auth: 'any',
      params: idParams,
      response: walletShape,
    },
    async ({ params, user }) => {
      const w = await ledger.getWallet(params.id);
      if (!w || w.kind !== 'user' || (user.role !== 'super' && w.owner_user_id !== user.id))
        throw notFound(`wallet ${params.id}`);
      return view(w);
    },
  );

  r.add(
    {
      method: 'post',
      path: '/ledger/payments',
      operationId: 'createLedgerPayment',
      summary:
        'Report a Lightning payment seen on a wallet (incoming credits, outgoing debits); feeds paymentObserved',
      tag: 'ledger',
      auth: ['super'],
      status: 201,
      body: z.object({
        wallet_id: id,
        payment_hash: z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex characters'),
        amount_sats: z.number().int().positive().max(MAX_SATS),
        direction: z.enum(['incoming', 'outgoing']),
      }),
      response: z.object({ created: z.boolean(), wallet: walletShape }),
    },
    async ({ body, res }) => {
      try {
        const out = await ledger.recordLightningPayment(body);
        if (!out.created) res.locals.status = 200;
        return { created: out.created, wallet: view(out.wallet) };
      } catch (err) {
        if (err instanceof WalletNotFoundError) throw notFound(`wallet ${body.wallet_id}`);
        if (err instanceof BalanceOverflowError)
          throw invalidField('amount_sats', `${err.message}; nothing was recorded`);
        if (err instanceof InsufficientFundsError) {
          throw conflict(`insufficient funds: ${err.message}; a node could not have paid this`, {
            balance_sats: err.balance,
          });
        }
        if (err instanceof PaymentRefusedError) throw conflict(err.message);
        throw err;
      }
    },
  );

  r.add(
    {
      method: 'post',
      path: '/ledger/wallets/:id/fund',
      operationId: 'fundLedgerWallet',
      summary: 'Top up a wallet from outside (e.g. funding a cash-in machine); feeds no workflow',
      tag: 'ledger',
      auth: ['super'],
      params: idParams,
      body: z.object({
        amount_sats: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
        idempotency_key: z.string().min(1).max(200).optional(),
      }),
      response: walletShape,
    },
    async ({ params, body }) => {
      try {
        return view(
          await ledger.fund(params.id, body.amount_sats, body.idempotency_key ?? `fund:${randomUUID()}`),
        );
      } catch (err) {
        if (err instanceof WalletNotFoundError) throw notFound(`wallet ${params.id}`);
        if (err instanceof BalanceOverflowError)
          throw invalidField('amount_sats', `${err.message}; nothing was moved`);
        if (err instanceof PaymentRefusedError) throw conflict(err.message);
        throw err;
      }
    },
  );
}
