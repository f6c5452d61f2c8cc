import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { Client, Connection, type TLSConfig } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import pg from 'pg';
import { SEARCH_ATTRIBUTES } from '../contract';
import { databaseExists, hasTemporalSchema } from '../db/temporalDatabases';
import type { Logger } from '../logger';
import { stopChild, stopLeftover, waitForTemporal } from './childProcesses';

const ROOT = resolve(__dirname, '..', '..');
const run = promisify(execFile);

/** The server's two databases on the PostgreSQL it is given, and their schema directories. */
const DATABASES = [
  { name: 'temporal', schema: 'temporal' },
  { name: 'temporal_visibility', schema: 'visibility' },
] as const;

/** How long a closed workflow stays readable in the namespace (the UI, the API's history look-ups). */
const RETENTION_DAYS = 7;
/** temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD */
const INDEXED_VALUE_TYPE_KEYWORD = 2;

export interface TemporalServerOptions {
  /** config, logs and pid files go under <dataDir>/temporal-server */
  dataDir: string;
  /** a PostgreSQL URL of a role that may create databases (the embedded cluster's) */
  postgresUrl: string;
  host: string;
  /** frontend gRPC port; the other services use the ports just above it (see `servicePorts`) */
  port: number;
  uiPort: number;
  shards: number;
  namespace: string;
  logger: Logger;
  /** dynamic config values, merged over ours (tests, the bench) */
  dynamicConfig?: Record<string, unknown>;
  /** mTLS on the frontend and between the services (see `ServerTls`); unset = plaintext */
  tls?: ServerTls;
}

/**
 * TLS of the real server (PEM paths). One certificate, usable for server and client auth
 * (extendedKeyUsage serverAuth, clientAuth; SANs for `serverName` and the bind address),
 * serves the frontend and the internal services and is what the services, the server's
 * system worker, our namespace set-up and the UI server present as clients. The
 * frontend requires a client certificate signed by `clientCaFile`.
 */
export interface ServerTls {
  certFile: string;
  keyFile: string;
  /** the CA that signed `certFile` */
  caFile: string;
  /** the CA clients' certificates must be signed by (default caFile) */
  clientCaFile?: string;
  /** the name internal clients check the certificate against (default localhost) */
  serverName?: string;
}

/** The server's `global.tls`: mTLS on the frontend and between its services. */
export function serverTlsConfig(t: ServerTls) {
  const serverName = t.serverName ?? 'localhost';
  const server = (clientCa: string) => ({
    certFile: t.certFile,
    keyFile: t.keyFile,
    requireClientAuth: true,
    clientCaFiles: clientCa === t.caFile ? [t.caFile] : [clientCa, t.caFile],
  });
  const client = { serverName, rootCaFiles: [t.caFile] };
  return {
    internode: { server: server(t.caFile), client },
    frontend: { server: server(t.clientCaFile ?? t.caFile), client },
    // the server's own system worker dials the frontend with this pair
    systemWorker: { certFile: t.certFile, keyFile: t.keyFile, client },
  };
}

/** How the server's own tooling (readiness, namespace set-up) connects to a TLS frontend. */
function selfTls(t: ServerTls): TLSConfig {
  return {
    clientCertPair: { crt: readFileSync(t.certFile), key: readFileSync(t.keyFile) },
    serverRootCACertificate: readFileSync(t.caFile),
    serverNameOverride: t.serverName ?? 'localhost',
  };
}

export interface RunningTemporalServer {
  address: string;
  uiUrl: string;
  /** the server process (for the bench's CPU and memory figures) */
  pid: number | undefined;
  stop(): Promise<void>;
}

/**
 * The ports of one server process: frontend gRPC `port`, history +1, matching +2,
 * worker +3, frontend HTTP +4; membership (ringpop) ports +5 … +8. Ten in a row from
 * `port`, so two stacks side by side need TEMPORAL_PORT ten apart.
 */
export function servicePorts(port: number) {
  if (!Number.isInteger(port) || port < 1 || port + 8 > 32_767) {
    // cluster_membership.rpc_port is a PostgreSQL smallint
    throw new Error(
      `TEMPORAL_PORT ${port} does not fit the real server: its ports run to TEMPORAL_PORT+8, at most 32767 (the server stores them as smallint)`,
    );
  }
  return {
    frontend: { grpcPort: port, httpPort: port + 4, membershipPort: port + 5 },
    history: { grpcPort: port + 1, membershipPort: port + 6 },
    matching: { grpcPort: port + 2, membershipPort: port + 7 },
    worker: { grpcPort: port + 3, membershipPort: port + 8 },
  };
}

