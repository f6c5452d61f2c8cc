/**
 * End-to-end figures: a saturated run (throughput, for the ratio to the engine baseline) and
 * a rate sweep (the highest offered rate the stack sustains with a bounded p99). Latency is
 * counted from each settlement's scheduled send time; second-signal → processed is counted
 * from when the later of its two signals was accepted.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Done, EngineLoad, SettlementLoad } from './load';
import type { EngineShape } from './engine/workflow';
import { percentile, type ProcessMonitor } from './procStats';

const r1 = (n: number) => Math.round(n * 10) / 10;
const r2 = (n: number) => Math.round(n * 100) / 100;

function dist(xs: number[]) {
  const s = [...xs].sort((a, b) => a - b);
  return {
    p50: Math.round(percentile(s, 50)),
    p95: Math.round(percentile(s, 95)),
    p99: Math.round(percentile(s, 99)),
    max: Math.round(s[s.length - 1] ?? NaN),
  };
}

/** Throughput and latencies of one run. */
export function summariseRun(done: Done[], offeredRate: number) {
  const ok = done.filter((d) => d.done_at !== null);
  const first = Math.min(...done.map((d) => d.scheduled_at));
  const last = Math.max(...ok.map((d) => d.done_at!));
  const seconds = (last - first) / 1000;
  return {
    offered: done.length,
    offered_rate_per_s: offeredRate,
    processed: ok.length,
    not_processed: done.length - ok.length,
    send_errors: [...new Set(done.filter((d) => d.error).map((d) => d.error!))].slice(0, 5),
    duration_s: r2(seconds),
    per_s: r2(ok.length / seconds),
    latency_from_scheduled_ms: dist(ok.map((d) => d.done_at! - d.scheduled_at)),
    second_signal_to_processed_ms: dist(ok.map((d) => d.done_at! - d.second_signal_at)),
    sender_lag_ms: dist(done.map((d) => d.started_at - d.scheduled_at)),
  };
}

/** Offered above capacity: the throughput the product sustains while a queue stands. */
export async function productSaturated(
  load: SettlementLoad,
  monitor: ProcessMonitor,
  count: number,
  rate: number,
  timeoutMs: number,
) {
  monitor.begin();
  const sent = await load.send(count, rate);
  const done = await load.awaitProcessed(sent, timeoutMs);
  const processes = monitor.end();
  return { done, result: { ...summariseRun(done, rate), processes, box: monitor.box } };
}

/** The same offered load on the engine baseline. */
export async function engineSaturated(
  load: EngineLoad,
  monitor: ProcessMonitor,
  shape: EngineShape,
  count: number,
  rate: number,
  timeoutMs: number,
) {
  monitor.begin();
  const sent = await load.send(count, rate, shape);
  const done = await load.awaitClosed(sent, timeoutMs);
  const processes = monitor.end();
  return { done, result: { ...summariseRun(done, rate), processes, box: monitor.box } };
}

export const SWEEP_RATES = [0.5, 1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30, 40, 50];
/** where the first repetition starts (2/s) */
export const SWEEP_START = 2;

export interface SweepOptions {
  windowS: number;
  drainS: number;
  p99BoundMs: number;
  /** called with the settlements of each step (the 5/s step is sampled for histories) */
  onStep?: (rate: number, done: Done[]) => Promise<void>;
  log: (s: string) => void;
}

/**
 * Sustained: every settlement processed within the drain limit, p99 from the scheduled time
 * within the bound, and no growing queue (the median latency of the window's last quarter of
 * arrivals at most 1.5 × that of its first quarter + 250 ms).
 */
