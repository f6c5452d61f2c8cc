/**
 * Paying a page of legs: shared by the settlement workflow (small settlements,
 * inline) and the leg-batch child workflow (large fan-out). Deterministic.
 */
import { isCancellation, log, patched, proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { FailureType, causeMessage } from '../contract';
import type { LegTask } from '../activities/types';
import { LEG_CONCURRENCY } from './legLimits';

export { LEG_CONCURRENCY, PAGE_SIZE } from './legLimits';

/**
 * Patch id (docs/settlement.md §13.1): legs that `loadLegPage` marks `run_as: 'local'`
 * (a backend that pays in the database: the ledger) are paid by a local activity.
 * Histories without the marker paid every leg as a normal activity, and replay so.
 */
export const LOCAL_LEG_PAYMENTS_PATCH = 'ledger-legs-local-activities';

export const db = proxyLocalActivities<Activities>({
  startToCloseTimeout: '60 seconds',
  // DB steps retry until PostgreSQL answers again (a restart, a failover)
  retry: { initialInterval: '500 milliseconds', backoffCoefficient: 2, maximumInterval: '15 seconds' },
});

/** A leg's payment: retried with backoff (8 attempts, ~91 s of waits); a refusal fails the leg at once. */
const PAYMENT_RETRY = {
  initialInterval: '1 second',
  backoffCoefficient: 2,
  maximumInterval: '30 seconds',
  maximumAttempts: 8,
  nonRetryableErrorTypes: [FailureType.PaymentRefused],
};

/** Payment activities talking to an outside system (LNbits, LNURL): one per leg, on the task queue. */
export const payments = proxyActivities<Activities>({
  startToCloseTimeout: '120 seconds',
  // payLeg heartbeats while the backend pays: a worker that died is noticed in 10 s, not 120
  heartbeatTimeout: '10 seconds',
  retry: PAYMENT_RETRY,
});

/**
 * Payment activities of a backend that pays in the database (the ledger): one local
 * activity per leg, one short transaction. Its retry waits (≤ 30 s) stay below the
 * local retry threshold (1 min), so they are timers in the worker, not in the history;
 * the SDK keeps the workflow task alive meanwhile (it heartbeats it at 80 % of its timeout).
 * A worker that dies mid-leg: the workflow task times out and the next worker runs the
 * leg again; its transaction either committed (found completed) or rolled back.
 */
export const localPayments = proxyLocalActivities<Activities>({
  // the worker's PostgreSQL statement timeout is 30 s: a leg waiting longer on a lock is retried
  startToCloseTimeout: '30 seconds',
  retry: PAYMENT_RETRY,
});

export function formatSats(n: number): string {
  return n.toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** "dca 12,345 sats → lp alice" */
export function legSummary(leg: Pick<LegTask, 'leg_type' | 'amount_sats' | 'label' | 'destination'>): string {
  const who =
    leg.leg_type === 'dca' || leg.leg_type === 'settlement'
      ? `lp ${leg.label ?? leg.destination}`
      : leg.leg_type === 'autoforward'
        ? leg.destination
        : leg.leg_type === 'super_fee'
          ? 'platform'
          : (leg.label ?? leg.destination);
  return `${leg.leg_type} ${formatSats(leg.amount_sats)} sats → ${who}`;
}

/**
 * Pays one leg, as a local activity when `local` (the page's legs said `run_as: 'local'`
 * and the patch is in), else as a normal one; returns whether it is completed. A
 * failure is recorded on the leg, never thrown.
 */
async function payOne(leg: LegTask, local: boolean): Promise<boolean> {
  try {
    const args: [{ leg_id: string }] = [{ leg_id: leg.id }];
    const options = { summary: legSummary(leg) };
    const result =
      local && leg.run_as === 'local'
        ? await localPayments.payLeg.executeWithOptions(options, args)
        : await payments.payLeg.executeWithOptions(options, args);
    return result.status === 'completed';
  } catch (err) {
    if (isCancellation(err)) throw err;
    const reason = causeMessage(err);
    log.warn('leg failed', { leg_id: leg.id, reason });
    const r = await db.failLeg({ leg_id: leg.id, reason });
    return r.status === 'completed';
  }
}

/** Runs `work` over `items` with at most `limit` at a time, in order of start. */
export async function runLimited<T>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const item = items[next++]!;
      await work(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
}

export interface PageOutcome {
  completed: number;
  failed: number;
}

/**
 * Pays every pending leg of one page: root legs up to LEG_CONCURRENCY at a time;
 * a leg that follows another (autoforward after its dca) is paid once its parent
 * completed, or failed ("not attempted") when the parent failed. Every leg is
 * attempted: one failure does not stop the others.
 */
export async function payPage(settlementId: string, from: number, to: number): Promise<PageOutcome> {
  const legs = await db.loadLegPage({ settlement_id: settlementId, from, to });
  // asked once per page, and only when a leg may run locally: an LNbits history gets no marker
  const local = legs.some((l) => l.run_as === 'local') && patched(LOCAL_LEG_PAYMENTS_PATCH);
  const ids = new Set(legs.map((l) => l.id));
  const followers = new Map<string, LegTask[]>();
  const roots: LegTask[] = [];
  for (const leg of legs) {
    if (leg.parent_leg_id && ids.has(leg.parent_leg_id)) {
      followers.set(leg.parent_leg_id, [...(followers.get(leg.parent_leg_id) ?? []), leg]);
    } else roots.push(leg);
  }
  const outcome: PageOutcome = { completed: 0, failed: 0 };
  const count = (ok: boolean) => (ok ? outcome.completed++ : outcome.failed++);
  await runLimited(roots, LEG_CONCURRENCY, async (root) => {
    const ok = await payOne(root, local);
    count(ok);
    for (const f of followers.get(root.id) ?? []) {
      if (ok) count(await payOne(f, local));
      else {
        await db.failLeg({ leg_id: f.id, reason: `not attempted: its ${root.leg_type} leg failed` });
        count(false);
      }
    }
  });
  return outcome;
}