/**
 * The Temporal server, the SQL schema tool and the UI server built by
 * scripts/install-temporal-server.sh (built on first use: several minutes).
 */
export function resolveTemporalServerTools(log: Logger): {
  server: string;
  sqlTool: string;
  uiServer: string;
  schemaDir: string;
} {
  log.info('checking the Temporal server build (.tools/temporal-server; the first build takes minutes)');
  const out = execFileSync('bash', [join(ROOT, 'scripts', 'install-temporal-server.sh')], {
    stdio: ['ignore', 'pipe', 'inherit'],
    encoding: 'utf8',
  });
  const dir = out.trim().split('\n').pop()!;
  return {
    server: join(dir, 'temporal-server'),
    sqlTool: join(dir, 'temporal-sql-tool'),
    uiServer: join(dir, 'temporal-ui-server'),
    schemaDir: join(dir, 'schema', 'postgresql', 'v12'),
  };
}

function pgParts(url: string) {
  const u = new URL(url);
  return {
    host: u.hostname,
    port: Number(u.port || 5432),
    user: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password),
  };
}

/**
 * Creates the server's databases when missing, installs the base schema on a fresh one
 * and applies every versioned upgrade (the schema tool skips those already applied).
 */
export async function setupTemporalSchemas(
  postgresUrl: string,
  sqlTool: string,
  schemaDir: string,
  log: Logger,
) {
  const p = pgParts(postgresUrl);
  const env = {
    ...process.env,
    SQL_PLUGIN: 'postgres12',
    SQL_HOST: p.host,
    SQL_PORT: String(p.port),
    SQL_USER: p.user,
    SQL_PASSWORD: p.password,
  };
  const admin = new pg.Client({ connectionString: postgresUrl });
  await admin.connect();
  try {
    for (const db of DATABASES) {
      const dbEnv = { ...env, SQL_DATABASE: db.name };
      if (!(await databaseExists(admin, db.name))) {
        log.info({ database: db.name }, 'creating a Temporal database');
        await run(sqlTool, ['create-database'], { env: dbEnv });
      }
      const probe = new pg.Client({ connectionString: withDatabase(postgresUrl, db.name) });
      await probe.connect();
      const versioned = await hasTemporalSchema(probe).finally(() => probe.end());
      if (!versioned) await run(sqlTool, ['setup-schema', '-v', '0.0'], { env: dbEnv });
      await run(sqlTool, ['update-schema', '-d', join(schemaDir, db.schema, 'versioned')], { env: dbEnv });
    }
  } finally {
    await admin.end();
  }
}

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

/** The server's static configuration (JSON is YAML): PostgreSQL persistence and visibility. */
export function serverConfig(opts: {
  postgresUrl: string;
  host: string;
  port: number;
  shards: number;
  dynamicConfigFile: string;
  tls?: ServerTls;
}) {
  const p = pgParts(opts.postgresUrl);
  const store = (databaseName: string, maxConns: number) => ({
    sql: {
      pluginName: 'postgres12',
      databaseName,
      connectAddr: `${p.host}:${p.port}`,
      connectProtocol: 'tcp',
      user: p.user,
      password: p.password,
      maxConns,
      maxIdleConns: maxConns,
      maxConnLifetime: '1h',
    },
  });
  const ports = servicePorts(opts.port);
  const rpc = (x: { grpcPort: number; membershipPort: number; httpPort?: number }) => ({
    rpc: { ...x, bindOnIP: opts.host },
  });
  return {
    log: { stdout: true, level: 'warn' },
    persistence: {
      defaultStore: 'default',
      visibilityStore: 'visibility',
      numHistoryShards: opts.shards,
      datastores: { default: store('temporal', 20), visibility: store('temporal_visibility', 10) },
    },
    global: {
      membership: { maxJoinDuration: '30s', broadcastAddress: opts.host },
      ...(opts.tls ? { tls: serverTlsConfig(opts.tls) } : {}),
    },
    services: {
      frontend: rpc(ports.frontend),
      history: rpc(ports.history),
      matching: rpc(ports.matching),
      worker: rpc(ports.worker),
    },
    clusterMetadata: {
      enableGlobalNamespace: false,
      failoverVersionIncrement: 10,
      masterClusterName: 'active',
      currentClusterName: 'active',
      clusterInformation: {
        active: {
          enabled: true,
          initialFailoverVersion: 1,
          rpcName: 'frontend',
          rpcAddress: `${opts.host}:${opts.port}`,
          httpAddress: `${opts.host}:${ports.frontend.httpPort}`,
        },
      },
    },
    dcRedirectionPolicy: { policy: 'noop' },
    dynamicConfigClient: { filepath: opts.dynamicConfigFile, pollInterval: '10s' },
  };
}