export function judge(
  done: Done[],
  p99BoundMs: number,
): { sustained: boolean; why: string; q1: number; q4: number } {
  const ordered = [...done].sort((a, b) => a.scheduled_at - b.scheduled_at);
  const lat = ordered.map((d) => (d.done_at === null ? Infinity : d.done_at - d.scheduled_at));
  const q = Math.max(1, Math.floor(lat.length / 4));
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const q1 = med(lat.slice(0, q));
  const q4 = med(lat.slice(-q));
  const p99 = percentile(
    [...lat].sort((a, b) => a - b),
    99,
  );
  const missing = lat.filter((x) => x === Infinity).length;
  if (missing) return { sustained: false, why: `${missing} not processed within the drain limit`, q1, q4 };
  if (q4 > 1.5 * q1 + 250)
    return {
      sustained: false,
      why: `queue growing: median latency ${Math.round(q1)} → ${Math.round(q4)} ms`,
      q1,
      q4,
    };
  if (p99 > p99BoundMs)
    return { sustained: false, why: `p99 ${Math.round(p99)} ms over ${p99BoundMs} ms`, q1, q4 };
  return { sustained: true, why: 'bounded', q1, q4 };
}

/** One step: `rate`/s for the window, then wait for the stragglers. */
async function step(load: SettlementLoad, monitor: ProcessMonitor, rate: number, o: SweepOptions) {
  const n = Math.max(8, Math.round(rate * o.windowS));
  monitor.begin();
  const sent = await load.send(n, rate);
  let done = await load.awaitProcessed(sent, o.drainS * 1000);
  const processes = monitor.end();
  const verdict = judge(done, o.p99BoundMs);
  const left = done.filter((d) => d.done_at === null).length;
  if (left) {
    // a queue left behind would be measured by the next step: let it drain first; the latencies
    // then count every settlement of the step, the late ones too
    o.log(`sweep ${rate}/s: draining ${left} left behind before the next step`);
    done = await load.awaitProcessed(sent, 600_000);
  }
  const s = { ...summariseRun(done, rate), processed_within_drain_limit: done.length - left };
  o.log(
    `sweep ${rate}/s: ${verdict.sustained ? 'sustained' : 'NOT sustained'} (${verdict.why}); ` +
      `p50/p99 ${s.latency_from_scheduled_ms.p50}/${s.latency_from_scheduled_ms.p99} ms from scheduled`,
  );
  await o.onStep?.(rate, done);
  return {
    done,
    row: {
      ...s,
      sustained: verdict.sustained,
      verdict: verdict.why,
      median_latency_first_quarter_ms: Math.round(verdict.q1),
      median_latency_last_quarter_ms: Math.round(verdict.q4),
      processes,
      box: monitor.box,
    },
  };
}

/**
 * Steps the offered rate up (SWEEP_RATES, from `fromIndex`) until a step is not sustained;
 * if the first step already fails, steps down until one is. Always includes 5/s (the
 * second-signal latency figure is read there). Returns every step and the highest
 * sustained rate (0 when none was).
 */
export async function sweep(
  load: SettlementLoad,
  monitor: ProcessMonitor,
  fromIndex: number,
  o: SweepOptions,
) {
  const steps: Awaited<ReturnType<typeof step>>['row'][] = [];
  const five = SWEEP_RATES.indexOf(5);
  let best = 0;
  if (fromIndex > five) {
    steps.push((await step(load, monitor, 5, o)).row);
    await sleep(2000);
  }
  let i = fromIndex;
  let direction: 'up' | 'down' | null = null;
  for (;;) {
    const rate = SWEEP_RATES[i]!;
    const { row } = await step(load, monitor, rate, o);
    steps.push(row);
    await sleep(2000);
    if (row.sustained) {
      best = Math.max(best, rate);
      if (direction === 'down') break;
      direction = 'up';
      if (i + 1 >= SWEEP_RATES.length) break;
      i++;
    } else {
      if (direction === 'up') break;
      direction = 'down';
      if (i === 0) break;
      i--;
    }
  }
  // the 5/s latency figure when the sweep stopped below 5/s
  if (!steps.some((s) => s.offered_rate_per_s === 5)) steps.push((await step(load, monitor, 5, o)).row);
  return { steps, max_sustained_per_s: best };
}

export { r1 };
