import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { seedDemo, demoFilePath, type DemoFile } from '../../src/cli/demo';
import { startMachineHeartbeat } from '../../src/cli/demoMachine';
import { demoScenario } from '../../src/cli/demoScenario';
import { runSimulation } from '../../src/cli/simulate';
import { startIngest, type RunningIngest } from '../../src/ingest/ingestService';
import { startRelay, type RunningRelay } from '../../src/relay/relayServer';
import { startApi, type TestApi } from '../helpers/api';
import { ledgerFor, secretBox } from '../helpers/fixtures';
import { freePort } from '../helpers/ports';
import { awaitStatus, legsOf } from '../helpers/settle';
import { eventually, freshDatabase, temporalClient, testLogger, testWorker } from '../helpers/stack';

/**
 * `npm start -- --demo` then `simulate --demo`, as a new operator runs them: the seeded
 * fleet, its beacons, a day of mixed settlements paid in whole bills, the airport
 * machine's hold and its unpayable leg.
 */
describe('the demo', () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let temporal: Awaited<ReturnType<typeof temporalClient>>;
  let worker: { stop: () => Promise<void> };
  let relay: RunningRelay;
  let ingest: RunningIngest;
  let api: TestApi;
  let dataDir: string;

  beforeAll(async () => {
    db = await freshDatabase();
    temporal = await temporalClient();
    const w = await testWorker({ pool: db.pool });
    worker = w.start();
    relay = await startRelay({ pool: db.pool, logger: testLogger, port: await freePort() });
    api = await startApi({
      pool: db.pool,
      temporal: temporal.client,
      taskQueue: w.taskQueue,
      relays: [relay.url],
    });
    dataDir = mkdtempSync(join(tmpdir(), 'satmachine-demo-'));
    ingest = await startIngest({
      pool: db.pool,
      client: temporal.client,
      relays: [relay.url],
      taskQueue: w.taskQueue,
      secretBox,
      payments: ledgerFor(db.pool),
      logger: testLogger,
      keyRefreshMs: 500,
    });
  });
  afterAll(async () => {
    await ingest.stop();
    await api.close();
    await relay.close();
    await worker.stop();
    await temporal.close();
    await db.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('seeds two machines, keeps them online and plays mixed settlements with a hold and a failure', async () => {
    const lines = await seedDemo(db.pool, secretBox, {
      apiUrl: api.url,
      relays: [relay.url],
      log: testLogger,
      dataDir,
      airportHoldSeconds: 3,
    });
    expect(lines.join('\n')).toContain('simulate --demo');
    const demo = JSON.parse(readFileSync(demoFilePath(dataDir), 'utf8')) as DemoFile;
    expect(demo.machines!.map((m) => m.name)).toEqual(['Lobby ATM', 'Airport ATM']);
    // the ingest knows both keys before the machines speak
    await eventually(
      async () => ingest.keys.machines.size === 2,
      30_000,
      'the ingest to know both machine keys',
    );

    const scenario = await demoScenario(demo, { apiUrl: api.url, fiatCents: [2000, 3000], log: testLogger });
    const heartbeat = startMachineHeartbeat(scenario.machines, [relay.url], testLogger, 60_000);
    const auth = { authorization: `Bearer ${demo.operator_api_key}` };
    try {
      // both machines online in the fleet view, from their beacons
      await eventually(
        async () => {
          const res = await fetch(`${api.url}/api/v1/machines`, { headers: auth });
          const machines = (await res.json()) as { status: { online: boolean; version: string | null } }[];
          return (
            machines.length === 2 &&
            machines.every((m) => m.status.online && m.status.version === 'satmachine-simulator')
          );
        },
        30_000,
        'both machines online',
      );

      const sim = await runSimulation({
        apiUrl: api.url,
        apiKey: demo.super_api_key,
        relays: [relay.url],
        machineSecretHex: demo.machine_secret,
        operatorPubkeyHex: demo.operator_pubkey,
        machineWalletId: demo.machine_wallet_id,
        count: 6,
        rate: 5,
        txType: 'cash_out',
        fiatCode: 'USD',
        fiatCents: [2000, 3000],
        satsPerUnit: 1500,
        feeFraction: 0.05,
        order: 'together',
        logger: testLogger,
        plan: scenario.plan,
      });
      expect(sim.errors).toEqual([]);
      sim.settlements.sort((a, b) => a.index - b.index);
      expect(sim.settlements.map((s) => s.tx_type)).toEqual([
        'cash_out',
        'cash_out',
        'cash_out',
        'cash_in',
        'cash_out',
        'cash_out',
      ]);
      // cash-outs are whole bills the cassettes hold (20s and 50s at the lobby, 20s and 100s at the airport)
      for (const s of sim.settlements) expect(s.fiat_cents % 1000).toBe(0);

      const byHash = sim.settlements.map((s) => s.payment_hash);
      // the five lobby settlements are processed
      for (const hash of byHash.slice(0, 5)) {
        const s = await awaitStatus(db.pool, hash, ['processed', 'errored', 'rejected'], 90_000);
        expect([s.tx_type, s.status, s.error_message ?? s.notes]).toEqual([s.tx_type, 'processed', null]);
      }
      // the airport's (the sixth) holds, then its LP's autoforward cannot be paid: errored
      const airport = await awaitStatus(db.pool, byHash[5]!, ['errored'], 120_000);
      expect(airport.machine_id).toBe(demo.machines![1]!.id);
      const legs = await legsOf(db.pool, airport.id);
      expect(legs.find((l) => l.leg_type === 'autoforward')?.status).toBe('failed');
      expect(legs.find((l) => l.leg_type === 'dca')?.status).toBe('completed');

      // the lobby's cassettes report what it dispensed
      const res = await fetch(`${api.url}/api/v1/machines/${demo.machine_id}/cassettes`, { headers: auth });
      const cassettes = (await res.json()) as {
        positions: { position: number; reported: { count: number | null } }[];
      };
      const dispensed = sim.settlements
        .slice(0, 5)
        .filter((s) => s.tx_type === 'cash_out')
        .reduce((a, s) => a + s.fiat_cents / 100, 0);
      const left = cassettes.positions.map((p) => p.reported.count ?? 0);
      expect(400 * 20 + 200 * 50 - (left[0]! * 20 + left[1]! * 50)).toBe(dispensed);
    } finally {
      heartbeat.stop();
    }
  }, 240_000);
});
