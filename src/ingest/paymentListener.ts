import { getActiveMachineByWallet } from '../db/machines';
import type { Pool } from '../db/pool';
import type { Logger } from '../logger';
import { paymentsObserved } from '../metrics/registry';
import type { PaymentBackend, PaymentObserver } from '../payments/backend';
import { isPaymentHash } from '../domain/validation';
import type { SettlementSignals } from './settlementSignals';

/**
 * Hands every Lightning payment seen on an active machine's wallet to its
 * settlement workflow (`paymentObserved`). Payments on other wallets are not ours.
 */
export function startPaymentListener(deps: {
  pool: Pool;
  payments: PaymentBackend;
  signals: SettlementSignals;
  logger: Logger;
}): PaymentObserver {
  const log = deps.logger.child({ component: 'payment-listener' });
  return deps.payments.observePayments(async (p) => {
    const machine = await getActiveMachineByWallet(deps.pool, p.wallet_id);
    if (!machine || !isPaymentHash(p.payment_hash)) {
      paymentsObserved.inc({ outcome: 'not_a_machine' });
      return;
    }
    const outcome = await deps.signals.paymentObserved(p, machine.id);
    paymentsObserved.inc({ outcome });
    log.debug({ payment_hash: p.payment_hash, machine_id: machine.id, outcome }, 'payment observed');
  });
}
