import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from '@temporalio/worker';
import { execFileSync } from 'node:child_process';
import { resolveTemporalBinary } from '../../src/cli/temporalDevServer';
import { settlementWorkflowId } from '../../src/contract';
import { insertWallet } from '../../src/db/ledger';
import { newId } from '../../src/db/ids';
import { sealedColumns } from '../../src/security/secretBox';
import {
  ALERT_EVALUATOR_WORKFLOW,
  ALERT_WORKFLOW,
  alertPhaseQuery,
  alertWorkflowId,
  resolveAlertSignal,
} from '../../src/workflows/alerts/definitions';
import type { UpdateDefinition } from '@temporalio/common';
import { SettlementSignals } from '../../src/ingest/settlementSignals';
import { buildSettlementEvent } from '../../src/nostr/codec';
import {
  createLp,
  createMachine,
  createOperator,
  createSuper,
  ledgerFor,
  newPaymentHash,
  secretBox,
  settlementContent,
  type Machine,
  splitAllToNewWallet,
} from '../helpers/fixtures';
import { awaitSettled, awaitStatus, sendSettlement } from '../helpers/settle';
import { eventually, freshDatabase, temporalClient, testLogger, testWorker } from '../helpers/stack';
import { LedgerBackend } from '../../src/payments/ledger';
import type { PaymentBackend, PayWalletRequest } from '../../src/payments/backend';
import { workflowCodeHash } from '../helpers/workflowCodeHash';
import { WithStartWorkflowOperation, WorkflowUpdateStage } from '@temporalio/client';
import {
  SETTLEMENT_WORKFLOW,
  addNoteSignal,
  addNoteUpdate,
  closeUpdate,
  forceResetUpdate,
  retrySignal,
  retryUpdate,
  partialDispenseUpdate,
  stateQuery,
  voidFailedLegsUpdate,
  type SettlementActionResult,
} from '../../src/contract';

const DIR = join(__dirname, '..', 'histories');
/** Histories recorded on the current workflow code (overwritten by each recording). */
const CURRENT = join(DIR, 'current');
const HASH_FILE = join(DIR, 'WORKFLOW_CODE_HASH');
const RECORD = 'RECORD_HISTORIES=1 npx jest test/integration/replay.test.ts';

/**
 * Determinism guard (SPEC §8, docs/settlement.md §13): recorded histories of real
 * settlements are replayed against the current workflow code; a change that breaks
 * replay fails here. `RECORD_HISTORIES=1 npx jest test/integration/replay.test.ts`
 * records every scenario below anew into test/histories/current/ and writes
 * test/histories/WORKFLOW_CODE_HASH (sha256 of the bundle's sources). The files at the
 * top of test/histories/ were recorded on older code (the first ones before the patch
 * `attribution-by-payment`) and are never overwritten: they prove the old paths still
 * replay. Before re-recording after a patched() change, copy the current/ histories
 * whose old path the patch keeps to test/histories/<name>-before-<patch id>.json.
 */
/**
 * The workflow id a settlement's history ran under (its payment hash is in the start
 * input): a fan-out names its child workflows after it, so the replay must use it.
 */
function workflowIdOf(history: unknown, file: string): string {
  try {
    const started = (history as { events: Record<string, unknown>[] }).events[0]!;
    const attrs = started.workflowExecutionStartedEventAttributes as {
      input?: { payloads?: { data?: string }[] };
    };
    const data = attrs.input?.payloads?.[0]?.data;
    const input = data ? (JSON.parse(Buffer.from(data, 'base64').toString('utf8')) as unknown) : null;
    const hash = (input as { payment_hash?: unknown } | null)?.payment_hash;
    if (typeof hash === 'string') return settlementWorkflowId(hash);
  } catch {
    // not a settlement's history (a child page): any id will do
  }
  return `replay-${file.replace('/', '-')}`;
}

/**
 * The ledger, except that a payment to a held wallet stays in flight (its leg locked,
 * its activity running) until released: a payment round that is stuck for real.
 */
