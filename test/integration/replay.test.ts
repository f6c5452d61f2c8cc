import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from '@temporalio/worker';
import { execFileSync } from 'node:child_process';
import { resolveTemporalBinary } from '../../src/cli/temporalDevServer';
import { settlementWorkflowId } from '../../src/contract';
import { insertWallet } from '../../src/db/ledger';
import {
  createLp,
  createMachine,
  createOperator,
  createSuper,
  newPaymentHash,
  setDefaultSplits,
} from '../helpers/fixtures';
import { awaitSettled, awaitStatus, sendSettlement } from '../helpers/settle';
import { freshDatabase, temporalClient, testWorker } from '../helpers/stack';
import { WithStartWorkflowOperation } from '@temporalio/client';
import {
  SETTLEMENT_WORKFLOW,
  retryUpdate,
  partialDispenseUpdate,
  voidFailedLegsUpdate,
} from '../../src/contract';

const DIR = join(__dirname, '..', 'histories');

/**
 * Determinism guard (SPEC §8): recorded histories of real settlements are replayed
 * against the current workflow code; a change that breaks replay fails here.
 * `RECORD_HISTORIES=1 npx jest test/integration/replay.test.ts` records them anew.
 * The first three were recorded before the patch `attribution-by-payment` and replay
 * its old path: after re-recording, keep their old files (git checkout) so that path
 * stays covered, and commit only new histories.
 */
