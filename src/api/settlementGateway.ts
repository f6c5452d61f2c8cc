import { WithStartWorkflowOperation, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import type { UpdateDefinition } from '@temporalio/common';
import {
  SA_SETTLEMENT_STATUS,
  SETTLEMENT_WORKFLOW,
  addNoteUpdate,
  settlementWorkflowId,
  stateQuery,
  type SettlementActionResult,
  type SettlementWorkflowInput,
  type SettlementWorkflowState,
  innermostMessage,
} from '../contract';
import { prependNote, withSettlementActionLock, type SettlementRow } from '../db/settlements';
import { formatNote } from '../domain/notes';
import { settlementActions } from '../metrics/registry';
import type { ApiDeps } from './deps';
import { ApiError, conflict } from './errors';
import { FINAL_STATUSES } from './settlementViews';

/**
 * The API's one way to a settlement's workflow: operator actions sent as Updates
 * (update-with-start for a closed run of a settlement that is not final), notes, the
 * state query, and how Temporal's answers map to HTTP errors (docs/settlement.md §7).
 */

/** Why Temporal refused an update, in the operator's words. */
function updateRefusal(err: unknown): string | null {
  if (err instanceof WorkflowUpdateFailedError) {
    // the innermost cause says why (a validator's message, or the activity's refusal)
    return innermostMessage(err);
  }
  return null;
}

/** Whether the settlement's workflow has closed (or was never started / is forgotten); null: Temporal did not answer. */
async function workflowClosed(client: Client, hash: string): Promise<boolean | null> {
  try {
    const d = await client.workflow.getHandle(settlementWorkflowId(hash)).describe();
    return d.status.name !== 'RUNNING';
  } catch (err) {
    if ((err as { name?: string }).name === 'WorkflowNotFoundError') return true;
    return null;
  }
}

const temporalUnavailable = () =>
  new ApiError(503, 'temporal_unavailable', 'Temporal is not reachable; try again shortly');

/**
 * Sends an operator action to the settlement's workflow as an Update; 409 with the
 * reason when refused. A settlement that is not final goes through update-with-start:
 * a running workflow gets the Update, a closed one (terminated, timed out, failed) a
 * fresh run in resume mode for the same payment hash that loads the settlement from
 * the database and then handles the Update (docs/settlement.md §7.1). Two actions at
 * once on a closed workflow start one run: the second meets the first's (USE_EXISTING).
 * A settlement without the ATM event's amounts (its workflow closed while it waited
 * for its signals) is resumed too: the run waits for the operator's retry or close.
 */
export async function sendAction<Args extends [unknown]>(
  deps: ApiDeps,
  action: string,
  s: SettlementRow,
  update: UpdateDefinition<SettlementActionResult, Args>,
  args: Args,
): Promise<SettlementActionResult> {
  const workflowId = settlementWorkflowId(s.payment_hash);
  const send = (): Promise<SettlementActionResult> => {
    // a final settlement never runs again (§7.1)
    if (FINAL_STATUSES.includes(s.status)) {
      return deps.temporal.workflow.getHandle(workflowId).executeUpdate(update, { args });
    }
    // one action at a time per settlement, each reading the row as the previous one left it:
    // a second retry that comes after the first run already finished meets a final row (409),
    // and starts no run of its own
    return withSettlementActionLock(deps.pool, s.id, (current) =>
      current && FINAL_STATUSES.includes(current.status)
        ? deps.temporal.workflow.getHandle(workflowId).executeUpdate(update, { args })
        : updateWithStart(),
    );
  };
  const updateWithStart = (): Promise<SettlementActionResult> => {
    const input: SettlementWorkflowInput = {
      payment_hash: s.payment_hash,
      stuck_after_ms: deps.config.stuckThresholdMinutes * 60_000,
      resume: true,
    };
    return deps.temporal.workflow.executeUpdateWithStart(update, {
      args,
      startWorkflowOperation: new WithStartWorkflowOperation(SETTLEMENT_WORKFLOW, {
        workflowId,
        taskQueue: deps.config.taskQueue,
        args: [input],
        workflowIdConflictPolicy: 'USE_EXISTING',
        workflowIdReusePolicy: 'ALLOW_DUPLICATE',
        typedSearchAttributes: [{ key: SA_SETTLEMENT_STATUS, value: s.status }],
        staticSummary: `settlement of payment ${s.payment_hash.slice(0, 16)}… (resumed by ${action})`,
      }),
    });
  };
  try {
    const result = await send();
    settlementActions.inc({ action, outcome: 'applied' });
    return result;
  } catch (err) {
    const refusal = updateRefusal(err);
    if (refusal) {
      settlementActions.inc({ action, outcome: 'refused' });
      throw conflict(`${action} refused: ${refusal}`, { status: s.status });
    }
    const closed = await workflowClosed(deps.temporal, s.payment_hash);
    if (closed) {
      settlementActions.inc({ action, outcome: 'refused' });
      throw conflict(
        `${action} refused: settlement is ${s.status} and its workflow has finished; nothing can change any more`,
        { status: s.status },
      );
    }
    if (closed === null) throw temporalUnavailable();
    throw err;
  }
}

/**
 * Adds a note. A running workflow gets the `addNote` Update (its activity writes the
 * note, and the Update stays in the workflow's history beside the other actions); a
 * refusal is a 409. When the workflow has closed — every final settlement, and any
 * terminated or forgotten run — no run is started for a note: it is written to the
 * row here, exactly as the Update's activity writes it (docs/settlement.md §7).
 */
export async function sendNote(deps: ApiDeps, s: SettlementRow, userId: string, text: string): Promise<void> {
  try {
    await deps.temporal.workflow
      .getHandle(settlementWorkflowId(s.payment_hash))
      .executeUpdate(addNoteUpdate, { args: [{ user_id: userId, text }] });
    settlementActions.inc({ action: 'note', outcome: 'applied' });
    return;
  } catch (err) {
    const refusal = updateRefusal(err);
    if (refusal) {
      settlementActions.inc({ action: 'note', outcome: 'refused' });
      throw conflict(`note refused: ${refusal}`, { status: s.status });
    }
    const closed = await workflowClosed(deps.temporal, s.payment_hash);
    if (closed === null) throw temporalUnavailable();
    if (!closed) throw err;
  }
  await prependNote(deps.pool, s.id, formatNote(new Date(), userId, text));
  settlementActions.inc({ action: 'note', outcome: 'applied' });
}

/** The running workflow's `state` query, or null (closed, or no answer within 2 s). */
export async function workflowState(
  deps: ApiDeps,
  s: SettlementRow,
): Promise<SettlementWorkflowState | null> {
  let timer: NodeJS.Timeout | undefined;
  const handle = deps.temporal.workflow.getHandle(settlementWorkflowId(s.payment_hash));
  try {
    const state = await Promise.race([
      handle.query(stateQuery).catch(() => null),
      new Promise<null>((r) => (timer = setTimeout(() => r(null), 2000))),
    ]);
    return state && roundStuck(deps, s, state) ? { ...state, stuck: true } : state;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A payment round past the threshold, as the worklist's SQL check sees it
 * (processing_started_at). Workflows since patch `lean-settlement-events` keep no
 * timer around a round, and a query reads the workflow's clock as of its last task:
 * the row's clock decides here (docs/settlement.md §4.6).
 */
export function roundStuck(deps: ApiDeps, s: SettlementRow, state: SettlementWorkflowState): boolean {
  if (state.stuck || state.phase !== 'paying' || s.status !== 'processing' || !s.processing_started_at) {
    return false;
  }
  return Date.now() - s.processing_started_at.getTime() >= deps.config.stuckThresholdMinutes * 60_000;
}
