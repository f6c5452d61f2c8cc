import { z } from 'zod';
import {
  getLpPreferences,
  insertLpPreferences,
  updateLpPreferences,
  type LpPreferencesRow,
} from '../../db/lp';
import { formatCents } from '../../domain/decimal';
import type { ApiDeps } from '../deps';
import { notFound, unprocessable } from '../errors';
import type { RouteRegistry } from '../routeRegistry';
import { fiatCents, lnAddress, walletId } from '../schemas';
import { destinationProblem, walletProblem } from '../walletOwnership';

const prefsShape = z
  .object({
    user_id: z.string(),
    dca_wallet_id: z.string(),
    default_dca_mode: z.enum(['flow', 'fixed']),
    fixed_mode_daily_limit: z.string().nullable(),
    autoforward_ln_address: z.string().nullable(),
    autoforward_enabled: z.boolean(),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .meta({ id: 'LpPreferences' });

const prefsView = (p: LpPreferencesRow) => ({
  ...p,
  created_at: p.created_at.toISOString(),
  updated_at: p.updated_at.toISOString(),
});

/** An LP's own preferences: payout wallet, DCA mode and daily limit, autoforward. */
export function lpPreferenceRoutes(r: RouteRegistry, deps: ApiDeps): void {
  r.add(
    {
      method: 'get',
      path: '/lp/preferences',
      operationId: 'getLpPreferences',
      summary: 'Your payout wallet, DCA mode and autoforward',
      tag: 'lp',
      auth: ['lp'],
      response: prefsShape,
    },
    async ({ user }) => {
      const p = await getLpPreferences(deps.pool, user.id);
      if (!p)
        throw notFound('preferences (not onboarded yet: PUT /api/v1/lp/preferences with dca_wallet_id)');
      return prefsView(p);
    },
  );

  r.add(
    {
      method: 'put',
      path: '/lp/preferences',
      operationId: 'setLpPreferences',
      summary: 'Create or update your preferences; the first call needs dca_wallet_id; mode defaults to flow',
      tag: 'lp',
      auth: ['lp'],
      body: z
        .object({
          dca_wallet_id: walletId.optional(),
          default_dca_mode: z.enum(['flow', 'fixed']).optional(),
          fixed_mode_daily_limit: fiatCents().nullable().optional(),
          autoforward_ln_address: lnAddress.nullable().optional(),
          autoforward_enabled: z.boolean().optional(),
        })
        .strict(),
      response: prefsShape,
    },
    async ({ body, user, res }) => {
      const existing = await getLpPreferences(deps.pool, user.id);
      const problems: { field: string; message: string }[] = [];
      if (!existing && !body.dca_wallet_id) {
        problems.push({
          field: 'body.dca_wallet_id',
          message: 'required on the first call: where your sats are paid',
        });
      }
      // a wallet is checked when it changes (a form sends the unchanged one back with every save)
      if (body.dca_wallet_id && body.dca_wallet_id !== existing?.dca_wallet_id) {
        const problem = await walletProblem(deps, user.id, body.dca_wallet_id, 'payout');
        if (problem) problems.push({ field: 'body.dca_wallet_id', message: problem });
      }
      const mode = body.default_dca_mode ?? existing?.default_dca_mode ?? 'flow';
      const limit =
        body.fixed_mode_daily_limit !== undefined
          ? body.fixed_mode_daily_limit
          : existing?.fixed_mode_daily_limit;
      if (mode === 'fixed' && (limit === null || limit === undefined)) {
        problems.push({ field: 'body.fixed_mode_daily_limit', message: 'fixed mode needs a daily limit' });
      }
      const enabled = body.autoforward_enabled ?? existing?.autoforward_enabled ?? false;
      const address =
        body.autoforward_ln_address !== undefined
          ? body.autoforward_ln_address
          : existing?.autoforward_ln_address;
      if (enabled && !address) {
        problems.push({
          field: 'body.autoforward_ln_address',
          message: 'autoforward needs a Lightning address name@domain',
        });
      } else if (enabled && address) {
        const problem = await destinationProblem(deps, address);
        if (problem) problems.push({ field: 'body.autoforward_ln_address', message: problem });
        // the forward is paid from the payout wallet: with LNbits that needs its admin key
        const payout = body.dca_wallet_id ?? existing?.dca_wallet_id;
        const w = payout && deps.lnbits ? await deps.lnbits.getWallet(payout) : null;
        if (w && !w.can_pay) {
          problems.push({
            field: 'body.autoforward_enabled',
            message: `autoforward pays from your payout wallet ${payout}: register its admin key too (POST /api/v1/lnbits/wallets)`,
          });
        }
      }
      if (problems.length) throw unprocessable(problems.map((p) => p.message).join('; '), problems);
      const patch = {
        ...body,
        ...(body.fixed_mode_daily_limit !== undefined
          ? {
              fixed_mode_daily_limit:
                body.fixed_mode_daily_limit === null ? null : formatCents(body.fixed_mode_daily_limit),
            }
          : {}),
      };
      if (!existing) {
        res.locals.status = 201;
        return prefsView(
          await insertLpPreferences(deps.pool, user.id, { ...patch, dca_wallet_id: body.dca_wallet_id! }),
        );
      }
      return prefsView((await updateLpPreferences(deps.pool, user.id, patch))!);
    },
  );
}