/** Dynamic config as the server reads it: each key a list of { value } (JSON is YAML). */
function dynamicConfig(values: Record<string, unknown>) {
  return Object.fromEntries(Object.entries(values).map(([k, value]) => [k, [{ value }]]));
}

export const DEFAULT_DYNAMIC_CONFIG: Record<string, unknown> = {
  // activities go back in the workflow task answer when a poller is free (as on the dev server)
  'system.enableActivityEagerExecution': true,
};

/** Runs `fn` until it resolves, every 500 ms, for at most `ms`; then throws its last error. */
async function retrying<T>(what: string, ms: number, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > deadline)
        throw new Error(`${what}: still failing after ${ms / 1000} s: ${(err as Error).message}`, {
          cause: err,
        });
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

/**
 * The namespace (created when missing, 7-day retention) and our search attributes on
 * it. A new namespace reaches the services' caches within seconds (the namespace
 * registry refreshes on an interval): each step is retried until it is served.
 */
export async function ensureNamespace(
  address: string,
  namespace: string,
  log: Logger,
  tls?: TLSConfig,
): Promise<void> {
  const connection = await Connection.connect({ address, ...(tls ? { tls } : {}) });
  try {
    const client = new Client({ connection, namespace });
    const exists = await client.workflowService.describeNamespace({ namespace }).then(
      () => true,
      () => false,
    );
    if (!exists) {
      log.info({ namespace }, 'registering the Temporal namespace');
      await client.workflowService
        .registerNamespace({
          namespace,
          workflowExecutionRetentionPeriod: msToTs(RETENTION_DAYS * 24 * 3600 * 1000),
        })
        .catch((err: { code?: number }) => {
          if (err.code !== 6) throw err; // ALREADY_EXISTS: another start raced us
        });
    }
    const have = await retrying(`namespace ${namespace}`, 60_000, () =>
      connection.operatorService.listSearchAttributes({ namespace }),
    );
    const missing = SEARCH_ATTRIBUTES.filter((k) => !(k.name in (have.customAttributes ?? {})));
    if (missing.length > 0) {
      await retrying('adding the search attributes', 60_000, () =>
        connection.operatorService.addSearchAttributes({
          namespace,
          searchAttributes: Object.fromEntries(missing.map((k) => [k.name, INDEXED_VALUE_TYPE_KEYWORD])),
        }),
      );
      log.info({ added: missing.map((k) => k.name) }, 'search attributes registered');
    }
    // a visibility query naming one of them answers once the namespace is fully served
    await retrying(`namespace ${namespace} serving queries`, 60_000, () =>
      client.workflowService.listWorkflowExecutions({
        namespace,
        query: 'SettlementStatus = "pending"',
        pageSize: 1,
      }),
    );
  } finally {
    await connection.close();
  }
}

/**
 * `TEMPORAL_MODE=server`: the real Temporal server (frontend, history, matching and
 * worker services in one process) on PostgreSQL persistence and visibility, with
 * `shards` history shards, the namespace and search attributes registered, and the
 * Temporal Web UI (ui-server) in front of it. Servers left behind by a killed earlier
 * run are stopped first (pid files), as for the dev server.
 */
