import { execFile, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { DEPLOY, ROOT, dockerfile, execForm, loadCompose, type ComposeService } from '../helpers/deployFiles';
import { freePort } from '../helpers/ports';
import { spawnSatmachine, type SpawnedProcess } from '../helpers/processes';
import { uniqueTaskQueue } from '../helpers/stack';
import { resolveTemporalBinary } from '../../src/cli/temporalDevServer';
import { resolveTemporalServerTools } from '../../src/cli/temporalServer';
import { logger } from '../../src/logger';
import { SEARCH_ATTRIBUTES } from '../../src/contract';
import { Connection } from '@temporalio/client';

const run = promisify(execFile);

/**
 * What the image does, run as plain processes on this machine (there is no container
 * engine here): the Dockerfile's build steps (workflow bundle, console) and its
 * ENTRYPOINT with each sub-command of deploy/compose.yml, health-checked by the
 * compose file's own healthcheck commands.
 */
describe('the image’s commands as plain processes', () => {
  const { stages } = dockerfile();
  const runtime = stages[stages.length - 1]!;
  const build = stages.find((s) => s.name === 'build')!;
  const { services } = loadCompose(join(DEPLOY, 'compose.yml'));
  const dir = mkdtempSync(join(tmpdir(), 'satmachine-image-'));
  /** the image's /app is this repository; its build outputs go under `dir` */
  const outputs: Record<string, string> = {
    '/app/dist/workflow-bundle.js': join(dir, 'dist', 'workflow-bundle.js'),
    '/app/web/dist': join(dir, 'web-dist'),
  };
  const admin = process.env.SATMACHINE_TEST_PG_URL!;
  const dbName = `image_${randomBytes(5).toString('hex')}`;
  const databaseUrl = admin.replace(/\/postgres$/, `/${dbName}`);
  const taskQueue = uniqueTaskQueue('image');
  const running: SpawnedProcess[] = [];

  /** The runtime stage's ENV, /app paths mapped to this machine. */
  function imageEnv(): Record<string, string> {
    const env: Record<string, string> = {};
    for (const e of runtime.instructions.filter((i) => i.op === 'ENV'))
      for (const m of e.args.matchAll(/([A-Z_][A-Z0-9_]*)=(\S*)/g)) {
        let v = m[2]!;
        for (const [from, to] of Object.entries(outputs)) if (v === from) v = to;
        if (v === '/var/lib/satmachine') v = join(dir, 'data');
        if (v.startsWith('${')) continue; // a build argument: SATMACHINE_BUILD_ID
        env[m[1]!] = v;
      }
    // containers listen on every interface; plain processes here stay on loopback
    return { ...env, API_HOST: '127.0.0.1', RELAY_HOST: '127.0.0.1', METRICS_HOST: '127.0.0.1' };
  }

  /** Starts `satmachine <cmd>` as the ENTRYPOINT does, with the given compose service's ports. */
  function start(cmd: string, extra: Record<string, string>): SpawnedProcess {
    const p = spawnSatmachine(cmd, { databaseUrl, taskQueue, extra: { ...imageEnv(), ...extra } });
    running.push(p);
    return p;
  }

  /** The compose healthcheck of `service`, pointed at `port` instead of the container's. */
  function healthcheck(service: ComposeService, port: number): number | null {
    const [, node, e, script] = service.healthcheck!.test;
    expect([node, e]).toEqual(['node', '-e']);
    const local = script!.replace(/127\.0\.0\.1:\d+/, `127.0.0.1:${port}`);
    return spawnSync(process.execPath, ['-e', local], { timeout: 10_000 }).status;
  }

  /** As Docker does: run the healthcheck until it passes (each try answers or fails on its own). */
  async function untilHealthy(service: ComposeService, port: number, proc: SpawnedProcess) {
    for (let i = 0; i < 240; i++) {
      if (healthcheck(service, port) === 0) return;
      if (proc.proc.exitCode !== null) throw new Error(`exited before healthy:\n${proc.output()}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(`never healthy:\n${proc.output().slice(-2000)}`);
  }

  async function stop(p: SpawnedProcess): Promise<number | null> {
    const exited = new Promise<number | null>((r) => p.proc.once('exit', (code) => r(code)));
    p.proc.kill('SIGTERM');
    return exited;
  }

  beforeAll(async () => {
    const c = new pg.Client({ connectionString: admin });
    await c.connect();
    await c.query(`CREATE DATABASE ${dbName}`);
    await c.end();
  });

  afterAll(async () => {
    for (const p of running) await p.kill();
    const c = new pg.Client({ connectionString: admin });
    await c.connect();
    await c.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    await c.end();
    rmSync(dir, { recursive: true, force: true });
  });

  it('ENTRYPOINT is the CLI of this repository', () => {
    const entry = execForm(runtime.instructions.find((i) => i.op === 'ENTRYPOINT')!.args);
    expect(entry[0]).toBe('node');
    expect(entry.slice(1, 3)).toEqual(['--import', 'tsx']);
    // what spawnSatmachine runs: process.execPath --import tsx <repo>/src/cli/main.ts
    expect(existsSync(entry[3]!.replace('/app', ROOT))).toBe(true);
    const help = spawnSync(process.execPath, ['--import', 'tsx', entry[3]!.replace('/app', ROOT), 'help'], {
      encoding: 'utf8',
    });
    expect(help.status).toBe(0);
    for (const cmd of ['api', 'worker', 'ingest', 'migrate', 'relay'])
      expect(help.stdout).toContain(`satmachine ${cmd}`);
  });

  it('the build stage’s RUN lines build the workflow bundle and the console', async () => {
    for (const r of build.instructions.filter((i) => i.op === 'RUN')) {
      let cmd = r.args;
      for (const [from, to] of Object.entries(outputs)) cmd = cmd.replace(from, to);
      if (cmd.includes('vite.js build')) cmd += ` --outDir ${outputs['/app/web/dist']} --emptyOutDir`;
      await run('sh', ['-c', cmd], { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 });
    }
    expect(readFileSync(outputs['/app/dist/workflow-bundle.js']!, 'utf8').length).toBeGreaterThan(10_000);
    expect(readFileSync(join(outputs['/app/web/dist']!, 'index.html'), 'utf8')).toContain(
      'satmachine console',
    );
  });

  it('migrate (the compose one-shot) applies the schema, then finds it up to date', async () => {
    for (const expected of ['migrations applied', 'schema up to date']) {
      const p = start(services.migrate!.command![0]!, {});
      const code = await new Promise<number | null>((r) => p.proc.once('exit', (c) => r(c)));
      expect({ code, out: p.output().includes(expected) }).toEqual({ code: 0, out: true });
    }
  });

  it('deploy/temporal/setup-schema.sh (the temporal-schema one-shot) creates and migrates both Temporal databases, idempotently', async () => {
    // temporal-sql-tool and the schema of the server the suite's real-server part builds
    // (scripts/install-temporal-server.sh; built once per machine, minutes the first time)
    const tools = resolveTemporalServerTools(logger.child({ component: 'test' }));
    const u = new URL(admin);
    const suffix = randomBytes(4).toString('hex');
    const dbs = { TEMPORAL_DBNAME: `tschema_${suffix}`, TEMPORAL_VISIBILITY_DBNAME: `tvis_${suffix}` };
    const env = {
      PATH: `${dirname(tools.sqlTool)}:${process.env.PATH}`,
      SQL_HOST: u.hostname,
      SQL_PORT: u.port,
      SQL_USER: decodeURIComponent(u.username),
      SQL_PASSWORD: decodeURIComponent(u.password),
      TEMPORAL_SCHEMA_DIR: tools.schemaDir,
      ...dbs,
    };
    expect(services['temporal-schema']!.entrypoint).toEqual(['/bin/sh', '/satmachine/setup-schema.sh']);
    const script = join(DEPLOY, 'temporal', 'setup-schema.sh');
    try {
      const versions: string[][] = [];
      for (let i = 0; i < 2; i++) {
        const { stdout } = await run('sh', [script], { env, timeout: 240_000 });
        expect(stdout).toContain(`${dbs.TEMPORAL_DBNAME} is up to date`);
        const round: string[] = [];
        for (const db of Object.values(dbs)) {
          const c = new pg.Client({ connectionString: admin.replace(/\/postgres$/, `/${db}`) });
          await c.connect();
          const r = await c.query<{ curr_version: string }>('SELECT curr_version FROM schema_version');
          await c.end();
          round.push(r.rows[0]!.curr_version);
        }
        versions.push(round);
      }
      // the newest versioned directory of each schema, and unchanged by the second run
      const newest = (dir: string) =>
        readdirSync(join(tools.schemaDir, dir, 'versioned'))
          .map((v) => v.replace(/^v/, ''))
          .sort((a, b) => a.localeCompare(b, undefined, { numeric: true }))
          .pop();
      expect(versions[0]).toEqual([newest('temporal'), newest('visibility')]);
      expect(versions[1]).toEqual(versions[0]);
    } finally {
      const c = new pg.Client({ connectionString: admin });
      await c.connect();
      for (const db of Object.values(dbs)) await c.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
      await c.end();
    }
  }, 1_200_000);

  it('deploy/temporal/setup-namespace.sh (the temporal-setup one-shot) registers a namespace and the search attributes, idempotently', async () => {
    const namespace = `setup-${randomBytes(4).toString('hex')}`;
    const env = {
      PATH: `${dirname(resolveTemporalBinary())}:${process.env.PATH}`,
      TEMPORAL_ADDRESS: process.env.SATMACHINE_TEST_TEMPORAL_ADDRESS!,
      TEMPORAL_NAMESPACE: namespace,
    };
    const script = join(DEPLOY, 'temporal', 'setup-namespace.sh');
    expect(services['temporal-setup']!.entrypoint).toEqual(['/bin/sh', '/satmachine/setup-namespace.sh']);
    for (let i = 0; i < 2; i++) {
      const { stdout } = await run('sh', [script], { env, timeout: 240_000 });
      expect(stdout).toContain(`namespace ${namespace} with`);
    }
    const connection = await Connection.connect({ address: env.TEMPORAL_ADDRESS });
    try {
      const ns = await connection.workflowService.describeNamespace({ namespace });
      expect(Number(ns.config!.workflowExecutionRetentionTtl!.seconds)).toBe(7 * 24 * 3600);
      const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace });
      for (const sa of SEARCH_ATTRIBUTES) expect(customAttributes[sa.name]).toBe(2); // INDEXED_VALUE_TYPE_KEYWORD
    } finally {
      await connection.close();
    }
  }, 300_000);

  it('relay, worker (with the prebuilt bundle), ingest and api pass their compose health checks and stop on SIGTERM', async () => {
    const relayPort = await freePort();
    const relay = start('relay', { RELAY_PORT: String(relayPort) });
    await untilHealthy(services.relay!, relayPort, relay);
    const nip11 = (await (
      await fetch(`http://127.0.0.1:${relayPort}/`, { headers: { accept: 'application/nostr+json' } })
    ).json()) as { supported_nips?: number[] };
    expect(nip11.supported_nips).toContain(11);

    const workerPort = await freePort();
    const worker = start('worker', { METRICS_PORT: String(workerPort) });
    await worker.waitFor('worker running', 90_000);
    await untilHealthy(services.worker!, workerPort, worker);

    const ingestPort = await freePort();
    const ingest = start('ingest', {
      METRICS_PORT: String(ingestPort),
      NOSTR_RELAYS: `ws://127.0.0.1:${relayPort}`,
    });
    await untilHealthy(services.ingest!, ingestPort, ingest);

    const apiPort = await freePort();
    // before the API listens the check fails: it is not vacuous
    expect(healthcheck(services.api!, apiPort)).not.toBe(0);
    const api = start('api', {
      PORT: String(apiPort),
      PUBLIC_URL: `http://127.0.0.1:${apiPort}`,
      NOSTR_RELAYS: `ws://127.0.0.1:${relayPort}`,
    });
    await untilHealthy(services.api!, apiPort, api);
    // the console the build step made, served from SATMACHINE_CONSOLE_DIR
    const page = await (await fetch(`http://127.0.0.1:${apiPort}/`)).text();
    expect(page).toContain('satmachine console');

    for (const p of [api, ingest, worker, relay]) expect(await stop(p)).toBe(0);
  }, 300_000);
});
