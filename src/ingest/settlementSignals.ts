import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import {
  SA_SETTLEMENT_STATUS,
  SETTLEMENT_WORKFLOW,
  atmEventSignal,
  paymentObservedSignal,
  settlementWorkflowId,
  type AtmEventSignal,
  type PaymentObservedSignal,
  type SettlementWorkflowInput,
} from '../contract';

export type SignalOutcome = 'signalled' | 'already_closed';

/**
 * Feeds a settlement workflow with signalWithStart: whichever of the ATM event and
 * the payment comes first starts it. The workflow id is the payment hash, so
 * replicas and re-deliveries converge on one workflow; a closed one is never
 * started again (REJECT_DUPLICATE).
 */
export class SettlementSignals {
  constructor(
    private readonly client: Client,
    private readonly taskQueue: string,
    private readonly stuckAfterMs?: number,
  ) {}

  private options(paymentHash: string) {
    const args: [SettlementWorkflowInput] = [
      { payment_hash: paymentHash, ...(this.stuckAfterMs ? { stuck_after_ms: this.stuckAfterMs } : {}) },
    ];
    return {
      workflowId: settlementWorkflowId(paymentHash),
      taskQueue: this.taskQueue,
      args,
      workflowIdReusePolicy: 'REJECT_DUPLICATE' as const,
      typedSearchAttributes: [{ key: SA_SETTLEMENT_STATUS, value: 'pending' }],
      staticSummary: `settlement of payment ${paymentHash.slice(0, 16)}…`,
    };
  }

  async atmEvent(paymentHash: string, signal: AtmEventSignal): Promise<SignalOutcome> {
    try {
      await this.client.workflow.signalWithStart(SETTLEMENT_WORKFLOW, {
        ...this.options(paymentHash),
        signal: atmEventSignal,
        signalArgs: [signal],
      });
      return 'signalled';
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) return 'already_closed';
      throw err;
    }
  }

  async paymentObserved(p: PaymentObservedSignal): Promise<SignalOutcome> {
    try {
      await this.client.workflow.signalWithStart(SETTLEMENT_WORKFLOW, {
        ...this.options(p.payment_hash),
        signal: paymentObservedSignal,
        signalArgs: [p],
      });
      return 'signalled';
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) return 'already_closed';
      throw err;
    }
  }
}
