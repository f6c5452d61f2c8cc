import { startRelay, type RunningRelay } from '../../src/relay/relayServer';
import { freePort } from '../helpers/ports';
import { freshDatabase, temporalClient, testLogger, uniqueTaskQueue } from '../helpers/stack';
import {
  batchUnderFault,
  buildFleet,
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
 * each is restarted at once. Not a permanent fault: every settlement must end
 * `processed`, no leg paid twice, sats conserved, the ledger balanced.
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
      processes: { worker: [], ingest: [] },
    };
  });
  afterAll(async () => {
    if (stage) await killAll(stage);
    await relay?.close();
    await temporal?.close();
    await db?.close();
  });

  it('every settlement ends processed: no leg paid twice, sats conserved, ledger balanced', async () => {
    const batch = planBatch(fleet, rng, { cashOuts: 24, cashIns: 6 });
    // four kills: early (signals, verification), once legs are planned, at random, and
    // while this worker pays legs (it paid one since the last kill, others wait); each
    // after a random delay (a point already passed: the kill lands wherever the batch is)
    const points: ((p: Progress, last: Progress) => boolean)[] = [
      () => true,
      (p) => p.pending + p.completed > 0,
      () => true,
      (p, last) => p.completed > last.completed && p.pending > 0,
    ];
    const ingestKillAt = rng.int(0, 2);
    const kills: string[] = [];
    await batchUnderFault(stage, batch, 200, async () => {
      let last: Progress = { pending: 0, completed: 0 };
      for (const [k, point] of points.entries()) {
        await sleep(rng.int(200, 2500));
        await reach(async () => point(await legProgress(db.pool), last));
        last = await legProgress(db.pool);
        kills.push(`kill ${k + 1}: ${last.pending} legs pending, ${last.completed} completed`);
        await stage.processes.worker.at(-1)!.kill('SIGKILL');
        if (k === ingestKillAt) {
          await stage.processes.ingest.at(-1)!.kill('SIGKILL');
          await Promise.all([spawnOnStage(stage, 'worker'), spawnOnStage(stage, 'ingest')]);
        } else await spawnOnStage(stage, 'worker');
      }
      process.stderr.write(`[workerKills] ${kills.join('; ')}\n`);
    });
  }, 240_000);
});
