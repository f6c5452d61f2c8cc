import type { Client, WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { settlementWorkflowId } from '../../src/contract';

type History = Awaited<ReturnType<WorkflowHandle['fetchHistory']>>;
type HistoryEvent = NonNullable<History['events']>[number];

/** One payLeg execution as a workflow history shows it. */
export interface PayLegRun {
  kind: 'local' | 'activity';
  /** the summary the Temporal UI shows (`dca 12,345 sats → lp alice`) */
  summary: string | null;
  /** attempt of the recorded outcome */
  attempt: number;
}

const summaryOf = (e: HistoryEvent): string | null => {
  const p = e.userMetadata?.summary;
  return p ? defaultPayloadConverter.fromPayload<string>(p) : null;
};

/**
 * Every payLeg of a history: normal activities (ActivityTaskScheduled) and local ones
 * (the `core_local_activity` marker the SDK records for each local activity's outcome).
 */
export function payLegRuns(events: readonly HistoryEvent[]): PayLegRun[] {
  const runs: PayLegRun[] = [];
  const scheduled = new Map<string, PayLegRun>();
  for (const e of events) {
    const act = e.activityTaskScheduledEventAttributes;
    if (act?.activityType?.name === 'payLeg') {
      const run: PayLegRun = { kind: 'activity', summary: summaryOf(e), attempt: 0 };
      scheduled.set(String(e.eventId), run);
      runs.push(run);
    }
    const started = e.activityTaskStartedEventAttributes;
    if (started) {
      const run = scheduled.get(String(started.scheduledEventId));
      if (run) run.attempt = started.attempt ?? 0;
    }
    const marker = e.markerRecordedEventAttributes;
    if (marker?.markerName === 'core_local_activity') {
      const data = marker.details?.data?.payloads?.[0];
      const meta = data
        ? defaultPayloadConverter.fromPayload<{ activity_type?: string; attempt?: number }>(data)
        : {};
      if (meta.activity_type === 'payLeg')
        runs.push({ kind: 'local', summary: summaryOf(e), attempt: meta.attempt ?? 0 });
    }
  }
  return runs;
}

/** The payLeg runs of a settlement's workflow (and of none of its children). */
export async function settlementPayLegRuns(client: Client, paymentHash: string): Promise<PayLegRun[]> {
  const history = await client.workflow.getHandle(settlementWorkflowId(paymentHash)).fetchHistory();
  return payLegRuns(history.events ?? []);
}
