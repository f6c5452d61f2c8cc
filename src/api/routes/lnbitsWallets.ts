import { z } from 'zod';
import { getActiveMachineByWallet } from '../../db/machines';
import { LnbitsUnavailableError } from '../../payments/lnbitsClient';
import {
  LnbitsKeyRejectedError,
  LnbitsWalletTakenError,
  type LnbitsWalletView,
} from '../../payments/lnbitsWallets';
import type { ApiDeps } from '../deps';
import { ApiError, conflict, notFound, unprocessable } from '../errors';
import type { RouteRegistry } from '../routeRegistry';
import { id, idParams } from '../schemas';

const apiKey = z
  .string()
  .trim()
  .regex(/^[A-Za-z0-9_-]{8,128}$/, 'must be an LNbits API key');

const walletShape = z
  .object({
    wallet_id: z.string(),
    name: z.string().describe('the wallet name in LNbits'),
    owner_user_id: z.string(),
    can_pay: z.boolean().describe('satmachine holds its admin key (it pays from this wallet)'),
    can_receive: z.boolean().describe('satmachine holds its invoice key (it creates invoices to it)'),
    created_at: z.string(),
    updated_at: z.string(),
    watch: z
      .object({
        last_read_at: z
          .string()
          .nullable()
          .describe('the payment observer last read this wallet (to the minute)'),
        error: z
          .string()
          .nullable()
          .describe(
            'why the observer cannot read its payments now (a revoked or reset key): re-register the keys',
          ),
        error_since: z.string().nullable(),
      })
      .describe("whether satmachine sees this wallet's payments"),
  })
  .meta({ id: 'LnbitsWallet' });

/**
 * LNbits backend only: the LNbits wallets satmachine may use. Any user registers
 * the wallets it holds the keys of (the platform its super wallet, an operator its
 * machine and commission wallets, an LP its payout wallet); LNbits must confirm the
 * keys. Keys are sealed at rest and never shown again. A user sees and deletes only
 * its own registrations; the platform (super) sees and deletes all.
 */
export function lnbitsWalletRoutes(r: RouteRegistry, deps: ApiDeps): void {
  const lnbits = deps.lnbits;
  if (!lnbits) return;

  const unavailable = (err: LnbitsUnavailableError) =>
    new ApiError(503, 'lnbits_unavailable', `cannot check the keys with LNbits: ${err.message}`);

  r.add(
    {
      method: 'post',
      path: '/lnbits/wallets',
      operationId: 'createLnbitsWallet',
      summary:
        "Register an LNbits wallet's keys (checked with LNbits, stored encrypted, never returned); the same owner registering it again replaces them",
      tag: 'lnbits',
      auth: ['super', 'operator', 'lp'],
      status: 201,
      body: z
        .object({
          wallet_id: id.describe('the LNbits wallet id'),
          admin_key: apiKey
            .optional()
            .describe(
              'needed for a wallet satmachine pays from: machine wallets, LP wallets with autoforward',
            ),
          invoice_key: apiKey.describe(
            'the invoice (read) key: satmachine creates invoices to the wallet with it',
          ),
        })
        .strict(),
      response: walletShape,
    },
    async ({ body, user, res }): Promise<LnbitsWalletView> => {
      try {
        const out = await lnbits.registerWallet(user.id, body);
        if (!out.created) res.locals.status = 200;
        return out.wallet;
      } catch (err) {
        if (err instanceof LnbitsKeyRejectedError) {
          throw unprocessable(err.message, [{ field: `body.${err.field}`, message: err.message }]);
        }
        if (err instanceof LnbitsWalletTakenError) throw conflict(err.message);
        if (err instanceof LnbitsUnavailableError) throw unavailable(err);
        throw err;
      }
    },
  );

  r.add(
    {
      method: 'get',
      path: '/lnbits/wallets',
      operationId: 'listLnbitsWallets',
      summary: 'The LNbits wallets you registered (super: all), without keys',
      tag: 'lnbits',
      auth: ['super', 'operator', 'lp'],
      response: z.array(walletShape),
    },
    async ({ user }) => lnbits.listWallets(user.role === 'super' ? null : user.id),
  );

  r.add(
    {
      method: 'get',
      path: '/lnbits/wallets/:id',
      operationId: 'getLnbitsWallet',
      summary: 'One registered LNbits wallet, without keys',
      tag: 'lnbits',
      auth: ['super', 'operator', 'lp'],
      params: idParams,
      response: walletShape,
    },
    async ({ params, user }) => {
      const w = await lnbits.getWallet(params.id);
      if (!w || (user.role !== 'super' && w.owner_user_id !== user.id))
        throw notFound(`LNbits wallet ${params.id}`);
      return w;
    },
  );

  r.add(
    {
      method: 'delete',
      path: '/lnbits/wallets/:id',
      operationId: 'deleteLnbitsWallet',
      summary:
        "Forget a wallet's keys (refused while it is an active machine's wallet: its payments would no longer be seen)",
      tag: 'lnbits',
      auth: ['super', 'operator', 'lp'],
      params: idParams,
      status: 204,
    },
    async ({ params, user }) => {
      const w = await lnbits.getWallet(params.id);
      if (!w || (user.role !== 'super' && w.owner_user_id !== user.id))
        throw notFound(`LNbits wallet ${params.id}`);
      const machine = await getActiveMachineByWallet(deps.pool, params.id);
      if (machine) {
        throw conflict(
          `LNbits wallet ${params.id} is the wallet of active machine ${machine.id} (${machine.name}): deactivate the machine or give it another wallet first`,
        );
      }
      await lnbits.deleteWallet(params.id, user.role === 'super' ? null : user.id);
      return undefined;
    },
  );
}