function heldPayments(inner: PaymentBackend) {
  const held = new Map<string, { released: Promise<void>; release: () => void }>();
  const backend: PaymentBackend = {
    name: inner.name,
    venueOf: (kind) => inner.venueOf(kind),
    payWallet: async (req: PayWalletRequest) => {
      await held.get(req.toWalletId)?.released;
      return inner.payWallet(req);
    },
    payLightningAddress: (req) => inner.payLightningAddress(req),
    lookupPayment: (key, db) => inner.lookupPayment(key, db),
    observePayments: (handler) => inner.observePayments(handler),
    close: () => inner.close(),
  };
  const hold = (walletId: string) => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    held.set(walletId, { released, release });
  };
  const release = (walletId: string) => {
    held.get(walletId)?.release();
    held.delete(walletId);
  };
  return { backend, hold, release };
}

async function replay(file: string): Promise<void> {
  const history: unknown = JSON.parse(readFileSync(join(DIR, file), 'utf8'));
  await Worker.runReplayHistory(
    { workflowBundle: { codePath: process.env.SATMACHINE_TEST_BUNDLE! } },
    history,
    workflowIdOf(history, file),
  );
}

describe('workflow replay from recorded histories', () => {
  if (process.env.RECORD_HISTORIES === '1') {
    it('records the histories of real settlements, one per operator action', async () => {
      const db = await freshDatabase();
      const temporal = await temporalClient();
      const payments = heldPayments(new LedgerBackend({ pool: db.pool, logger: testLogger }));
      const w = await testWorker({ pool: db.pool, payments: payments.backend });
      const running = w.start();
      mkdirSync(CURRENT, { recursive: true });
      for (const f of readdirSync(CURRENT)) if (f.endsWith('.json')) rmSync(join(CURRENT, f));
      try {
        await createSuper(db.pool);
        const op = await createOperator(db.pool);
        await splitAllToNewWallet(db.pool, op);
        const handle = (hash: string) => temporal.client.workflow.getHandle(settlementWorkflowId(hash));
        // the temporal CLI writes the JSON history format the SDK replays
        const save = async (name: string, workflowId: string, runId?: string) => {
          const json = execFileSync(resolveTemporalBinary(), [
            'workflow',
            'show',
            '--workflow-id',
            workflowId,
            ...(runId ? ['--run-id', runId] : []),
            '--address',
            process.env.SATMACHINE_TEST_TEMPORAL_ADDRESS!,
            '--output',
            'json',
          ]);
          writeFileSync(join(CURRENT, `${name}.json`), json);
          // replayed at once: the run that records cannot list them for it.each below
          await replay(`current/${name}.json`);
        };
        const saveSettlement = (name: string, hash: string) => save(name, settlementWorkflowId(hash));
        const send = (m: Machine, o: Parameters<typeof sendSettlement>[5]) =>
          sendSettlement(db.pool, temporal.client, w.taskQueue, m, op, o);
        const small = { wireSats: 10_500, feeSats: 500, fiat: '10.00' };
        /** A cash-out whose only LP has no payout wallet yet: its dca leg fails, errored. */
        const errored = async (name: string, wallet: string) => {
          const m = await createMachine(db.pool, op, { name });
          const lp = await createLp(db.pool, m, { name: `${name} lp`, depositCents: 10_000 });
          await db.pool.query(`UPDATE satmachine.dca_lp SET dca_wallet_id = $2 WHERE user_id = $1`, [
            lp.userId,
            wallet,
          ]);
          const hash = await send(m, small);
          await awaitStatus(db.pool, hash, ['errored']);
          return { m, lp, hash };
        };
        /** The payment only, stuck after 1 s: a pending row without amounts, the workflow waits. */
        const waiting = async (name: string) => {
          const m = await createMachine(db.pool, op, { name });
          await createLp(db.pool, m, { name: `${name} lp`, depositCents: 10_000 });
          const hash = newPaymentHash();
          const payment = {
            wallet_id: m.walletId,
            payment_hash: hash,
            amount_sats: 10_500,
            direction: 'incoming' as const,
          };
          await ledgerFor(db.pool).recordLightningPayment(payment);
          await new SettlementSignals(temporal.client, w.taskQueue, 1000).paymentObserved(payment);
          await awaitStatus(db.pool, hash, ['pending']);
          const event = buildSettlementEvent(
            m.secretHex,
            op.pubkey,
            settlementContent({ paymentHash: hash, wireSats: 10_500, feeSats: 500, fiat: '10.00' }),
          );
          const republish = async () => {
            const ingest = new SettlementSignals(temporal.client, w.taskQueue);
            await ingest.atmEvent(hash, { event });
            await ingest.paymentObserved(payment);
          };
          return { m, hash, republish };
        };
        const resume = <A extends [unknown]>(
          hash: string,
          update: UpdateDefinition<SettlementActionResult, A>,
          args: A,
        ) =>
          temporal.client.workflow.executeUpdateWithStart(update, {
            args,
            startWorkflowOperation: new WithStartWorkflowOperation(SETTLEMENT_WORKFLOW, {
              workflowId: settlementWorkflowId(hash),
              taskQueue: w.taskQueue,
              args: [{ payment_hash: hash, resume: true }],
              workflowIdConflictPolicy: 'USE_EXISTING',
              workflowIdReusePolicy: 'ALLOW_DUPLICATE',
            }),
          });
        const actor = { user_id: op.id };

        // a cash-out to 3 LPs, processed
        const m1 = await createMachine(db.pool, op, { name: 'replay cash-out' });
        for (const [i, cents] of [50_000, 30_000, 20_000].entries())
          await createLp(db.pool, m1, { name: `lp${i}`, depositCents: cents });
        const h1 = await send(m1, { wireSats: 105_000, feeSats: 5_000, fiat: '100.00' });
        await awaitSettled(db.pool, temporal.client, h1);
        await saveSettlement('cash-out-processed', h1);

        // a fan-out: 300 LPs, more legs than one page, paid by child workflows
        const mf = await createMachine(db.pool, op, { name: 'replay fan-out' });
        for (let i = 0; i < 300; i++)
          await createLp(db.pool, mf, { name: `fan${i}`, depositCents: 1_000 + i * 7 });
        const hf = await send(mf, { wireSats: 3_150_000, feeSats: 150_000, fiat: '3000.00' });
        await awaitSettled(db.pool, temporal.client, hf, 180_000);
        await saveSettlement('fan-out-child-pages', hf);
        await save('fan-out-child-pages-page1', `${settlementWorkflowId(hf)}-round1-page1`);

        // errored, a note, then a retry after the wallet exists
        const e2 = await errored('replay retry', 'replaywallet01');
        await handle(e2.hash).executeUpdate(addNoteUpdate, { args: [{ ...actor, text: 'LP asked' }] });
        await insertWallet(db.pool, e2.lp.userId, 'now', 'replaywallet01');
        await handle(e2.hash).executeUpdate(retryUpdate, { args: [actor] });
        await awaitSettled(db.pool, temporal.client, e2.hash);
        await saveSettlement('errored-note-then-retried', e2.hash);

        // a partial dispense during the hold
        const m3 = await createMachine(db.pool, op, { name: 'replay hold', delaySeconds: 3 });
        await createLp(db.pool, m3, { name: 'held', depositCents: 100_000 });
        const h3 = await send(m3, { wireSats: 52_500, feeSats: 2_500, fiat: '50.00' });
        await eventually(async () =>
          (await handle(h3).query(stateQuery)).phase === 'holding' ? true : null,
        );
        await handle(h3).executeUpdate(partialDispenseUpdate, {
          args: [{ ...actor, fiat_amount_cents: 2_000, note: 'jam' }],
        });
        await awaitSettled(db.pool, temporal.client, h3);
        await saveSettlement('partial-dispense-in-hold', h3);

        // a partial dispense after the hold: errored with no leg paid (no platform wallet, no LP wallet)
        const { rows } = await db.pool.query<{ super_wallet_id: string }>(
          'SELECT super_wallet_id FROM satmachine.super_config',
        );
        await db.pool.query(`UPDATE satmachine.super_config SET super_wallet_id = 'nosuchwallet01'`);
        const owner4 = await createOperator(db.pool, 'replay partial owner');
        const m4 = await createMachine(db.pool, owner4, { name: 'replay partial errored', cashOutFee: '0' });
        const lp4 = await createLp(db.pool, m4, { name: 'partial lp', depositCents: 1_000_000 });
        await db.pool.query(
          `UPDATE satmachine.dca_lp SET dca_wallet_id = 'replaywallet04' WHERE user_id = $1`,
          [lp4.userId],
        );
        let h4: string;
        try {
          h4 = await sendSettlement(db.pool, temporal.client, w.taskQueue, m4, owner4, {
            wireSats: 105_000,
            feeSats: 1_050,
            fiat: '100.00',
          });
          await awaitStatus(db.pool, h4, ['errored']);
        } finally {
          await db.pool.query(`UPDATE satmachine.super_config SET super_wallet_id = $1`, [
            rows[0]!.super_wallet_id,
          ]);
        }
        const e4 = { hash: h4, lp: lp4 };
        await insertWallet(db.pool, e4.lp.userId, 'now', 'replaywallet04');
        await handle(e4.hash).executeUpdate(partialDispenseUpdate, {
          args: [{ user_id: owner4.id, fiat_amount_cents: 5_000, note: 'half dispensed' }],
        });
        await awaitSettled(db.pool, temporal.client, e4.hash);
        await saveSettlement('partial-dispense-after-hold-errored', e4.hash);

        // errored, terminated by ops, retried through a resumed run (update-with-start, as the API does)
        const e5 = await errored('replay resumed', 'replaywallet05');
        await handle(e5.hash).terminate('ops');
        await insertWallet(db.pool, e5.lp.userId, 'now', 'replaywallet05');
        await resume(e5.hash, retryUpdate, [actor]);
        await awaitSettled(db.pool, temporal.client, e5.hash);
        await saveSettlement('terminated-then-resumed-retry', e5.hash);

        // errored, its failed leg voided by the operator
        const e6 = await errored('replay void', 'replaywallet06');
        await handle(e6.hash).executeUpdate(voidFailedLegsUpdate, {
          args: [{ ...actor, note: 'paid by hand' }],
        });
        await awaitSettled(db.pool, temporal.client, e6.hash);
        await saveSettlement('errored-then-voided', e6.hash);

        // attribution by payment: a rival machine signs first
        const m7 = await createMachine(db.pool, op, { name: 'replay rival first' });
        const rival7 = await createMachine(db.pool, op, { name: 'replay rival' });
        await createLp(db.pool, m7, { name: 'payee', depositCents: 100_000 });
        const h7 = newPaymentHash();
        const o7 = { wireSats: 21_000, feeSats: 1_000, fiat: '20.00', paymentHash: h7 };
        await send(m7, { ...o7, signerSecretHex: rival7.secretHex });
        await send(m7, o7);
        await awaitSettled(db.pool, temporal.client, h7);
        await saveSettlement('attribution-by-payment-rival-first', h7);

        // stuck waiting for the ATM event, force-reset, retried, then the event arrives
        const s8 = await waiting('replay force-reset');
        await handle(s8.hash).executeUpdate(forceResetUpdate, { args: [actor] });
        await handle(s8.hash).executeUpdate(retryUpdate, { args: [actor] });
        await s8.republish();
        await awaitSettled(db.pool, temporal.client, s8.hash);
        await saveSettlement('stuck-force-reset-retried', s8.hash);

        // its workflow closed while it waited: a resumed run waits again, the signals settle it
        const s9 = await waiting('replay closed wait');
        await handle(s9.hash).terminate('ops');
        await resume(s9.hash, retryUpdate, [actor]);
        await s9.republish();
        await awaitSettled(db.pool, temporal.client, s9.hash);
        await saveSettlement('closed-wait-resumed-retry', s9.hash);

        // closed by the operator while it waits for its signals
        const s10 = await waiting('replay close');
        await handle(s10.hash).executeUpdate(closeUpdate, { args: [{ ...actor, note: 'never charged' }] });
        await handle(s10.hash).result();
        await saveSettlement('close-while-waiting', s10.hash);

        // force-reset while waiting, its workflow closed, then closed through a resumed run
        const s11 = await waiting('replay close resumed');
        await handle(s11.hash).executeUpdate(forceResetUpdate, { args: [actor] });
        await handle(s11.hash).terminate('ops');
        await resume(s11.hash, closeUpdate, [{ ...actor, note: 'no cash dispensed' }]);
        await handle(s11.hash).result();
        await saveSettlement('closed-wait-resumed-close', s11.hash);

        // errored, then a note and a retry sent as Signals (the Update's twin, from the Temporal UI/CLI)
        const e12 = await errored('replay signals', 'replaywallet12');
        await handle(e12.hash).signal(addNoteSignal, { ...actor, text: 'from the Temporal UI' });
        await insertWallet(db.pool, e12.lp.userId, 'now', 'replaywallet12');
        await handle(e12.hash).signal(retrySignal, actor);
        await awaitSettled(db.pool, temporal.client, e12.hash);
        await saveSettlement('errored-signal-note-then-retried', e12.hash);

        // a partial dispense of nothing during the hold: refunded, no leg paid
        const m13 = await createMachine(db.pool, op, { name: 'replay refund', delaySeconds: 3 });
        await createLp(db.pool, m13, { name: 'refunded', depositCents: 100_000 });
        const h13 = await send(m13, { wireSats: 52_500, feeSats: 2_500, fiat: '50.00' });
        await eventually(async () =>
          (await handle(h13).query(stateQuery)).phase === 'holding' ? true : null,
        );
        await handle(h13).executeUpdate(partialDispenseUpdate, {
          args: [{ ...actor, fiat_amount_cents: 0, note: 'nothing dispensed' }],
        });
        await awaitSettled(db.pool, temporal.client, h13);
        await saveSettlement('partial-dispense-in-hold-refunded', h13);

        // stuck paying (its LP's payment stays in flight past the threshold), force-reset
        // (the round cancelled, the leg looked up once the payment ended), then retried
        const m14 = await createMachine(db.pool, op, { name: 'replay stuck paying' });
        const lp14 = await createLp(db.pool, m14, { name: 'in flight', depositCents: 100_000 });
        payments.hold(lp14.walletId);
        let h14: string;
        try {
          h14 = await send(m14, { ...small, stuckAfterMs: 1000 });
          // stuck as the worklist's SQL check sees it: the round started more than the threshold ago
          // (lean runs keep no stuck timer; force-reset reads the round's age in its own workflow task)
          await eventually(async () => {
            const st = await handle(h14).query(stateQuery);
            if (st.phase !== 'paying') return null;
            const { rows } = await db.pool.query<{ old: boolean }>(
              `SELECT processing_started_at <= now() - interval '1 second' AS old
                 FROM satmachine.dca_settlements WHERE payment_hash = $1`,
              [h14],
            );
            return rows[0]?.old ? true : null;
          });
          // accepted: the round is cancelled in the same workflow task; the payment then ends
          const reset = await handle(h14).startUpdate(forceResetUpdate, {
            args: [actor],
            waitForStage: WorkflowUpdateStage.ACCEPTED,
          });
          payments.release(lp14.walletId);
          expect((await reset.result()).status).toBe('errored');
        } finally {
          payments.release(lp14.walletId);
        }
        await handle(h14).executeUpdate(retryUpdate, { args: [actor] });
        await awaitSettled(db.pool, temporal.client, h14);
        await saveSettlement('stuck-paying-force-reset-retried', h14);
        // an alert: opened (its one webhook refused at delivery: a private address), resolved
        const alertMachine = await createMachine(db.pool, op, { name: 'replay alert' });
        const alertId = newId();
        await db.pool.query(
          `INSERT INTO satmachine.alerts (id, operator_user_id, rule, alert_key, subject_type, subject_id, summary)
           VALUES ($1, $2, 'machine_offline', 'machine_offline:' || $3, 'machine', $3, 'replay offline')`,
          [alertId, op.id, alertMachine.row.id],
        );
        const hookId = newId();
        await db.pool.query(
          `INSERT INTO satmachine.alert_webhooks (id, operator_user_id, url, secret_enc) VALUES ($1, $2, 'http://10.0.0.1/h', $3)`,
          [hookId, op.id, secretBox.seal('whsec_replay', sealedColumns.alertWebhookSecret(hookId))],
        );
        const alertHandle = await temporal.client.workflow.start(ALERT_WORKFLOW, {
          workflowId: alertWorkflowId(alertId),
          taskQueue: w.taskQueue,
          args: [{ alert_id: alertId }],
        });
        await eventually(
          async () => (await alertHandle.query(alertPhaseQuery)) === 'open',
          60_000,
          'alert open',
        );
        await alertHandle.signal(resolveAlertSignal);
        await alertHandle.result();
        await save('alert-opened-resolved', alertWorkflowId(alertId));

        // the evaluator: one evaluation, its timer, continue-as-new
        const evaluator = await temporal.client.workflow.start(ALERT_EVALUATOR_WORKFLOW, {
          workflowId: `alert-evaluator-replay-${newId()}`,
          taskQueue: w.taskQueue,
          args: [{ interval_ms: 200, evaluations_per_run: 1 }],
        });
        await eventually(
          async () => (await evaluator.describe()).runId !== evaluator.firstExecutionRunId,
          60_000,
          'evaluator continued as new',
        );
        await save('alert-evaluator-run', evaluator.workflowId, evaluator.firstExecutionRunId);
        await evaluator.terminate('recorded');

        const { hash, files } = workflowCodeHash();
        writeFileSync(HASH_FILE, `${hash}\n${files.map((f) => `# ${f}`).join('\n')}\n`);
      } finally {
        await running.stop();
        await temporal.close();
        await db.close();
      }
    }, 600_000);
  }

  const listHistories = () => [
    ...readdirSync(DIR)
      .filter((f) => f.endsWith('.json'))
      .sort(),
    ...(existsSync(CURRENT) ? readdirSync(CURRENT) : [])
      .filter((f) => f.endsWith('.json'))
      .sort()
      .map((f) => `current/${f}`),
  ];
  // listed when the suite is collected: a recording run replays what it records as it goes
  const files = listHistories();

  it('has recorded histories to replay: every operator action, a fan-out, old and current code', () => {
    const all = listHistories();
    const current = all.filter((f) => f.startsWith('current/')).map((f) => f.slice(8, -5));
    expect(current).toEqual(
      expect.arrayContaining([
        'cash-out-processed',
        'fan-out-child-pages',
        'fan-out-child-pages-page1',
        'errored-note-then-retried',
        'partial-dispense-in-hold',
        'partial-dispense-after-hold-errored',
        'terminated-then-resumed-retry',
        'errored-then-voided',
        'attribution-by-payment-rival-first',
        'stuck-force-reset-retried',
        'closed-wait-resumed-retry',
        'close-while-waiting',
        'closed-wait-resumed-close',
        'errored-signal-note-then-retried',
        'partial-dispense-in-hold-refunded',
        'stuck-paying-force-reset-retried',
        'alert-opened-resolved',
        'alert-evaluator-run',
      ]),
    );
    expect(all.filter((f) => !f.startsWith('current/')).length).toBeGreaterThanOrEqual(6);
  });

  it('the histories were recorded on the current workflow code (WORKFLOW_CODE_HASH)', () => {
    const recorded = existsSync(HASH_FILE) ? readFileSync(HASH_FILE, 'utf8').split('\n')[0]!.trim() : '';
    const { hash, files: sources } = workflowCodeHash();
    if (recorded !== hash) {
      throw new Error(
        `the workflow code changed since test/histories/current/ was recorded ` +
          `(WORKFLOW_CODE_HASH ${recorded || 'missing'}, the code now ${hash}; it covers ${sources.join(', ')}). ` +
          `Re-record the histories: ${RECORD}, and commit test/histories/ with the change. ` +
          'Remember the patched() rule (docs/settlement.md §13): a change that alters the commands a workflow ' +
          "emits goes behind patched('<id>') or a new workflow type, and the histories recorded before it " +
          'are kept (copy a current/ history whose old path you keep to test/histories/<name>-before-<patch id>.json ' +
          'before re-recording) so the old path still replays.',
      );
    }
  });

  it.each(files)('replays %s deterministically with the current workflow code', replay);
});
