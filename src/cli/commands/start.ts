import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../../config';
import { LEGACY_PASSWORD, ensureDatabase, startEmbeddedPostgres } from '../../db/embeddedPostgres';
import { migrate } from '../../db/migrate';
import { resealLegacySecrets } from '../../db/sealedSecrets';
import { createPool } from '../../db/pool';
import type { Logger } from '../../logger';
import type { ParsedArgs } from '../args';
import { ensureConsoleBuilt } from '../consoleBuild';
import { demoFilePath, seedDemo, type DemoFile } from '../demo';
import { SimulatedMachine, startMachineHeartbeat } from '../demoMachine';
import { demoMachines } from '../demoScenario';
import { loadPgPassword, pgPasswordFile, relayUrls, loadSecretBox, temporalTarget } from '../runtime';
import { temporalConnectionOptions } from '../../temporalClient';
import { SupervisedProcess } from '../supervisor';
import { startTemporalDevServer } from '../temporalDevServer';
import { startTemporalServer } from '../temporalServer';

async function waitReady(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const res = await fetch(url);
      if (res.ok) return;
      last = `${res.status} ${await res.text()}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`${url} not ready after ${timeoutMs / 1000}s (${last})`);
}

/**
 * `satmachine start`: the whole stack on embedded defaults, supervised — PostgreSQL,
 * migrations, the Temporal dev server, a Nostr relay, then the worker, the ingest
 * and the API as child processes. Ctrl-C / SIGTERM stops everything; data stays
 * under the data directory for the next start.
 */
export async function startCommand(config: Config, log: Logger, args: ParsedArgs): Promise<void> {
  // an external cluster's TLS files are read now: a wrong path stops here, before anything starts
  if (config.temporal.address) temporalConnectionOptions(temporalTarget(config));
  const stops: { name: string; stop: () => Promise<void>; process?: boolean }[] = [];
  let stopping: Promise<void> | null = null;
  const shutdown = (why: string) => {
    stopping ??= (async () => {
      log.info({ why }, 'stopping satmachine');
      const stop = async (s: (typeof stops)[number]) => {
        try {
          await s.stop();
          log.info(`${s.name} stopped`);
        } catch (err) {
          log.error({ err: (err as Error).message }, `could not stop ${s.name}`);
        }
      };
      // the satmachine processes together first, then the servers they use, newest first
      const processes = stops.filter((s) => s.process);
      await Promise.all(processes.map(stop));
      for (const s of stops.filter((x) => !x.process).reverse()) await stop(s);
    })();
    return stopping;
  };
  const onSignal = (sig: NodeJS.Signals) => {
    void shutdown(sig).then(() => process.exit(0));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // the terminal closed: stop cleanly (not when detached, e.g. under nohup, which ignores SIGHUP)
  if (process.stdout.isTTY) process.on('SIGHUP', onSignal);
  // Under `npm start` the launcher is npm (through its shell): when it goes (killed,
  // even with -9), nobody is left to stop the stack, so it stops itself.
  if (process.env.npm_lifecycle_event === 'start') {
    const launcher = process.ppid;
    const watch = setInterval(() => {
      if (process.ppid === launcher) return;
      clearInterval(watch);
      log.warn({ launcher }, 'the npm process that started satmachine is gone: stopping');
      void shutdown('launcher exited').then(() => process.exit(0));
    }, 1000);
    watch.unref();
  }

  try {
    if (config.paymentBackend === 'lnbits' && !config.lnbitsUrl) {
      throw new Error('PAYMENT_BACKEND=lnbits needs LNBITS_URL (see docs/lnbits.md)');
    }
    if (config.paymentBackend === 'lnbits' && args.flags.has('demo')) {
      throw new Error(
        '--demo seeds wallets of the embedded ledger and its simulator reports payments to it: ' +
          'run it without PAYMENT_BACKEND=lnbits, or set up LNbits wallets as docs/lnbits.md shows',
      );
    }
    mkdirSync(config.dataDir, { recursive: true });
    loadSecretBox(config, true);
    const secretKey = config.secretKeyHex ?? readFileSync(join(config.dataDir, 'secret.key'), 'utf8').trim();

    let databaseUrl = config.databaseUrl;
    let postgresAdminUrl: string | undefined;
    if (!databaseUrl) {
      log.info('starting PostgreSQL (embedded)');
      const pg = await startEmbeddedPostgres({
        dir: join(config.dataDir, 'pg'),
        port: config.embeddedPostgresPort,
        logger: log,
        // generated once per data directory; one created with the old fixed password is switched to it
        password: loadPgPassword(config, true),
        previousPasswords: [LEGACY_PASSWORD],
        passwordFile: pgPasswordFile(config),
      });
      stops.push({ name: 'PostgreSQL', stop: () => pg.stop() });
      await ensureDatabase(pg.url('postgres'), 'satmachine');
      databaseUrl = pg.socketUrl('satmachine');
      postgresAdminUrl = pg.url('postgres');
    }
    const pool = createPool({ connectionString: databaseUrl, applicationName: 'satmachine-start', max: 3 });
    stops.push({ name: 'database pool', stop: () => pool.end() });
    const migrated = await migrate(pool);
    log.info({ applied: migrated.applied }, 'schema up to date');
    // stored secrets of format v1 (no row binding) are re-sealed bound to their rows
    await resealLegacySecrets(pool, loadSecretBox(config), log);

    let temporalAddress = config.temporal.address;
    let uiUrl = config.temporal.uiUrl;
    if (!temporalAddress && config.temporal.mode === 'server') {
      log.info(
        { shards: config.temporal.historyShards },
        'starting the Temporal server (TEMPORAL_MODE=server)',
      );
      const t = await startTemporalServer({
        dataDir: config.dataDir,
        // its databases (temporal, temporal_visibility) beside ours, on the same PostgreSQL
        postgresUrl: postgresAdminUrl ?? databaseUrl,
        host: '127.0.0.1',
        port: config.temporal.port,
        uiPort: config.temporal.uiPort,
        shards: config.temporal.historyShards,
        namespace: config.temporal.namespace,
        logger: log,
      });
      stops.push({ name: 'Temporal server', stop: () => t.stop() });
      temporalAddress = t.address;
      uiUrl = t.uiUrl;
    } else if (!temporalAddress) {
      log.info('starting the Temporal dev server');
      const t = await startTemporalDevServer({
        dataDir: config.dataDir,
        host: '127.0.0.1',
        port: config.temporal.port,
        uiPort: config.temporal.uiPort,
        namespace: config.temporal.namespace,
        logger: log,
      });
      stops.push({ name: 'Temporal dev server', stop: () => t.stop() });
      temporalAddress = t.address;
      uiUrl = t.uiUrl;
    }

    const relays = relayUrls(config);
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      DATABASE_URL: databaseUrl,
      TEMPORAL_ADDRESS: temporalAddress,
      TEMPORAL_UI_URL: uiUrl,
      NOSTR_RELAYS: relays.join(','),
      SATMACHINE_SECRET_KEY: secretKey,
      SATMACHINE_SUPERVISOR_PID: String(process.pid),
    };
    const children: SupervisedProcess[] = [];
    if (!config.nostrRelays) children.push(new SupervisedProcess('relay', env, log));
    children.push(
      new SupervisedProcess(
        'worker',
        { ...env, METRICS_PORT: process.env.WORKER_METRICS_PORT ?? '9465' },
        log,
      ),
    );
    children.push(
      new SupervisedProcess(
        'ingest',
        { ...env, METRICS_PORT: process.env.INGEST_METRICS_PORT ?? '9464' },
        log,
      ),
    );
    await ensureConsoleBuilt(log);
    children.push(new SupervisedProcess('api', env, log));
    for (const c of children) {
      c.start();
      stops.push({ name: c.command, stop: () => c.stop(), process: true });
    }

    const apiUrl = config.api.publicUrl;
    await waitReady(`${apiUrl}/readyz`, 120_000);

    const demo = args.flags.has('demo')
      ? await seedDemo(pool, loadSecretBox(config), { apiUrl, relays, log, dataDir: config.dataDir })
      : null;
    // the demo machines stay online while the demo runs: beacon and telemetry every minute
    if (demo && existsSync(demoFilePath(config.dataDir))) {
      const file = JSON.parse(readFileSync(demoFilePath(config.dataDir), 'utf8')) as DemoFile;
      const fleet = demoMachines(file).map(
        (m) =>
          new SimulatedMachine({
            secretHex: m.secret,
            operatorPubkeyHex: file.operator_pubkey,
            name: m.name,
            model: m.model,
            fiatCode: m.fiat_code,
            cassettes: m.cassettes,
          }),
      );
      const heartbeat = startMachineHeartbeat(fleet, relays, log.child({ component: 'demo-machines' }));
      stops.push({ name: 'demo machines', stop: async () => heartbeat.stop() });
    }

    const lines = [
      '',
      'satmachine is running:',
      `  Console        ${apiUrl}/   (sign in with an API key)`,
      `  API            ${apiUrl}/api/v1   (health ${apiUrl}/readyz, metrics ${apiUrl}/metrics)`,
      `  OpenAPI        ${apiUrl}/api/v1/openapi.json`,
      `  Temporal UI    ${uiUrl}`,
      `  Temporal       ${temporalAddress}`,
      `  Metrics        ingest http://127.0.0.1:${process.env.INGEST_METRICS_PORT ?? '9464'}/metrics, worker http://127.0.0.1:${process.env.WORKER_METRICS_PORT ?? '9465'}/metrics`,
      `  Nostr relay    ${relays.join(', ')}`,
      `  Payments       ${config.paymentBackend === 'lnbits' ? `LNbits ${config.lnbitsUrl}` : 'embedded ledger'}`,
      `  PostgreSQL     ${databaseUrl.replace(/:[^:@/]*@/, ':***@')}`,
      ...(demo
        ? ['', ...demo]
        : ['', 'Create the first user: npm run satmachine -- users create --role super --name admin']),
      '',
      'Ctrl-C stops everything; data stays in ' + config.dataDir,
      '',
    ];
    process.stdout.write(lines.join('\n') + '\n');
    await new Promise(() => undefined);
  } catch (err) {
    log.error({ err: (err as Error).message }, 'satmachine could not start');
    await shutdown('start failed');
    process.exit(1);
  }
}
