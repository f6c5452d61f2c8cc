/**
 * The contract shared by the API, the ingest and the workflows: workflow names and
 * ids, signal / update / query definitions, search attribute keys and payloads.
 * Safe to import anywhere (no I/O, deterministic).
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const DEFAULT_TASK_QUEUE = 'satmachine-settlements';

export const settlementWorkflowId = (paymentHash: string): string => `settlement-${paymentHash}`;
export const balanceSettlementWorkflowId = (clientId: string, requestId: string): string =>
  `balance-settlement-${clientId}-${requestId}`;

export const SETTLEMENT_WORKFLOW = 'settlementWorkflow';
export const BALANCE_SETTLEMENT_WORKFLOW = 'balanceSettlementWorkflow';

/** A signed Nostr event as received from a relay (content still encrypted). */
export interface SignedEvent {
  id: string;
  pubkey: string;
  created_at: number;
  kind: number;
  tags: string[][];
  content: string;
  sig: string;
}

/** `atmEvent`: a kind-21000 settlement event, verified and forwarded by the ingest. */
export interface AtmEventSignal {
  event: SignedEvent;
  /** the relay it came from (diagnostics) */
  relay?: string;
}

export type PaymentDirection = 'incoming' | 'outgoing';

/**
 * `paymentObserved`: a Lightning payment seen on a machine wallet by the payment backend.
 * One payment can be seen on two machine wallets (machine B pays machine A's invoice:
 * outgoing on B, incoming on A); each observation is its own signal.
 */
export interface PaymentObservedSignal {
  wallet_id: string;
  payment_hash: string;
  amount_sats: number;
  direction: PaymentDirection;
}

export interface SettlementWorkflowInput {
  payment_hash: string;
  /** how long before a settlement that waits or pays counts as stuck (default 30 min) */
  stuck_after_ms?: number;
  /**
   * A fresh run for a settlement whose workflow closed (terminated, timed out, …),
   * started by the API with an operator action: it loads the settlement's state from
   * the database and handles the action as the original run would (docs/settlement.md §7.1).
   */
  resume?: boolean;
  /** how long a decision on an outgoing payment (cash-in) waits for a payee's observation (default 10 s) */
  cash_in_grace_ms?: number;
}

export type SettlementStatus =
  'pending' | 'processing' | 'processed' | 'partial' | 'refunded' | 'errored' | 'rejected';

/** Values of the SettlementStatus search attribute: the DB statuses plus the two stuck states. */
export type SettlementSearchStatus = SettlementStatus | 'stuck_pending' | 'stuck_processing';

export interface OperatorActor {
  /** the user who acts (recorded in notes) */
  user_id: string;
}

export interface PartialDispenseRequest extends OperatorActor {
  /** the fiat actually dispensed, in cents */
  fiat_amount_cents: number;
  note: string;
}

export interface VoidFailedLegsRequest extends OperatorActor {
  /** why the failed legs are given up (recorded on each leg and in the notes) */
  note: string;
}

export interface CloseRequest extends OperatorActor {
  /** why the operator closes it (no money arrived for it); recorded in the row and the notes */
  note: string;
}

export interface AddNoteRequest extends OperatorActor {
  text: string;
}

/** What the workflow answers to an update: where the settlement stands now. */
export interface SettlementActionResult {
  settlement_id: string | null;
  status: SettlementStatus;
  phase: SettlementPhase;
  message: string;
}

export type SettlementPhase =
  'awaiting_signals' | 'verifying' | 'holding' | 'paying' | 'awaiting_operator' | 'done';

export interface SettlementWorkflowState {
  payment_hash: string;
  settlement_id: string | null;
  phase: SettlementPhase;
  status: SettlementStatus;
  stuck: boolean;
  has_atm_event: boolean;
  has_payment: boolean;
  hold_until: string | null;
  rounds: number;
  /** distinct ATM events kept as candidates (one per signer, at most 8); absent in older workflows */
  candidate_events?: number;
  /** distinct payment observations kept (one per wallet and direction, at most 8) */
  payment_observations?: number;
  /** ATM events dropped: over the bound, or a second event of one signer */
  dropped_events?: number;
  /** payment observations dropped over the bound */
  dropped_payments?: number;
}

// Signals that feed a settlement (ingest, payment listener)
export const atmEventSignal = defineSignal<[AtmEventSignal]>('atmEvent');
export const paymentObservedSignal = defineSignal<[PaymentObservedSignal]>('paymentObserved');

