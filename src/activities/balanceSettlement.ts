import { ApplicationFailure } from '@temporalio/common';
import { formatCents, mulDivFloor, parseCents, parseRate, RATE_SCALE } from '../domain/decimal';
import { insertLegs, getLeg } from '../db/legs';
import { lpDestinations } from '../db/lp';
import { enrolmentForSettle, remainingCents } from '../db/lpBalances';
import { lockMachine } from '../db/machines';
import { withTransaction } from '../db/pool';
import type { ActivityDeps } from './deps';

export interface PreparedBalanceSettlement {
  leg_id: string | null;
  amount_sats: number;
  amount_fiat_cents: number;
  reason?: string;
}

/** sats for `cents` at `rate` sats per fiat unit: floor(cents × rate / 100), exact. */
export function satsForCents(cents: number, rate: string): number {
  return Number(mulDivFloor(BigInt(cents), parseRate(rate), 100n * RATE_SCALE));
}

export function createBalanceSettlementActivities(deps: ActivityDeps) {
  const { pool } = deps;

  /**
   * Operator balance settle: reserves part or all of an LP's remaining fiat as one
   * `settlement` leg (pending, so it counts against the balance at once), under the
   * machine lock. Idempotent on the leg id chosen by the workflow.
   */
  async function prepareBalanceSettlement(input: {
    leg_id: string;
    client_id: string;
    operator_user_id: string;
    exchange_rate: string;
    fiat_amount_cents?: number;
  }): Promise<PreparedBalanceSettlement> {
    return withTransaction(pool, async (c) => {
      const existing = await getLeg(c, input.leg_id);
      if (existing) {
        return {
          leg_id: existing.id,
          amount_sats: existing.amount_sats,
          amount_fiat_cents: parseCents(existing.amount_fiat),
        };
      }
      const enrolment = await enrolmentForSettle(c, input.client_id);
      if (!enrolment || enrolment.operator_user_id !== input.operator_user_id) {
        throw ApplicationFailure.create({
          message: `enrolment ${input.client_id} not found`,
          type: 'NotFound',
          nonRetryable: true,
        });
      }
      await lockMachine(c, enrolment.machine_id);
      const remaining = await remainingCents(c, input.client_id);
      const cents = input.fiat_amount_cents ?? remaining;
      if (cents <= 0 || remaining <= 0)
        return { leg_id: null, amount_sats: 0, amount_fiat_cents: 0, reason: 'nothing left to settle' };
      if (cents > remaining) {
        return {
          leg_id: null,
          amount_sats: 0,
          amount_fiat_cents: cents,
          reason: `only ${formatCents(remaining)} remains`,
        };
      }
      const sats = satsForCents(cents, input.exchange_rate);
      if (sats <= 0)
        return { leg_id: null, amount_sats: 0, amount_fiat_cents: cents, reason: 'below 1 sat at this rate' };
      const lp = (await lpDestinations(c, [input.client_id])).get(input.client_id);
      if (!lp)
        return {
          leg_id: null,
          amount_sats: 0,
          amount_fiat_cents: cents,
          reason: 'the LP has not onboarded (no payout wallet)',
        };
      await insertLegs(c, [
        {
          id: input.leg_id,
          settlement_id: null,
          client_id: input.client_id,
          machine_id: enrolment.machine_id,
          operator_user_id: enrolment.operator_user_id,
          leg_type: 'settlement',
          label: 'balance settlement',
          source_wallet_id: enrolment.wallet_id,
          destination_wallet_id: lp.dca_wallet_id,
          destination_ln_address: null,
          amount_sats: sats,
          amount_fiat: formatCents(cents),
          exchange_rate: input.exchange_rate,
          transaction_time: new Date(),
          status: 'pending',
          error_message: null,
          parent_leg_id: null,
          replaces_leg_id: null,
          sort_order: 0,
        },
      ]);
      return { leg_id: input.leg_id, amount_sats: sats, amount_fiat_cents: cents };
    });
  }

  return { prepareBalanceSettlement };
}
