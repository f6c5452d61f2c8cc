// The workflows registered on the worker (bundled for the Temporal sandbox).
export { settlementWorkflow } from './settlement';
export { legBatchWorkflow } from './legBatch';
export { balanceSettlementWorkflow } from './balanceSettlement';
export { alertEvaluatorWorkflow } from './alerts/evaluator';
export { alertWorkflow } from './alerts/alert';
