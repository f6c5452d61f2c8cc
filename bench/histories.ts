/**
 * What a settlement costs Temporal, read from the workflow histories of a sample: events,
 * workflow tasks, activities (normal and local, by type), signals, timers, search-attribute
 * upserts, children; the time of each phase (signals in, planned, paid, concluded); and the
 * shape the engine baseline mirrors (bench/engine/workflow.ts).
 */
import type { Client } from '@temporalio/client';
import type { ActivityKind, EngineShape } from './engine/workflow';
import { percentile } from './procStats';

export interface ActivityRun {
  type: string;
  kind: ActivityKind;
  /** completion time (local: the marker; normal: the completion event) */
  at: number;
}

export interface WorkflowTrace {
  workflow_id: string;
  events: number;
  workflow_tasks: number;
  signals: number[];
  timers: number;
  upserts: number;
  children: number;
  activities: ActivityRun[];
  max_normal_in_flight: number;
  closed_at: number | null;
  /**
   * Temporal Cloud Actions this history bills, by docs.temporal.io/cloud/actions: the start
   * (a signal-with-start is one Action with its signal), each other signal, each search-attribute
   * upsert, each timer, each activity attempt, one per workflow task that recorded local
   * activities, two per child workflow, one per accepted update. Queries are not in a history.
   */
  cloud_actions: number;
}

type Ev = Record<string, any>;

function time(ts: { seconds?: unknown; nanos?: number | null } | null | undefined): number {
  if (!ts) return 0;
  const s = ts.seconds as number | { toNumber(): number } | undefined;
  const secs = typeof s === 'object' && s !== null ? s.toNumber() : Number(s ?? 0);
  return secs * 1000 + (ts.nanos ?? 0) / 1e6;
}

function localActivityType(e: Ev): string {
  const payload = e.markerRecordedEventAttributes?.details?.data?.payloads?.[0];
  if (!payload?.data) return '?';
  try {
    const d = JSON.parse(Buffer.from(payload.data as Uint8Array).toString('utf8'));
    return String(d.activity_type ?? d.activityType ?? '?');
  } catch {
    return '?';
  }
}