export async function startTemporalServer(opts: TemporalServerOptions): Promise<RunningTemporalServer> {
  const log = opts.logger;
  const tools = resolveTemporalServerTools(log);
  const dir = join(opts.dataDir, 'temporal-server');
  const runDir = join(opts.dataDir, 'run');
  mkdirSync(dir, { recursive: true });
  mkdirSync(runDir, { recursive: true });
  const serverPid = join(runDir, 'temporal-server.pid');
  const uiPid = join(runDir, 'temporal-ui.pid');
  await stopLeftover(uiPid, 'Temporal UI server', log);
  await stopLeftover(serverPid, 'Temporal server', log);

  await setupTemporalSchemas(opts.postgresUrl, tools.sqlTool, tools.schemaDir, log);

  const dynamicFile = join(dir, 'dynamicconfig.yaml');
  writeFileSync(
    dynamicFile,
    JSON.stringify(dynamicConfig({ ...DEFAULT_DYNAMIC_CONFIG, ...opts.dynamicConfig }), null, 2),
  );
  const configFile = join(dir, 'config.yaml');
  // holds the database password: readable by us only
  writeFileSync(
    configFile,
    JSON.stringify(
      serverConfig({
        postgresUrl: opts.postgresUrl,
        host: opts.host,
        port: opts.port,
        shards: opts.shards,
        dynamicConfigFile: dynamicFile,
        ...(opts.tls ? { tls: opts.tls } : {}),
      }),
      null,
      2,
    ),
    { mode: 0o600 },
  );
  chmodSync(configFile, 0o600);

  const logFile = join(opts.dataDir, 'temporal-server.log');
  const children: ChildProcess[] = [];
  const stopAll = async () => {
    for (const c of children.reverse()) await stopChild(c);
    rmSync(serverPid, { force: true });
    rmSync(uiPid, { force: true });
  };
  try {
    const server = spawnServer(
      tools.server,
      ['--config-file', configFile, '--allow-no-auth', 'start'],
      logFile,
      serverPid,
    );
    children.push(server.child);
    const address = `${opts.host}:${opts.port}`;
    const tls = opts.tls ? selfTls(opts.tls) : undefined;
    await waitForTemporal(address, {
      ...(tls ? { tls } : {}),
      timeoutMs: 120_000,
      exited: server.exited,
      what: 'Temporal server',
      hint: `see ${logFile}; are ports ${opts.port}–${opts.port + 8} free? Set TEMPORAL_PORT to move them`,
    });
    await ensureNamespace(address, opts.namespace, log, tls);

    const uiDir = join(dir, 'ui');
    mkdirSync(uiDir, { recursive: true });
    writeFileSync(join(uiDir, 'base.yaml'), '{}\n');
    writeFileSync(
      join(uiDir, 'satmachine.yaml'),
      JSON.stringify(
        {
          temporalGrpcAddress: address,
          host: opts.host,
          port: opts.uiPort,
          enableUi: true,
          defaultNamespace: opts.namespace,
          disableNewsFetch: true,
          notifyOnNewVersion: false,
          refreshInterval: '1m',
          distribution: 'server',
          ...(opts.tls
            ? {
                tls: {
                  caFile: opts.tls.caFile,
                  certFile: opts.tls.certFile,
                  keyFile: opts.tls.keyFile,
                  serverName: opts.tls.serverName ?? 'localhost',
                  enableHostVerification: true,
                },
              }
            : {}),
        },
        null,
        2,
      ),
    );
    const ui = spawnServer(
      tools.uiServer,
      ['--root', dir, '--config', 'ui', '--env', 'satmachine', 'start'],
      join(opts.dataDir, 'temporal-ui.log'),
      uiPid,
    );
    children.push(ui.child);
    const uiUrl = `http://${opts.host}:${opts.uiPort}`;
    await waitHttp(uiUrl, 30_000, ui.exited);
    log.info({ address, uiUrl, shards: opts.shards }, 'Temporal server ready');
    return { address, uiUrl, pid: server.child.pid, stop: stopAll };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

function spawnServer(bin: string, args: string[], logFile: string, pidFile: string) {
  const fd = openSync(logFile, 'a');
  // its own process group, like the dev server: the supervisor stops it after the worker
  const child = spawn(bin, args, { stdio: ['ignore', fd, fd], detached: true });
  writeFileSync(pidFile, String(child.pid));
  let exited = false;
  child.once('exit', () => (exited = true));
  return { child, exited: () => exited };
}

async function waitHttp(url: string, timeoutMs: number, exited: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (exited())
      throw new Error(`the Temporal UI server exited at start (is port ${new URL(url).port} taken?)`);
    try {
      const res = await fetch(url);
      if (res.status < 500) return;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline)
      throw new Error(`the Temporal UI did not answer on ${url} within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