// Operator actions: each is an Update (validated, answered) and a Signal of the same
// name and payload (for the Temporal UI / CLI), sharing one handler.
export const retryUpdate = defineUpdate<SettlementActionResult, [OperatorActor]>('retry');
export const retrySignal = defineSignal<[OperatorActor]>('retry');
export const forceResetUpdate = defineUpdate<SettlementActionResult, [OperatorActor]>('forceReset');
export const forceResetSignal = defineSignal<[OperatorActor]>('forceReset');
export const partialDispenseUpdate = defineUpdate<SettlementActionResult, [PartialDispenseRequest]>(
  'partialDispense',
);
export const partialDispenseSignal = defineSignal<[PartialDispenseRequest]>('partialDispense');
export const voidFailedLegsUpdate = defineUpdate<SettlementActionResult, [VoidFailedLegsRequest]>(
  'voidFailedLegs',
);
export const voidFailedLegsSignal = defineSignal<[VoidFailedLegsRequest]>('voidFailedLegs');
// close for good a settlement that never got its ATM event's amounts (rejected, final)
export const closeUpdate = defineUpdate<SettlementActionResult, [CloseRequest]>('close');
export const closeSignal = defineSignal<[CloseRequest]>('close');
export const addNoteUpdate = defineUpdate<SettlementActionResult, [AddNoteRequest]>('addNote');
export const addNoteSignal = defineSignal<[AddNoteRequest]>('addNote');

export const stateQuery = defineQuery<SettlementWorkflowState>('state');

// Search attributes (registered on the dev server by `satmachine start` and the tests)
export const SA_SETTLEMENT_STATUS = defineSearchAttributeKey('SettlementStatus', SearchAttributeType.KEYWORD);
export const SA_MACHINE_ID = defineSearchAttributeKey('MachineId', SearchAttributeType.KEYWORD);
export const SA_OPERATOR_ID = defineSearchAttributeKey('OperatorId', SearchAttributeType.KEYWORD);
export const SA_TX_TYPE = defineSearchAttributeKey('TxType', SearchAttributeType.KEYWORD);
export const SEARCH_ATTRIBUTES = [SA_SETTLEMENT_STATUS, SA_MACHINE_ID, SA_OPERATOR_ID, SA_TX_TYPE];

/** Balance settle: pay an LP part or all of its remaining fiat in sats. */
export interface BalanceSettlementInput {
  client_id: string;
  operator_user_id: string;
  /** sats per fiat unit, as a decimal string */
  exchange_rate: string;
  /** cents; absent = everything that remains */
  fiat_amount_cents?: number;
}

export interface BalanceSettlementResult {
  leg_id: string | null;
  status: 'completed' | 'failed' | 'nothing_to_settle';
  amount_sats: number;
  amount_fiat_cents: number;
  error?: string;
}

/** Kinds and d-tags of the machine protocol (docs/protocol.md). */
export const KIND_SETTLEMENT = 21000;
export const KIND_APP_DATA = 30078;
export const KIND_TELEMETRY = 30079;
export const D_BEACON = 'bitspire-beacon';
export const D_TELEMETRY = 'bitspire-telemetry';
export const D_CASSETTES_STATE_PREFIX = 'bitspire-cassettes-state:';
export const D_CASSETTES_PREFIX = 'bitspire-cassettes:';

/**
 * The `type` of every ApplicationFailure an activity or a workflow throws on purpose:
 * what a workflow, the API or an operator can tell apart. Recorded in histories, so
 * a value never changes (add a new one instead).
 */
export const FailureType = {
  /** the payment backend refused a leg's payment for good (details[0]: its code) */
  PaymentRefused: 'PaymentRefused',
  /** an operator action waits: a leg's payment may still complete */
  PaymentInFlight: 'PaymentInFlight',
  /** the settlement (or the row an action names) does not exist */
  NotFound: 'NotFound',
  /** the settlement is not in a state that allows the action */
  InvalidState: 'InvalidState',
  /** the database or the money math refused a value: the same input fails on every retry */
  InvalidData: 'InvalidData',
  /** another operator's registration of the machine key was proven first */
  MachineKeyUnproven: 'MachineKeyUnproven',
} as const;
export type FailureType = (typeof FailureType)[keyof typeof FailureType];

/**
 * The innermost message of a failure chain (WorkflowUpdateFailedError / ActivityFailure →
 * ApplicationFailure → …): the words of whoever refused first. Deterministic (safe in workflows).
 */
/**
 * The message of a failure's direct cause (an ActivityFailure's ApplicationFailure: the
 * activity's own words), else its own message: what a failed leg records.
 */
export function causeMessage(err: unknown): string {
  const e = err as { cause?: { message?: string }; message?: string };
  return e.cause?.message ?? e.message ?? String(err);
}

export function innermostMessage(err: unknown): string {
  let e = err as { message?: string; cause?: unknown } | undefined;
  let message = e?.message ?? String(err);
  while (e?.cause) {
    e = e.cause;
    if (e.message) message = e.message;
  }
  return message;
}