describe('workflow replay from recorded histories', () => {
  if (process.env.RECORD_HISTORIES === '1') {
    it('records the histories of real settlements', async () => {
      const db = await freshDatabase();
      const temporal = await temporalClient();
      const w = await testWorker({ pool: db.pool });
      const running = w.start();
      try {
        await createSuper(db.pool);
        const op = await createOperator(db.pool);
        await setDefaultSplits(db.pool, op, [
          { target: (await insertWallet(db.pool, op.id, 'rev')).id, fraction: '1' },
        ]);
        // the temporal CLI writes the JSON history format the SDK replays
        const save = async (name: string, hash: string) => {
          const json = execFileSync(resolveTemporalBinary(), [
            'workflow',
            'show',
            '--workflow-id',
            settlementWorkflowId(hash),
            '--address',
            process.env.SATMACHINE_TEST_TEMPORAL_ADDRESS!,
            '--output',
            'json',
          ]);
          writeFileSync(join(DIR, `${name}.json`), json);
        };
        // 1. a cash-out to 3 LPs, processed
        const m1 = await createMachine(db.pool, op, { name: 'replay cash-out' });
        for (const [i, cents] of [50_000, 30_000, 20_000].entries())
          await createLp(db.pool, m1, { name: `lp${i}`, depositCents: cents });
        const h1 = await sendSettlement(db.pool, temporal.client, w.taskQueue, m1, op, {
          wireSats: 105_000,
          feeSats: 5_000,
          fiat: '100.00',
        });
        await awaitSettled(db.pool, temporal.client, h1);
        await save('cash-out-processed', h1);
        // 2. a failed leg, then a retry after the wallet exists
        const m2 = await createMachine(db.pool, op, { name: 'replay retry' });
        const lp = await createLp(db.pool, m2, { name: 'late', depositCents: 10_000 });
        await db.pool.query(
          `UPDATE satmachine.dca_lp SET dca_wallet_id = 'replaywallet01' WHERE user_id = $1`,
          [lp.userId],
        );
        const h2 = await sendSettlement(db.pool, temporal.client, w.taskQueue, m2, op, {
          wireSats: 10_500,
          feeSats: 500,
          fiat: '10.00',
        });
        await awaitStatus(db.pool, h2, ['errored']);
        await insertWallet(db.pool, lp.userId, 'now', 'replaywallet01');
        await temporal.client.workflow
          .getHandle(settlementWorkflowId(h2))
          .executeUpdate(retryUpdate, { args: [{ user_id: op.id }] });
        await awaitSettled(db.pool, temporal.client, h2);
        await save('errored-then-retried', h2);
        // 3. a partial dispense during the hold
        const m3 = await createMachine(db.pool, op, { name: 'replay hold', delaySeconds: 3 });
        await createLp(db.pool, m3, { name: 'held', depositCents: 100_000 });
        const h3 = await sendSettlement(db.pool, temporal.client, w.taskQueue, m3, op, {
          wireSats: 52_500,
          feeSats: 2_500,
          fiat: '50.00',
        });
        await awaitStatus(db.pool, h3, ['processing']);
        await new Promise((r) => setTimeout(r, 500));
        await temporal.client.workflow
          .getHandle(settlementWorkflowId(h3))
          .executeUpdate(partialDispenseUpdate, {
            args: [{ user_id: op.id, fiat_amount_cents: 2_000, note: 'jam' }],
          });
        await awaitSettled(db.pool, temporal.client, h3);
        await save('partial-dispense-in-hold', h3);
        // 4. errored, terminated by ops, retried through a resumed run (update-with-start, as the API does)
        const m4 = await createMachine(db.pool, op, { name: 'replay resumed' });
        const lp4 = await createLp(db.pool, m4, { name: 'late4', depositCents: 10_000 });
        await db.pool.query(
          `UPDATE satmachine.dca_lp SET dca_wallet_id = 'replaywallet04' WHERE user_id = $1`,
          [lp4.userId],
        );
        const h4 = await sendSettlement(db.pool, temporal.client, w.taskQueue, m4, op, {
          wireSats: 10_500,
          feeSats: 500,
          fiat: '10.00',
        });
        await awaitStatus(db.pool, h4, ['errored']);
        await temporal.client.workflow.getHandle(settlementWorkflowId(h4)).terminate('ops');
        await insertWallet(db.pool, lp4.userId, 'now', 'replaywallet04');
        await temporal.client.workflow.executeUpdateWithStart(retryUpdate, {
          args: [{ user_id: op.id }],
          startWorkflowOperation: new WithStartWorkflowOperation(SETTLEMENT_WORKFLOW, {
            workflowId: settlementWorkflowId(h4),
            taskQueue: w.taskQueue,
            args: [{ payment_hash: h4, resume: true }],
            workflowIdConflictPolicy: 'USE_EXISTING',
            workflowIdReusePolicy: 'ALLOW_DUPLICATE',
          }),
        });
        await awaitSettled(db.pool, temporal.client, h4);
        await save('terminated-then-resumed-retry', h4);
        // 5. errored, its failed leg voided by the operator
        const m5 = await createMachine(db.pool, op, { name: 'replay void' });
        const lp5 = await createLp(db.pool, m5, { name: 'gone5', depositCents: 10_000 });
        await db.pool.query(
          `UPDATE satmachine.dca_lp SET dca_wallet_id = 'replaywallet05' WHERE user_id = $1`,
          [lp5.userId],
        );
        const h5 = await sendSettlement(db.pool, temporal.client, w.taskQueue, m5, op, {
          wireSats: 10_500,
          feeSats: 500,
          fiat: '10.00',
        });
        await awaitStatus(db.pool, h5, ['errored']);
        await temporal.client.workflow
          .getHandle(settlementWorkflowId(h5))
          .executeUpdate(voidFailedLegsUpdate, { args: [{ user_id: op.id, note: 'paid by hand' }] });
        await awaitSettled(db.pool, temporal.client, h5);
        await save('errored-then-voided', h5);
        // 6. attribution by payment (patch attribution-by-payment): a rival machine signs first
        const m6 = await createMachine(db.pool, op, { name: 'replay rival first' });
        const rival6 = await createMachine(db.pool, op, { name: 'replay rival' });
        await createLp(db.pool, m6, { name: 'payee', depositCents: 100_000 });
        const h6 = newPaymentHash();
        await sendSettlement(db.pool, temporal.client, w.taskQueue, m6, op, {
          wireSats: 21_000,
          feeSats: 1_000,
          fiat: '20.00',
          paymentHash: h6,
          signerSecretHex: rival6.secretHex,
        });
        await sendSettlement(db.pool, temporal.client, w.taskQueue, m6, op, {
          wireSats: 21_000,
          feeSats: 1_000,
          fiat: '20.00',
          paymentHash: h6,
        });
        await awaitSettled(db.pool, temporal.client, h6);
        await save('attribution-by-payment-rival-first', h6);
      } finally {
        await running.stop();
        await temporal.close();
        await db.close();
      }
    });
  }

  const files = readdirSync(DIR).filter((f) => f.endsWith('.json'));

  it('has recorded histories to replay', () => {
    expect(files.length).toBeGreaterThanOrEqual(4);
  });

  it.each(files)('replays %s deterministically with the current workflow code', async (file) => {
    const history: unknown = JSON.parse(readFileSync(join(DIR, file), 'utf8'));
    await Worker.runReplayHistory(
      { workflowBundle: { codePath: process.env.SATMACHINE_TEST_BUNDLE! } },
      history,
      `replay-${file}`,
    );
  });
});
