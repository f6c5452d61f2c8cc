/**
 * What the activities hand the workflows: the DTOs a workflow reads (by `import type`).
 * Plain data only: every value here is recorded in the workflow's history.
 */
import type { PaymentObservedSignal, SettlementStatus } from '../contract';
import type { SettlementEventContent, SettlementSummary } from '../domain/settlementEvent';
import type { LegRunAs } from './legExecution';

export interface MachineInfo {
  id: string;
  operator_user_id: string;
  name: string;
  npub_prefix: string;
  distribution_delay_seconds: number;
}

/**
 * What the payment decides among every candidate event and payment observation a
 * settlement has received (docs/settlement.md §4.2). Only the chosen machine's data
 * comes back: nothing of another machine's event reaches the workflow.
 */
export type PaymentAttribution =
  | {
      kind: 'matched';
      machine: MachineInfo;
      /** the event's type and amounts; the decrypted content never comes back (the activity re-opens the event) */
      summary: SettlementSummary;
      /** histories recorded before the summary: the whole decrypted content */
      content?: SettlementEventContent;
      event_id: string;
      event_created_at: number;
      payment: PaymentObservedSignal;
    }
  | {
      kind: 'rejected';
      machine: MachineInfo;
      reason: string;
      /** null when the machine's own event could not be opened */
      summary: SettlementSummary | null;
      /** histories recorded before the summary */
      content?: SettlementEventContent | null;
      event_id: string;
      event_created_at: number;
      payment: PaymentObservedSignal;
    }
  | {
      kind: 'waiting';
      /** the observation a stuck row or a force-reset is filed under (a machine's wallet), if any */
      payment: PaymentObservedSignal | null;
      /** what is missing, for the stuck row: `waiting for <missing> since …` */
      missing: string;
    };

/** `content` only in histories recorded before the summary (docs/settlement.md §4.3). */
export type AttributionResult =
  | { ok: true; machine: MachineInfo; summary: SettlementSummary; content?: SettlementEventContent }
  | {
      ok: false;
      reason: string;
      machine: MachineInfo | null;
      summary: SettlementSummary | null;
      content?: SettlementEventContent | null;
    };

export interface RecordedSettlement {
  settlement_id: string;
  status: SettlementStatus;
  /** true when the row already existed in a final state (a replayed payment) */
  already_final: boolean;
}

export interface PlanSummary {
  /** legs a payment round will pay (pending) */
  payable: number;
  /** sort-order ranges of at most `page_size` chains each, for batching */
  pages: { from: number; to: number }[];
  hold_seconds: number;
}

/** Where a settlement stands, for a fresh run of its closed workflow (resume mode). */
export interface ResumeState {
  settlement_id: string;
  status: SettlementStatus;
  /** the ATM event's amounts are recorded (false: it closed while waiting for its signals) */
  has_amounts: boolean;
  tx_type: 'cash_out' | 'cash_in' | null;
  fiat_cents: number;
  any_completed: boolean;
  /** a partial dispense was applied (refund_sats > 0) */
  partial: boolean;
  /** a payment round had started (processing_started_at) */
  started_paying: boolean;
  /** the pending legs (hold 0: a resumed run never holds again) */
  plan: PlanSummary;
  machine: MachineInfo | null;
}

export interface RoundOutcome {
  status: SettlementStatus;
  error_message: string | null;
  completed: number;
  failed: number;
  pending: number;
}

/** What a workflow needs to pay one leg and to describe it in the UI. */
export interface LegTask {
  id: string;
  leg_type: string;
  amount_sats: number;
  label: string | null;
  destination: string;
  parent_leg_id: string | null;
  /** how its payLeg runs (./legExecution); absent in results recorded before it existed: `activity` */
  run_as?: LegRunAs;
}
