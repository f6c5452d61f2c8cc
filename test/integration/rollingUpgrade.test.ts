import { randomBytes } from 'node:crypto';
import type { WorkflowHandle } from '@temporalio/client';
import { Worker, bundleWorkflowCode } from '@temporalio/worker';
import { settlementWorkflowId } from '../../src/contract';
import { ledgerInvariantViolations } from '../../src/db/ledger';
import { SettlementSignals } from '../../src/ingest/settlementSignals';
import { buildSettlementEvent } from '../../src/nostr/codec';
import { WORKFLOW_SANDBOX_PRELOAD, WORKFLOWS_PATH } from '../../src/worker/worker';
import { setCurrentVersion } from '../../src/worker/versioning';
import { UPGRADE_PATCH_ID } from '../fixtures/upgradePatch';
import {
  createLp,
  createMachine,
  ledgerFor,
  newPaymentHash,
  settlementContent,
  type Machine,
  type Operator,
  createSuperAndOperator,
} from '../helpers/fixtures';
import { awaitSettled, legsOf, sendSettlement, settlementByHash } from '../helpers/settle';
import { eventually, freshDatabase, temporalClient, testWorker, uniqueTaskQueue } from '../helpers/stack';

type History = Awaited<ReturnType<WorkflowHandle['fetchHistory']>>;

/** The build id of every completed workflow task, in history order. */
function taskBuilds(history: History): string[] {
  return (history.events ?? [])
    .filter((e) => e.workflowTaskCompletedEventAttributes)
    .map((e) => e.workflowTaskCompletedEventAttributes!.deploymentVersion?.buildId ?? 'unversioned');
}

/** Patches every settlement started on the current code records (both builds have them). */
const BASE_PATCHES = ['attribution-by-payment'];

/** The ids of the patch markers recorded in a history, but for those of both builds. */
function patchMarkers(history: History): string[] {
  return (history.events ?? [])
    .filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_patch')
    .map((e) => {
      const data = e.markerRecordedEventAttributes!.details?.['patch-data']?.payloads?.[0]?.data;
      return (JSON.parse(Buffer.from(data!).toString('utf8')) as { id: string }).id;
    })
    .filter((id) => !BASE_PATCHES.includes(id));
}

/**
 * One ATM transaction split in its two halves, so a test can deliver one now (on the
 * old build) and the other later (on the new one).
 */
function halves(
  pool: Parameters<typeof ledgerFor>[0],
  signals: SettlementSignals,
  machine: Machine,
  operator: Operator,
) {
  const hash = newPaymentHash();
  const wireSats = 200_000 + Math.floor(Math.random() * 1000);
  const event = buildSettlementEvent(
    machine.secretHex,
    operator.pubkey,
    settlementContent({ paymentHash: hash, wireSats, feeSats: 8_000, fiat: '200.00' }),
  );
  const payment = {
    wallet_id: machine.walletId,
    payment_hash: hash,
    amount_sats: wireSats,
    direction: 'incoming' as const,
  };
  return {
    hash,
    wireSats,
    event: async () => {
      await signals.atmEvent(hash, { event });
    },
    payment: async () => {
      await ledgerFor(pool).recordLightningPayment(payment);
      await signals.paymentObserved(payment);
    },
  };
}

/**
 * Deploying a workflow change with Worker Versioning (AUTO_UPGRADE) and `patched()`:
 * build A runs settlements, build B (the same workflows plus a patched change) becomes
 * the current version while settlements wait for their second signal, A shuts down,
 * and every settlement completes on B with every leg paid once.
 */
