/**
 * Paying a page of legs: shared by the settlement workflow (small settlements,
 * inline) and the leg-batch child workflow (large fan-out). Deterministic.
 */
import { isCancellation, log, proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { FailureType, causeMessage } from '../contract';
import type { LegTask } from '../activities/types';

/** Legs paid at once within one page (one workflow dispatches ~30 activities/s). */
export const LEG_CONCURRENCY = 25;
/** Root legs per page: a page is paid inline or by one child, so no history grows past a few thousand events. */
export const PAGE_SIZE = 250;

export const db = proxyLocalActivities<Activities>({
  startToCloseTimeout: '60 seconds',
  // DB steps retry until PostgreSQL answers again (a restart, a failover)
  retry: { initialInterval: '500 milliseconds', backoffCoefficient: 2, maximumInterval: '15 seconds' },
});

/** Payment activities: one per leg, retried with backoff; a refusal fails the leg at once. */
export const payments = proxyActivities<Activities>({
  startToCloseTimeout: '120 seconds',
  // payLeg heartbeats while the backend pays: a worker that died is noticed in 10 s, not 120
  heartbeatTimeout: '10 seconds',
  retry: {
    initialInterval: '1 second',
    backoffCoefficient: 2,
    maximumInterval: '30 seconds',
    maximumAttempts: 8,
    nonRetryableErrorTypes: [FailureType.PaymentRefused],
  },
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

/** Pays one leg; returns whether it is completed. A failure is recorded on the leg, never thrown. */
async function payOne(leg: LegTask): Promise<boolean> {
  try {
    const result = await payments.payLeg.executeWithOptions({ summary: legSummary(leg) }, [
      { leg_id: leg.id },
    ]);
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
    const ok = await payOne(root);
    count(ok);
    for (const f of followers.get(root.id) ?? []) {
      if (ok) count(await payOne(f));
      else {
        await db.failLeg({ leg_id: f.id, reason: `not attempted: its ${root.leg_type} leg failed` });
        count(false);
      }
    }
  });
  return outcome;
}