/** One workflow's history, its children's folded in (their events and activities count). */
export async function traceWorkflow(client: Client, workflowId: string): Promise<WorkflowTrace> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const events = (history.events ?? []) as Ev[];
  const t: WorkflowTrace = {
    workflow_id: workflowId,
    events: events.length,
    workflow_tasks: 0,
    signals: [],
    timers: 0,
    upserts: 0,
    children: 0,
    activities: [],
    max_normal_in_flight: 0,
    closed_at: null,
    cloud_actions: 0,
  };
  // a signal-with-start: the signal is the event right after the start, billed with it
  const signalWithStart = Boolean(events[1]?.workflowExecutionSignaledEventAttributes);
  const taskWithMarkers = new Set<string>();
  let lastTaskCompleted = '';
  let activityAttempts = 0;
  let accepted = 0;
  const scheduled = new Map<string, string>();
  const childIds: string[] = [];
  let inFlight = 0;
  for (const e of events) {
    const at = time(e.eventTime);
    if (e.activityTaskStartedEventAttributes)
      activityAttempts += Number(e.activityTaskStartedEventAttributes.attempt ?? 1);
    if (e.workflowExecutionUpdateAcceptedEventAttributes) accepted++;
    if (e.markerRecordedEventAttributes?.markerName === 'core_local_activity')
      taskWithMarkers.add(lastTaskCompleted);
    if (e.workflowTaskCompletedEventAttributes) {
      t.workflow_tasks++;
      lastTaskCompleted = String(e.eventId);
    } else if (e.workflowExecutionSignaledEventAttributes) t.signals.push(at);
    else if (e.timerStartedEventAttributes) t.timers++;
    else if (e.upsertWorkflowSearchAttributesEventAttributes) t.upserts++;
    else if (e.activityTaskScheduledEventAttributes) {
      scheduled.set(String(e.eventId), e.activityTaskScheduledEventAttributes.activityType?.name ?? '?');
      t.max_normal_in_flight = Math.max(t.max_normal_in_flight, ++inFlight);
    } else if (
      e.activityTaskCompletedEventAttributes ||
      e.activityTaskFailedEventAttributes ||
      e.activityTaskTimedOutEventAttributes ||
      e.activityTaskCanceledEventAttributes
    ) {
      const a =
        e.activityTaskCompletedEventAttributes ??
        e.activityTaskFailedEventAttributes ??
        e.activityTaskTimedOutEventAttributes ??
        e.activityTaskCanceledEventAttributes;
      inFlight--;
      t.activities.push({ type: scheduled.get(String(a.scheduledEventId)) ?? '?', kind: 'normal', at });
    } else if (e.markerRecordedEventAttributes?.markerName === 'core_local_activity') {
      t.activities.push({ type: localActivityType(e), kind: 'local', at });
    } else if (e.startChildWorkflowExecutionInitiatedEventAttributes) {
      childIds.push(e.startChildWorkflowExecutionInitiatedEventAttributes.workflowId);
    } else if (e.workflowExecutionCompletedEventAttributes || e.workflowExecutionFailedEventAttributes) {
      t.closed_at = at;
    }
  }
  t.cloud_actions =
    1 +
    t.signals.length -
    (signalWithStart ? 1 : 0) +
    t.upserts +
    t.timers +
    activityAttempts +
    taskWithMarkers.size +
    2 * childIds.length +
    accepted;
  for (const id of childIds) {
    const c = await traceWorkflow(client, id);
    // the child's start is billed in the parent's two
    t.cloud_actions += c.cloud_actions - 1;
    t.children += 1 + c.children;
    t.events += c.events;
    t.workflow_tasks += c.workflow_tasks;
    t.timers += c.timers;
    t.upserts += c.upserts;
    t.activities.push(...c.activities);
    t.max_normal_in_flight = Math.max(t.max_normal_in_flight, c.max_normal_in_flight);
  }
  t.activities.sort((a, b) => a.at - b.at);
  return t;
}

const mean = (xs: number[]) =>
  xs.length ? Math.round((xs.reduce((a, b) => a + b, 0) / xs.length) * 10) / 10 : 0;
const dist = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return {
    p50: Math.round(percentile(s, 50)),
    p99: Math.round(percentile(s, 99)),
    max: Math.round(s[s.length - 1] ?? NaN),
  };
};

/** Activity types that run about once per leg: the leg payments. */
function legTypes(traces: WorkflowTrace[], legsPerSettlement: number): Set<string> {
  const counts = new Map<string, number>();
  for (const t of traces) for (const a of t.activities) counts.set(a.type, (counts.get(a.type) ?? 0) + 1);
  const out = new Set<string>();
  for (const [type, n] of counts) if (n / traces.length >= legsPerSettlement / 2) out.add(type);
  return out;
}

function split(t: WorkflowTrace, legs: Set<string>) {
  const first = t.activities.findIndex((a) => legs.has(a.type));
  if (first < 0) return { pre: t.activities, legs: [] as ActivityRun[], post: [] as ActivityRun[] };
  let last = first;
  t.activities.forEach((a, i) => legs.has(a.type) && (last = i));
  return {
    pre: t.activities.slice(0, first),
    legs: t.activities.filter((a) => legs.has(a.type)),
    // a non-leg step among the legs (a failed leg's record) is counted with the steps after them
    post: t.activities.slice(first).filter((a) => !legs.has(a.type)),
    lastLegAt: t.activities[last]!.at,
  };
}

/**
 * The settlement's shape as the engine sees it, from the most common pattern of the sample:
 * signals awaited, steps before the legs, each leg's kind, steps after.
 */
