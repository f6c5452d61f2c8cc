/**
 * Steps 6–8 of a settlement (docs/settlement.md §4.5–4.7): the optional hold, then
 * payment rounds until every leg is done; an errored round waits for the operator.
 */
import {
  CancellationScope,
  condition,
  executeChild,
  isCancellation,
  sleep,
  workflowInfo,
} from '@temporalio/workflow';
import type { PlanSummary } from '../activities/types';
import { legBatchWorkflow } from './legBatch';
import { db, payPage, runLimited, type PageOutcome } from './legPayments';
import { CHILD_CONCURRENCY } from './legLimits';
import type { SettlementOutcome, SettlementState } from './settlementState';

/** Step 6: a durable window for partial dispense before any sat moves (the legs exist, pending). */
export async function holdBeforePaying(s: SettlementState): Promise<void> {
  if (!s.plan || s.plan.hold_seconds <= 0) return;
  s.phase = 'holding';
  s.holdUntil = Date.now() + s.plan.hold_seconds * 1000;
  s.describe(`holding ${s.plan.hold_seconds}s before paying`);
  await sleep(s.plan.hold_seconds * 1000);
  await condition(() => !s.busy);
  s.holdUntil = null;
}

/**
 * Steps 7–8: pays every leg of the plan, one round after another; an errored round
 * waits for the operator (retry, partial dispense, void), a force-reset cancels the
 * round under way. Ends processed, partial or refunded (or voided by the operator).
 */
export async function payUntilDone(s: SettlementState): Promise<SettlementOutcome> {
  while (s.currentPhase() !== 'done') {
    if (s.currentStatus() === 'refunded') break;
    if (s.currentStatus() === 'errored') {
      s.phase = 'awaiting_operator';
      await s.waitForOperator();
      continue;
    }
    s.rounds++;
    s.phase = 'paying';
    s.roundRunning = true;
    await db.startPaying({ settlement_id: s.settlementId! });
    s.describe(`paying ${s.plan?.payable ?? 0} leg(s), round ${s.rounds}`);
    const round = CancellationScope.cancellable(async () => {
      s.roundScope = CancellationScope.current();
      return payAll(s, s.plan ?? { payable: 0, pages: [], hold_seconds: 0 });
    })
      .then((o) => {
        if (o.completed > 0) s.anyCompleted = true;
      })
      .catch((err) => {
        if (!isCancellation(err)) throw err;
      })
      .finally(() => {
        s.roundRunning = false;
        s.roundScope = null;
      });
    s.roundStartedAt = Date.now();
    // lean: no stuck timer; the worklist's SQL check (processing_started_at, set by startPaying)
    // lists a long round as stuck_processing, and force-reset reads the round's age (isStuck)
    if (!s.lean && !(await condition(() => !s.roundRunning, s.stuckAfterMs))) {
      s.stuck = true;
      s.setStatus('stuck_processing');
      s.describe(`stuck: paying for more than ${Math.round(s.stuckAfterMs / 60000)} min`);
    }
    await round;
    s.roundStartedAt = null;
    await condition(() => !s.busy);
    if (s.resetDuringRound) {
      // the force-reset handler recorded the outcome (errored); wait for the operator
      s.resetDuringRound = false;
      continue;
    }
    const outcome = await db.concludeRound({ settlement_id: s.settlementId!, partial: s.partial });
    s.stuck = false;
    if (outcome.completed > 0) s.anyCompleted = true;
    s.setStatus(outcome.status);
    if (outcome.status === 'processed' || outcome.status === 'partial') break;
    if (outcome.status === 'errored') s.describe(`errored: ${outcome.error_message ?? 'a leg failed'}`);
  }
  s.describe(`${s.status}`);
  return s.finish();
}

/** One round: a single page inline, several pages as child workflows (a few at a time). */
async function payAll(s: SettlementState, p: PlanSummary): Promise<PageOutcome> {
  const total: PageOutcome = { completed: 0, failed: 0 };
  const add = (o: PageOutcome) => {
    total.completed += o.completed;
    total.failed += o.failed;
  };
  if (p.pages.length === 1) add(await payPage(s.settlementId!, p.pages[0]!.from, p.pages[0]!.to));
  else if (p.pages.length > 1) {
    const wfId = workflowInfo().workflowId;
    // a resumed run's children never meet those of the run before it
    const run = s.input.resume ? `-run${workflowInfo().runId.slice(0, 8)}` : '';
    const pages = p.pages.map((page, i) => ({ page, i }));
    await runLimited(pages, CHILD_CONCURRENCY, async ({ page, i }) => {
      add(
        await executeChild(legBatchWorkflow, {
          workflowId: `${wfId}${run}-round${s.rounds}-page${i + 1}`,
          args: [{ settlement_id: s.settlementId!, from: page.from, to: page.to }],
          staticSummary: `legs ${page.from}–${page.to} of ${wfId}`,
        }),
      );
    });
  }
  return total;
}
