import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { startTemporalDevServer, type RunningDevServer } from '../../src/cli/temporalDevServer';
import type { RunningRelay } from '../../src/relay/relayServer';
import { freePort } from '../helpers/ports';
import { freshDatabase, testLogger } from '../helpers/stack';
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

/**
 * Fault: the Temporal server goes away in the middle of a batch and comes back on
 * the same address with the same (file-backed) state. A dedicated dev server, never
 * the shared one; worker and ingest run as OS processes pointed at it and must live
 * through the outage. The stop must land while legs are mid-payment. Not a permanent
 * fault: every settlement must end `processed`, no leg paid twice, sats conserved,
 * the ledger balanced, every leg and wallet balance as the independent reference
 * says (test/helpers/batchOracle.ts).
 */
describe('fault: the Temporal server restarts in the middle of a batch', () => {
  const rng = seededRng('temporalRestart');
  const dir = mkdtempSync(join(tmpdir(), 'satmachine-fault-temporal-'));
  let serverOptions: Parameters<typeof startTemporalDevServer>[0];
  let server: RunningDevServer | null = null;
  let connection: Connection;
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let relay: RunningRelay;
  let fleet: Fleet;
  let stage: Stage;
  let closing = false; // a timed-out test must not start a server after afterAll

  beforeAll(async () => {
    chmodSync(dir, 0o755);
    serverOptions = {
      dataDir: dir, // --db-filename under it: the state survives the restart
      host: '127.0.0.1',
      port: await freePort(),
      uiPort: await freePort(),
      namespace: 'default',
      logger: testLogger,
    };
    [server, db] = await Promise.all([startTemporalDevServer(serverOptions), freshDatabase()]);
    connection = await Connection.connect({ address: server.address });
    ({ stage, relay, fleet } = await startStage({
      pool: db.pool,
      databaseUrl: db.url,
      client: new Client({ connection, namespace: 'default' }),
      taskQueuePrefix: 'fault-temporal',
      env: { TEMPORAL_ADDRESS: server.address },
    }));
  });
  afterAll(async () => {
    closing = true;
    if (stage) await killAll(stage);
    await relay?.close();
    await connection?.close();
    await server?.stop();
    await db?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('lands mid-payment; every settlement ends processed with the reference’s legs and balances, no leg paid twice, ledger balanced', async () => {
    const batch = planBatch(fleet, rng, { cashOuts: 22, cashIns: 6 });
    const { worker, ingest } = await batchUnderFault(stage, batch, 300, async () => {
      const at = await midPaymentMoment(db.pool, rng, 'the Temporal stop');
      const downFor = rng.int(2000, 8000);
      process.stderr.write(
        `[temporalRestart] stopping Temporal with ${at.processed}/${batch.length} processed, ${at.pending} legs pending and ${at.completed} completed, for ${downFor} ms\n`,
      );
      await server!.stop();
      server = null;
      await sleep(downFor);
      if (closing) return;
      server = await startTemporalDevServer(serverOptions);
    });
    // nobody restarted them: they lived through the outage
    expect(worker.proc.exitCode).toBeNull();
    expect(ingest.proc.exitCode).toBeNull();
  }, 240_000);
});