export function deriveShape(
  traces: WorkflowTrace[],
  legsPerSettlement: number,
  concurrency: number,
): {
  shape: EngineShape;
  leg_activity_types: string[];
  step_types: { pre: string[]; post: string[] };
  agreeing: string;
} {
  const legs = legTypes(traces, legsPerSettlement);
  const patterns = new Map<string, { n: number; shape: EngineShape; pre: string[]; post: string[] }>();
  for (const t of traces) {
    const s = split(t, legs);
    const shape: EngineShape = {
      signals: t.signals.filter((x) => x <= (t.activities[0]?.at ?? Infinity)).length,
      pre: s.pre.map((a) => a.kind),
      legs: s.legs.map((a) => a.kind),
      concurrency,
      post: s.post.map((a) => a.kind),
    };
    const key = JSON.stringify(shape);
    const p = patterns.get(key) ?? {
      n: 0,
      shape,
      pre: s.pre.map((a) => a.type),
      post: s.post.map((a) => a.type),
    };
    p.n++;
    patterns.set(key, p);
  }
  const best = [...patterns.values()].sort((a, b) => b.n - a.n)[0]!;
  return {
    shape: best.shape,
    leg_activity_types: [...legs],
    step_types: { pre: best.pre, post: best.post },
    agreeing: `${best.n} of ${traces.length} sampled settlements have exactly this shape`,
  };
}

/** Per-settlement Temporal cost and phase timings of a sample. */
export function summariseTraces(
  traces: WorkflowTrace[],
  legsPerSettlement: number,
  sentAt?: Map<string, { scheduled_at: number; second_signal_at: number; done_at: number | null }>,
) {
  const legs = legTypes(traces, legsPerSettlement);
  const byType: Record<string, number> = {};
  for (const t of traces)
    for (const a of t.activities) {
      const k = `${a.type} (${a.kind})`;
      byType[k] = (byType[k] ?? 0) + 1;
    }
  const phases = {
    scheduled_to_signals_in_ms: [] as number[],
    signals_in_to_planned_ms: [] as number[],
    planned_to_paid_ms: [] as number[],
    paid_to_closed_ms: [] as number[],
    /** the row says processed (concludeRound) before the workflow closes: closed − processed_at */
    processed_row_to_closed_ms: [] as number[],
  };
  for (const t of traces) {
    const s = split(t, legs);
    const signalsIn = Math.max(...t.signals.filter((x) => x <= (t.activities[0]?.at ?? Infinity)));
    const planned = s.pre.length ? s.pre[s.pre.length - 1]!.at : signalsIn;
    const paid = s.legs.length ? Math.max(...s.legs.map((a) => a.at)) : planned;
    const send = sentAt?.get(t.workflow_id.replace(/^settlement-/, ''));
    if (send) phases.scheduled_to_signals_in_ms.push(signalsIn - send.scheduled_at);
    phases.signals_in_to_planned_ms.push(planned - signalsIn);
    phases.planned_to_paid_ms.push(paid - planned);
    if (t.closed_at) phases.paid_to_closed_ms.push(t.closed_at - paid);
    if (send?.done_at && t.closed_at) phases.processed_row_to_closed_ms.push(t.closed_at - send.done_at);
  }
  return {
    sampled_settlements: traces.length,
    per_settlement: {
      history_events: { mean: mean(traces.map((t) => t.events)), ...dist(traces.map((t) => t.events)) },
      workflow_tasks: mean(traces.map((t) => t.workflow_tasks)),
      activities_normal: mean(traces.map((t) => t.activities.filter((a) => a.kind === 'normal').length)),
      activities_local: mean(traces.map((t) => t.activities.filter((a) => a.kind === 'local').length)),
      signals: mean(traces.map((t) => t.signals.length)),
      timers: mean(traces.map((t) => t.timers)),
      search_attribute_upserts: mean(traces.map((t) => t.upserts)),
      temporal_cloud_actions: mean(traces.map((t) => t.cloud_actions)),
      child_workflows: mean(traces.map((t) => t.children)),
      max_normal_activities_in_flight: Math.max(0, ...traces.map((t) => t.max_normal_in_flight)),
      activities_by_type: Object.fromEntries(
        Object.entries(byType).map(([k, n]) => [k, Math.round((n / traces.length) * 10) / 10]),
      ),
    },
    phases_ms: Object.fromEntries(
      Object.entries(phases)
        .filter(([, xs]) => xs.length)
        .map(([k, xs]) => [k, dist(xs)]),
    ),
  };
}
