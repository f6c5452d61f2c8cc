import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureDatabase } from '../../src/db/embeddedPostgres';
import { migrate } from '../../src/db/migrate';
import { createPool, type Pool } from '../../src/db/pool';
import { startRelay, type RunningRelay } from '../../src/relay/relayServer';
import { freePort } from '../helpers/ports';
import { temporalClient, testLogger, uniqueTaskQueue } from '../helpers/stack';
import {
  batchUnderFault,
  buildFleet,
  killAll,
  planBatch,
  expectMidPayment,
  midPayment,
  reach,
  seededRng,
  sleep,
  type Fleet,
  type Stage,
} from './faultKit';
import { startPostgresProcess, type PostgresProcess } from './postgresProcess';

const OUTAGE_MS = 20_000;

/**
 * Fault: PostgreSQL stops for 20 s in the middle of a batch and starts again on the
 * same port and data directory. A dedicated embedded cluster (startEmbeddedPostgres,
 * run by test/fault/postgresProcess.ts), never the shared one; worker, ingest and
 * relay use it, and the worker and ingest processes must live through the outage.
 * The stop must land while legs are mid-payment. Not a permanent fault: every
 * settlement must end `processed`, no leg paid twice, sats conserved, the ledger
 * balanced, every leg and wallet balance as the independent reference says
 * (test/helpers/batchOracle.ts).
 */
describe('fault: PostgreSQL stops for 20 s in the middle of a batch', () => {
  const rng = seededRng('postgresOutage');
  const dir = mkdtempSync(join(tmpdir(), 'satmachine-fault-pg-'));
  const pgDir = join(dir, 'pg');
  let pgPort: number;
  let pg: PostgresProcess | null = null;
  let pool: Pool;
  let temporal: Awaited<ReturnType<typeof temporalClient>>;
  let relay: RunningRelay;
  let fleet: Fleet;
  let stage: Stage;
  let closing = false; // a timed-out test must not start a server after afterAll

  beforeAll(async () => {
    chmodSync(dir, 0o755); // PostgreSQL runs as the `postgres` OS user when we are root
    pgPort = await freePort();
    pg = await startPostgresProcess(pgDir, pgPort);
    await ensureDatabase(pg.url('postgres'), 'satmachine');
    pool = createPool({ connectionString: pg.url('satmachine'), max: 20, applicationName: 'fault-test' });
    await migrate(pool);
    temporal = await temporalClient();
    fleet = await buildFleet(pool, { machines: 3, lps: 4 });
    relay = await startRelay({ pool, logger: testLogger, port: await freePort() });
    stage = {
      pool,
      databaseUrl: pg.url('satmachine'),
      client: temporal.client,
      taskQueue: uniqueTaskQueue('fault-pg'),
      relayUrl: relay.url,
      fleet,
      processes: { worker: [], ingest: [] },
    };
  });
  afterAll(async () => {
    closing = true;
    if (stage) await killAll(stage);
    await relay?.close();
    await temporal?.close();
    await pool?.end();
    await pg?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('lands mid-payment; every settlement ends processed with the reference’s legs and balances, no leg paid twice, ledger balanced', async () => {
    const batch = planBatch(fleet, rng, { cashOuts: 22, cashIns: 6 });
    const { worker, ingest } = await batchUnderFault(stage, batch, 300, async () => {
      // once the batch is under way: some settlements paid, others still arriving
      const target = rng.int(2, 8);
      await sleep(rng.int(0, 500));
      // ... and legs mid-payment at that moment (paid ones and pending ones), or the test fails
      const at = await reach(`${target} settlements processed with legs mid-payment`, async () => {
        const m = await midPayment(pool);
        return m && m.processed >= target ? m : null;
      });
      expectMidPayment(at, 'the PostgreSQL stop');
      process.stderr.write(
        `[postgresOutage] stopping PostgreSQL with ${at.processed}/${batch.length} processed, ${at.pending} legs pending and ${at.completed} completed, for ${OUTAGE_MS} ms\n`,
      );
      await pg!.stop();
      pg = null;
      await sleep(OUTAGE_MS);
      if (closing) return;
      pg = await startPostgresProcess(pgDir, pgPort);
    });
    // nobody restarted them: they lived through the outage
    expect(worker.proc.exitCode).toBeNull();
    expect(ingest.proc.exitCode).toBeNull();
  }, 240_000);
});
