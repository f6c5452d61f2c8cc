import { startRelay, type RunningRelay } from '../../src/relay/relayServer';
import { freePort } from '../helpers/ports';
import { freshDatabase, temporalClient, testLogger, uniqueTaskQueue } from '../helpers/stack';
import {
  batchUnderFault,
  buildFleet,
  expectMidPayment,
  killAll,
  legProgress,
  planBatch,
  reach,
  seededRng,
  sleep,
  spawnOnStage,
  type Fleet,
  type Stage,
} from './faultKit';

type Progress = { pending: number; completed: number };

/**
 * Fault: the worker process is killed with SIGKILL four times while a batch of
 * settlements is verified, planned and paid (random, seeded delays), the ingest once;
 * each is restarted at once; the last kill must land while that worker pays legs.
 * Not a permanent fault: every settlement must end `processed`, no leg paid twice,
 * sats conserved, the ledger balanced, every leg and wallet balance as the
 * independent reference says (test/helpers/batchOracle.ts).
 */
describe('fault: worker (and ingest) killed with SIGKILL at random points of a batch', () => {
  const rng = seededRng('workerKills');
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let temporal: Awaited<ReturnType<typeof temporalClient>>;
  let relay: RunningRelay;
  let fleet: Fleet;
  let stage: Stage;

  beforeAll(async () => {
    db = await freshDatabase();
    temporal = await temporalClient();
    fleet = await buildFleet(db.pool, { machines: 3, lps: 4 });
    relay = await startRelay({ pool: db.pool, logger: testLogger, port: await freePort() });
    stage = {
      pool: db.pool,
      databaseUrl: db.url,
      client: temporal.client,
      taskQueue: uniqueTaskQueue('fault-kill'),
      relayUrl: relay.url,
      fleet,
      processes: { worker: [], ingest: [] },
    };
  });
  afterAll(async () => {
    if (stage) await killAll(stage);
    await relay?.close();
    await temporal?.close();
    await db?.close();
  });

  it('lands mid-payment; every settlement ends processed with the reference’s legs and balances, no leg paid twice, ledger balanced', async () => {
    const batch = planBatch(fleet, rng, { cashOuts: 24, cashIns: 6 });
    // four kills: early (signals, verification), once legs are planned, at random, and
    // while this worker pays legs (it paid one since the last kill, others wait); each
    // after a random delay (a point already passed: the kill lands wherever the batch is)
    const points: { what: string; at: (p: Progress, last: Progress) => boolean }[] = [
      { what: 'anywhere', at: () => true },
      { what: 'legs planned', at: (p) => p.pending + p.completed > 0 },
      { what: 'anywhere', at: () => true },
      {
        what: 'this worker paid a leg and others are pending',
        at: (p, last) => p.completed > last.completed && p.pending > 0,
      },
    ];
    const ingestKillAt = rng.int(0, 2);
    const kills: string[] = [];
    const killedAt: Progress[] = [];
    await batchUnderFault(stage, batch, 200, async () => {
      let last: Progress = { pending: 0, completed: 0 };
      for (const [k, point] of points.entries()) {
        await sleep(rng.int(200, 2500));
        const at = await reach(`kill ${k + 1} (${point.what})`, async () => {
          const p = await legProgress(db.pool);
          return point.at(p, last) ? p : null;
        });
        await stage.processes.worker.at(-1)!.kill('SIGKILL');
        // no worker runs now: what is pending stays pending until the next one
        const after = await legProgress(db.pool);
        killedAt.push(at);
        kills.push(
          `kill ${k + 1}: ${at.pending} legs pending, ${at.completed} completed (after the kill: ${after.pending}, ${after.completed})`,
        );
        last = after;
        if (k === ingestKillAt) {
          await stage.processes.ingest.at(-1)!.kill('SIGKILL');
          await Promise.all([spawnOnStage(stage, 'worker'), spawnOnStage(stage, 'ingest')]);
        } else await spawnOnStage(stage, 'worker');
      }
      process.stderr.write(`[workerKills] ${kills.join('; ')}\n`);
      // the last kill landed on a worker in the middle of paying legs
      expectMidPayment(killedAt[3]!, 'kill 4');
    });
  }, 240_000);
});
