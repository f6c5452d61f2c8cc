import type { ActivityDeps } from './deps';
import { createLegActivities } from './legs';
import { createPaymentActivities } from './payments';
import { createAttributionActivities } from './attribution';
import { createSettlementRecordActivities } from './settlementRecords';
import { createRoundLifecycleActivities } from './roundLifecycle';
import { createOperatorActionActivities } from './operatorActions';
import { createPartialDispenseActivities } from './partialDispense';
import { createBalanceSettlementActivities } from './balanceSettlement';
import { withDbErrorClassification } from './pgErrors';
import { createAlertActivities } from './alerts';

export type { ActivityDeps, AlertDeliveryConfig } from './deps';

/** Every activity of the worker, bound to its dependencies. */
export function createActivities(deps: ActivityDeps) {
  return withDbErrorClassification({
    ...createAttributionActivities(deps),
    ...createSettlementRecordActivities(deps),
    ...createRoundLifecycleActivities(deps),
    ...createOperatorActionActivities(deps),
    ...createPartialDispenseActivities(deps),
    ...createLegActivities(deps),
    ...createPaymentActivities(deps),
    ...createBalanceSettlementActivities(deps),
    ...createAlertActivities(deps),
  });
}

export type Activities = ReturnType<typeof createActivities>;
