import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureDatabase } from '../../src/db/embeddedPostgres';
import { migrate } from '../../src/db/migrate';
import { createPool, type Pool } from '../../src/db/pool';
import type { RunningRelay } from '../../src/relay/relayServer';
import { freePort } from '../helpers/ports';
import { temporalClient } from '../helpers/stack';
import {
  batchUnderFault,
  killAll,
  midPaymentMoment,
  startStage,
  planBatch,
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
    // a port free a moment ago can be taken before PostgreSQL binds it (another test's
    // server, or the local end of an outgoing connection: freePort's ports are ephemeral
    // ones); the cluster is started on a fresh port then, up to three times
    for (let attempt = 1; ; attempt++) {
      pgPort = await freePort();
      try {
        pg = await startPostgresProcess(pgDir, pgPort);
        break;
      } catch (err) {
        if (attempt === 3) throw err;
        process.stderr.write(`[postgresOutage] PostgreSQL did not start on ${pgPort}; another port\n`);
      }
    }
    await ensureDatabase(pg.url('postgres'), 'satmachine');
    pool = createPool({ connectionString: pg.url('satmachine'), max: 20, applicationName: 'fault-test' });
    await migrate(pool);
    temporal = await temporalClient();
    ({ stage, relay, fleet } = await startStage({
      pool,
      databaseUrl: pg.url('satmachine'),
      client: temporal.client,
      taskQueuePrefix: 'fault-pg',
    }));
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
      const at = await midPaymentMoment(pool, rng, 'the PostgreSQL stop');
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
