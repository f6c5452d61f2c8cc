import { ApplicationFailure, Context } from '@temporalio/activity';
import { FailureType } from '../contract';
import { getMachine } from '../db/machines';
import { completeLeg, failPendingLeg, getLeg } from '../db/legs';
import { withTransaction } from '../db/pool';
import { PaymentRefusedError } from '../payments/backend';
import type { ActivityDeps } from './deps';
import { legPaymentSeconds, legsPaid } from '../metrics/registry';

export interface PayLegResult {
  status: 'completed' | 'failed' | 'voided' | 'skipped' | 'missing';
  payment_hash?: string;
}

export function createPaymentActivities(deps: ActivityDeps) {
  const { pool, payments } = deps;
  const log = deps.logger.child({ component: 'payments' });

  /**
   * Pays one leg, exactly once. The leg row stays locked while the backend pays,
   * so a force-reset or a retry can never see it half-done; the backend call
   * carries the leg id as idempotency key, so a retried or replayed activity (or
   * one that crashed after paying) gets the first payment back and moves nothing.
   * A refusal fails the leg at once (non-retryable); anything else is retried.
   * The backend gets the leg's connection: the ledger makes its transfer in the
   * leg's transaction, so a payment holds one connection, never waits for a second.
   * Runs as a local activity for a backend that pays in the database, as a normal
   * one otherwise (./legExecution): the same code, the same idempotency key.
   */
  async function payLeg(input: { leg_id: string }): Promise<PayLegResult> {
    const ctx = Context.current();
    const started = process.hrtime.bigint();
    // a normal activity heartbeats while the backend pays; a local one (a ledger leg,
    // one short transaction) cannot, and needs not: the workflow task waits for it
    const beat = ctx.info.isLocal ? undefined : setInterval(() => ctx.heartbeat(), 2000);
    let outcome;
    let legType = 'unknown';
    let paid = false;
    try {
      outcome = await withTransaction(pool, async (c) => {
        const leg = await getLeg(c, input.leg_id, true);
        if (!leg) return { status: 'missing' as const };
        legType = leg.leg_type;
        if (leg.status === 'completed')
          return { status: 'completed' as const, payment_hash: leg.external_payment_hash ?? '' };
        if (leg.status !== 'pending') return { status: leg.status };
        if (leg.amount_sats <= 0) {
          await failPendingLeg(c, leg.id, 'a leg of 0 sats cannot be paid');
          return { status: 'failed' as const, refused: 'a leg of 0 sats cannot be paid' };
        }
        const source = leg.source_wallet_id ?? (await getMachine(c, leg.machine_id))!.wallet_id;
        try {
          let result;
          if (leg.destination_ln_address) {
            result = await payments.payLightningAddress({
              idempotencyKey: leg.id,
              fromWalletId: source,
              address: leg.destination_ln_address,
              amountSats: leg.amount_sats,
              comment: `satmachine ${leg.leg_type}`,
              db: c,
            });
          } else if (leg.destination_wallet_id) {
            result = await payments.payWallet({
              idempotencyKey: leg.id,
              fromWalletId: source,
              toWalletId: leg.destination_wallet_id,
              amountSats: leg.amount_sats,
              memo: `satmachine ${leg.leg_type} ${leg.settlement_id ?? ''}`.trim(),
              db: c,
            });
          } else {
            throw new PaymentRefusedError(
              leg.leg_type === 'super_fee'
                ? 'no destination: the platform has no super_wallet_id configured (set it in the super config, then retry)'
                : 'no destination wallet or Lightning address on this leg',
              'no_destination',
            );
          }
          await completeLeg(c, leg.id, result.paymentHash);
          paid = true;
          return { status: 'completed' as const, payment_hash: result.paymentHash };
        } catch (err) {
          if (err instanceof PaymentRefusedError) {
            await failPendingLeg(c, leg.id, err.message);
            return { status: 'failed' as const, refused: err.message, code: err.code };
          }
          throw err;
        }
      });
    } finally {
      if (beat) clearInterval(beat);
    }
    if (paid || 'refused' in outcome) {
      legsPaid.inc({ leg_type: legType, outcome: paid ? 'completed' : 'failed' });
      legPaymentSeconds.observe({ leg_type: legType }, Number(process.hrtime.bigint() - started) / 1e9);
    }
    if ('refused' in outcome) {
      log.warn({ leg_id: input.leg_id, reason: outcome.refused }, 'leg payment refused');
      throw ApplicationFailure.create({
        message: outcome.refused,
        type: FailureType.PaymentRefused,
        nonRetryable: true,
        details: ['code' in outcome ? outcome.code : 'refused'],
      });
    }
    if (outcome.status === 'completed') {
      const attempt = Context.current().info.attempt;
      if (attempt > 1) log.info({ leg_id: input.leg_id, attempt }, 'leg paid after a retry');
    }
    return outcome;
  }

  return { payLeg };
}
