import { ApplicationFailure, Context } from '@temporalio/activity';
import { FailureType } from '../contract';
import { getMachine } from '../db/machines';
import { completeLeg, failPendingLeg, getLeg } from '../db/legs';
import { withTransaction } from '../db/pool';
import { PaymentRefusedError, noDestinationRefusal, zeroAmountRefusal } from '../payments/backend';
import type { ActivityDeps } from './deps';
import { legPaymentSeconds, legsPaid } from '../metrics/registry';

export interface PayLegResult {
  status: 'completed' | 'failed' | 'voided' | 'skipped' | 'missing';
  payment_hash?: string;
}

type LegOutcome =
  | { status: PayLegResult['status']; payment_hash?: string; legType: string; paid: boolean }
  | { status: 'failed'; refused: string; code: string; legType: string; paid: false };

export function createPaymentActivities(deps: ActivityDeps) {
  const { pool, payments } = deps;
  const log = deps.logger.child({ component: 'payments' });

  /**
   * A backend whose books are this PostgreSQL (the ledger) pays the leg whole in one
   * statement: the same lock, checks, key and completion as below, one round trip. A
   * refusal leaves the leg pending; it is failed here, only while still pending.
   */
  const payLegInDatabase = payments.payLegInDatabase?.bind(payments);
  async function payInOneStatement(
    legId: string,
    pay: NonNullable<typeof payLegInDatabase>,
  ): Promise<LegOutcome> {
    const r = await pay(legId);
    switch (r.kind) {
      case 'missing':
        return { status: 'missing', legType: 'unknown', paid: false };
      case 'settled':
        return { status: r.status, payment_hash: r.paymentHash, legType: r.legType, paid: false };
      case 'paid':
        return { status: 'completed', payment_hash: r.paymentHash, legType: r.legType, paid: true };
      case 'refused':
        await failPendingLeg(pool, legId, r.error.message);
        return {
          status: 'failed',
          refused: r.error.message,
          code: r.error.code,
          legType: r.legType,
          paid: false,
        };
    }
  }

  /**
   * Any other backend: the leg row stays locked in a transaction while the backend
   * pays (LNbits commits its own records first and ignores the connection).
   */
  async function payInTransaction(legId: string): Promise<LegOutcome> {
    let legType = 'unknown';
    let paid = false;
    const outcome = await withTransaction(pool, async (c) => {
      const leg = await getLeg(c, legId, true);
      if (!leg) return { status: 'missing' as const };
      legType = leg.leg_type;
      if (leg.status === 'completed')
        return { status: 'completed' as const, payment_hash: leg.external_payment_hash ?? '' };
      if (leg.status !== 'pending') return { status: leg.status };
      if (leg.amount_sats <= 0) {
        const refusal = zeroAmountRefusal();
        await failPendingLeg(c, leg.id, refusal.message);
        return { status: 'failed' as const, refused: refusal.message, code: refusal.code };
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
          throw noDestinationRefusal(leg.leg_type);
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
    return { ...outcome, legType, paid };
  }

  /**
   * Pays one leg, exactly once: in one statement when the backend keeps its books in
   * this PostgreSQL (the ledger), else in a transaction. The leg row stays locked while the backend pays,
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
    let outcome: LegOutcome;
    try {
      outcome = payLegInDatabase
        ? await payInOneStatement(input.leg_id, payLegInDatabase)
        : await payInTransaction(input.leg_id);
    } finally {
      if (beat) clearInterval(beat);
    }
    const { legType, paid } = outcome;
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
        details: [outcome.code],
      });
    }
    if (outcome.status === 'completed') {
      const attempt = Context.current().info.attempt;
      if (attempt > 1) log.info({ leg_id: input.leg_id, attempt }, 'leg paid after a retry');
    }
    return outcome.payment_hash === undefined
      ? { status: outcome.status }
      : { status: outcome.status, payment_hash: outcome.payment_hash };
  }

  return { payLeg };
}