describe('a rolling upgrade of the worker while settlements are in flight', () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let temporal: Awaited<ReturnType<typeof temporalClient>>;
  let operator: Operator;
  let bundleB: { code: string };
  let unpatched: { code: string };
  const taskQueue = uniqueTaskQueue('upgrade');
  // a deployment of its own: test files share the dev server, and "current" is per deployment
  const deploymentName = `satm-${randomBytes(4).toString('hex')}`;
  const A = { deploymentName, buildId: '0.1.0+aaaaaaa' };
  const B = { deploymentName, buildId: '0.1.1+bbbbbbb' };

  beforeAll(async () => {
    db = await freshDatabase();
    temporal = await temporalClient();
    operator = await createSuperAndOperator(db.pool);
    const bundle = (module: string) =>
      bundleWorkflowCode({
        workflowsPath: WORKFLOWS_PATH,
        preloadModules: WORKFLOW_SANDBOX_PRELOAD,
        workflowInterceptorModules: [require.resolve(module)],
        logger: { trace() {}, debug() {}, info() {}, warn() {}, error() {}, log() {} },
      });
    bundleB = await bundle('../fixtures/upgradePatch');
    unpatched = await bundle('../fixtures/upgradeUnpatched');
  });
  afterAll(async () => {
    await temporal.close();
    await db.close();
  });

  it('old build runs settlements, new build takes over, all complete, every leg paid once', async () => {
    const machine = await createMachine(db.pool, operator, { name: 'upgraded' });
    for (let i = 0; i < 3; i++)
      await createLp(db.pool, machine, { name: `lp${i}`, depositCents: 5_000 + i * 333 });
    const signals = new SettlementSignals(temporal.client, taskQueue);
    const handle = (hash: string) => temporal.client.workflow.getHandle(settlementWorkflowId(hash));

    // ---- build A is the current version and settles one transaction on its own
    const oldWorker = (await testWorker({ pool: db.pool, taskQueue, deployment: A })).start();
    let oldStopped = false;
    let newWorker: { stop: () => Promise<void> } | null = null;
    try {
      expect(await setCurrentVersion(temporal.client.connection, 'default', A)).toBeNull();
      const before = await sendSettlement(db.pool, temporal.client, taskQueue, machine, operator, {
        wireSats: 150_000,
        feeSats: 6_000,
        fiat: '150.00',
      });
      expect((await awaitSettled(db.pool, temporal.client, before)).status).toBe('processed');

      // ---- settlements in flight on A: each has one of its two signals, processed by A
      const inFlight = [0, 1, 2, 3, 4, 5].map(() => halves(db.pool, signals, machine, operator));
      for (const [i, s] of inFlight.entries()) await (i % 2 === 0 ? s.event() : s.payment());
      for (const s of inFlight)
        await eventually(
          async () => {
            const h = await handle(s.hash).fetchHistory();
            const events = h.events ?? [];
            const signalled = events.findIndex((e) => e.workflowExecutionSignaledEventAttributes);
            const lastTask = events.map((e) => !!e.workflowTaskCompletedEventAttributes).lastIndexOf(true);
            return signalled >= 0 && lastTask > signalled && taskBuilds(h).every((b) => b === A.buildId);
          },
          30_000,
          `settlement ${s.hash.slice(0, 8)} waiting on build A`,
        );

      // ---- build B starts, becomes current; A shuts down
      newWorker = (
        await testWorker({ pool: db.pool, taskQueue, deployment: B, workflowBundle: bundleB })
      ).start();
      expect(await setCurrentVersion(temporal.client.connection, 'default', B)).toBe(
        `${deploymentName}.${A.buildId}`,
      );
      await oldWorker.stop();
      oldStopped = true;

      // ---- the second halves arrive: B finishes every settlement
      for (const [i, s] of inFlight.entries()) await (i % 2 === 0 ? s.payment() : s.event());
      for (const s of inFlight)
        expect((await awaitSettled(db.pool, temporal.client, s.hash)).status).toBe('processed');

      // each in-flight settlement: started on A, finished on B, with B's patched change recorded
      for (const s of inFlight) {
        const h = await handle(s.hash).fetchHistory();
        const builds = taskBuilds(h);
        expect(builds[0]).toBe(A.buildId);
        expect(builds[builds.length - 1]).toBe(B.buildId);
        expect(builds.indexOf(B.buildId)).toBeGreaterThan(0);
        expect(builds.slice(builds.indexOf(B.buildId)).every((b) => b === B.buildId)).toBe(true);
        // B's patch once (the product's own patches, e.g. attribution-by-payment, may be there too)
        expect(patchMarkers(h).filter((m) => m === UPGRADE_PATCH_ID)).toHaveLength(1);
        const d = await handle(s.hash).describe();
        expect(d.memo).toEqual({
          upgraded_signal: inFlight.indexOf(s) % 2 === 0 ? 'paymentObserved' : 'atmEvent',
        });
        expect(d.raw.workflowExecutionInfo?.versioningInfo?.deploymentVersion?.buildId).toBe(B.buildId);
        // B's code replays the whole mixed history deterministically (replay worker, no server)
        await Worker.runReplayHistory({ workflowBundle: bundleB }, h, `replay-${s.hash.slice(0, 8)}`);
      }
      // the same change without patched() cannot replay what A wrote: the reason for the rule
      await expect(
        Worker.runReplayHistory(
          { workflowBundle: unpatched },
          await handle(inFlight[0]!.hash).fetchHistory(),
          'replay-unpatched',
        ),
      ).rejects.toThrow(/[Nn]ondetermin/);
      // the settlement A finished alone has no marker of B's patch, and B's code replays it too
      const beforeHistory = await handle(before).fetchHistory();
      expect(new Set(taskBuilds(beforeHistory))).toEqual(new Set([A.buildId]));
      expect(patchMarkers(beforeHistory)).not.toContain(UPGRADE_PATCH_ID);
      await Worker.runReplayHistory({ workflowBundle: bundleB }, beforeHistory, 'replay-before');

      // ---- money: every leg paid exactly once, sats conserved, ledger balanced
      for (const s of [...inFlight, { hash: before, wireSats: 150_000 }]) {
        const row = (await settlementByHash(db.pool, s.hash))!;
        const legs = await legsOf(db.pool, row.id);
        expect(legs.length).toBeGreaterThan(1);
        expect(legs.every((l) => l.status === 'completed')).toBe(true);
        expect(legs.reduce((a, l) => a + l.amount_sats, 0)).toBe(s.wireSats);
        const { rows } = await db.pool.query<{ key: string; n: number }>(
          `SELECT idempotency_key AS key, count(*)::int AS n FROM satmachine.ledger_transfers
            WHERE idempotency_key = ANY($1) GROUP BY idempotency_key`,
          [legs.map((l) => l.id)],
        );
        expect(rows.length).toBe(legs.length);
        expect(rows.every((r) => r.n === 1)).toBe(true);
      }
      expect((await ledgerFor(db.pool).getWallet(machine.walletId))!.balance_sats).toBe(0);
      expect(await ledgerInvariantViolations(db.pool)).toEqual([]);
    } finally {
      if (!oldStopped) await oldWorker.stop();
      await newWorker?.stop();
    }
  });
});
