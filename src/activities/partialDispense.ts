import { FailureType, type SettlementStatus } from '../contract';
import { formatCents, parseCents, parsePpm } from '../domain/decimal';
import { splitFees } from '../domain/feeSplit';
import { scalePartialDispense } from '../domain/partialDispense';
import { formatNote } from '../domain/notes';
import { getMachine } from '../db/machines';
import { withTransaction } from '../db/pool';
import {
  applyPartialDispensePatch,
  getSettlement,
  prependNote,
  setSettlementStatus,
} from '../db/settlements';
import { countCompletedLegs, lockLegsInStatus, markLegPaid, voidLegs } from '../db/legs';
import { settlementsConcluded } from '../metrics/registry';
import type { ActivityDeps } from './deps';
import { notRetryable } from './failures';
import { lookupLegPayment, paymentInFlight } from './legPaymentLookup';
import { planAndInsertLegsIn, planSummary } from './legPlanning';
import type { PlanSummary } from './types';

/** Partial dispense (cash-out): the machine paid out less fiat than its event said. */
export function createPartialDispenseActivities(deps: ActivityDeps) {
  const { pool } = deps;

  /**
   * Partial dispense (cash-out): the machine dispensed less fiat than the event
   * said. Amounts scale by new/old, the split runs again, open legs are voided and
   * new ones planned; `refund_sats` is what is owed back to the customer.
   */
  async function applyPartialDispense(input: {
    settlement_id: string;
    fiat_amount_cents: number;
    note: string;
    user_id: string;
    page_size: number;
  }): Promise<{ status: SettlementStatus; plan: PlanSummary | null; refund_sats: number }> {
    // a failed leg may have paid after all (an ambiguous failure, a force-reset mid-payment): ask first
    await withTransaction(pool, async (c) => {
      for (const leg of await lockLegsInStatus(c, input.settlement_id, 'failed')) {
        const { paid, inFlight } = await lookupLegPayment(deps.payments, leg.id, c);
        if (inFlight)
          throw paymentInFlight(leg.id, inFlight, 'the amounts can change only once it has settled');
        if (paid) await markLegPaid(c, leg.id, paid.paymentHash);
      }
    });
    return withTransaction(pool, async (c) => {
      const s = await getSettlement(c, input.settlement_id, true);
      if (!s) throw notRetryable(`settlement ${input.settlement_id} not found`, FailureType.NotFound);
      if (s.fiat_amount !== null && parseCents(s.fiat_amount) === input.fiat_amount_cents) {
        // this partial dispense, committed before (a re-run after a lost result): the same answer
        return s.status === 'refunded'
          ? { status: 'refunded' as SettlementStatus, plan: null, refund_sats: s.refund_sats }
          : {
              status: 'processing' as SettlementStatus,
              plan: await planSummary(
                c,
                s.id,
                (await getMachine(c, s.machine_id))!.distribution_delay_seconds,
                input.page_size,
              ),
              refund_sats: s.refund_sats,
            };
      }
      if (s.tx_type !== 'cash_out')
        throw notRetryable('partial dispense applies to cash-out settlements only', FailureType.InvalidState);
      if (await countCompletedLegs(c, s.id)) {
        throw notRetryable(
          'a leg is already paid: Lightning payments cannot be clawed back, so the amounts can no longer change',
          FailureType.InvalidState,
        );
      }
      const oldCents = parseCents(s.fiat_amount!);
      const scaled = scalePartialDispense({
        oldFiatCents: oldCents,
        newFiatCents: input.fiat_amount_cents,
        oldWireSats: s.wire_sats!,
        oldFeeSats: s.fee_sats!,
      });
      const split = splitFees({
        txType: 'cash_out',
        wireSats: scaled.wireSats,
        feeSats: scaled.feeSats,
        platformFractionPpm: parsePpm(s.platform_fee_fraction ?? '0'),
        operatorFractionPpm: parsePpm(s.operator_fee_fraction ?? '0'),
      });
      await voidLegs(c, s.id, ['pending', 'failed', 'skipped']);
      const refund = s.wire_sats! - scaled.wireSats + s.refund_sats;
      await applyPartialDispensePatch(c, s.id, {
        wire_sats: scaled.wireSats,
        fee_sats: scaled.feeSats,
        principal_sats: split.principalSats,
        platform_fee_sats: split.platformFeeSats,
        operator_fee_sats: split.operatorFeeSats,
        fee_mismatch_sats: split.feeMismatchSats,
        fiat_amount: formatCents(input.fiat_amount_cents),
        refund_sats: refund,
      });
      await prependNote(
        c,
        s.id,
        formatNote(
          new Date(),
          input.user_id,
          `partial dispense: ${formatCents(oldCents)} → ${formatCents(input.fiat_amount_cents)} ${s.fiat_code ?? ''}; ` +
            `wire ${s.wire_sats} → ${scaled.wireSats} sats, refund ${refund} sats. ${input.note}`.trim(),
        ),
      );
      if (input.fiat_amount_cents === 0) {
        await setSettlementStatus(c, s.id, 'refunded', null);
        settlementsConcluded.inc({ status: 'refunded' });
        return { status: 'refunded' as SettlementStatus, plan: null, refund_sats: refund };
      }
      const plan = await planAndInsertLegsIn(c, s.id, input.page_size); // → processing
      return { status: 'processing' as SettlementStatus, plan, refund_sats: refund };
    });
  }

  return { applyPartialDispense };
}
