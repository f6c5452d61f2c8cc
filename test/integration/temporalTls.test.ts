import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { startTemporalServer, type RunningTemporalServer } from '../../src/cli/temporalServer';
import { LedgerBackend } from '../../src/payments/ledger';
import { SecretBox } from '../../src/security/secretBox';
import {
  lazyTemporalClient,
  temporalConnectionOptions,
  temporalReachable,
  type TemporalTlsFiles,
} from '../../src/temporalClient';
import { createWorker } from '../../src/worker/worker';
import {
  createLp,
  createMachine,
  createOperator,
  createSuper,
  splitAllToNewWallet,
  createSuperAndOperator,
} from '../helpers/fixtures';
import { freePort, freePortBlock } from '../helpers/ports';
import { spawnSatmachine, type SpawnedProcess } from '../helpers/processes';
import { awaitSettled, legsOf, sendSettlement } from '../helpers/settle';
import { TEST_SECRET_KEY, freshDatabase, testLogger, uniqueTaskQueue } from '../helpers/stack';

/** A throwaway PKI: the cluster's CA, its server cert, a client cert, and a stranger CA with its client cert. */
function makePki(dir: string) {
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ca = (name: string) =>
    ssl(
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '2',
      '-subj',
      `/CN=${name}`,
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.pem`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    );
  const leaf = (name: string, caName: string, ext: string) => {
    ssl(
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-subj',
      `/CN=${name}`,
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.csr`,
    );
    writeFileSync(join(dir, `${name}.ext`), ext);
    ssl(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      `${caName}.pem`,
      '-CAkey',
      `${caName}.key`,
      '-CAcreateserial',
      '-days',
      '2',
      '-out',
      `${name}.pem`,
      '-extfile',
      `${name}.ext`,
    );
  };
  ca('ca');
  ca('stranger-ca');
  leaf(
    'server',
    'ca',
    [
      'basicConstraints=CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth,clientAuth',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
    ].join('\n'),
  );
  const clientExt = [
    'basicConstraints=CA:FALSE',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    'extendedKeyUsage=clientAuth',
  ].join('\n');
  leaf('client', 'ca', clientExt);
  leaf('stranger', 'stranger-ca', clientExt);
  const f = (n: string) => join(dir, n);
  return {
    ca: f('ca.pem'),
    server: { cert: f('server.pem'), key: f('server.key') },
    client: { cert: f('client.pem'), key: f('client.key') },
    stranger: { cert: f('stranger.pem'), key: f('stranger.key') },
  };
}

/** Whether a client with these settings gets an answer from the frontend (a refused handshake throws). */
async function answers(
  address: string,
  tls: TemporalTlsFiles | undefined,
  plaintext = false,
): Promise<string> {
  try {
    const connection = await Connection.connect({
      ...(plaintext ? { address } : temporalConnectionOptions({ address, tls: tls ?? {} })),
      connectTimeout: 5000,
    });
    try {
      await connection.withDeadline(Date.now() + 5000, () =>
        new Client({ connection }).workflowService.getSystemInfo({}),
      );
      return 'answered';
    } finally {
      await connection.close();
    }
  } catch (err) {
    return `refused: ${(err as Error).message}`;
  }
}

describe('Temporal with mTLS required (the real server, TLS on its frontend and between its services)', () => {
  let dir: string;
  let pki: ReturnType<typeof makePki>;
  let server: RunningTemporalServer;
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let ours: TemporalTlsFiles;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'satmachine-tls-'));
    pki = makePki(dir);
    ours = { clientCertFile: pki.client.cert, clientKeyFile: pki.client.key, caFile: pki.ca };
    db = await freshDatabase();
    server = await startTemporalServer({
      dataDir: join(dir, 'data'),
      postgresUrl: process.env.SATMACHINE_TEST_PG_URL!,
      host: '127.0.0.1',
      port: await freePortBlock(9),
      uiPort: await freePort(),
      shards: 1,
      namespace: 'default',
      logger: testLogger.child({ component: 'test-temporal-tls-server' }),
      tls: { certFile: pki.server.cert, keyFile: pki.server.key, caFile: pki.ca },
    });
  }, 240_000);

  afterAll(async () => {
    await server?.stop();
    await db?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('settles a settlement end to end with the configured client certificate (worker and client)', async () => {
    try {
      Runtime.install({ logger: new DefaultLogger('ERROR') });
    } catch {
      /* already installed in this jest worker */
    }
    const target = { address: server.address, namespace: 'default', tls: ours };
    const nativeConnection = await NativeConnection.connect(temporalConnectionOptions(target));
    const client = lazyTemporalClient(target);
    expect(await temporalReachable(client, 10_000)).toBe(true);
    const taskQueue = uniqueTaskQueue('tls');
    const worker = await createWorker({
      connection: nativeConnection,
      namespace: 'default',
      taskQueue,
      deps: {
        pool: db.pool,
        payments: new LedgerBackend({ pool: db.pool, logger: testLogger }),
        secretBox: new SecretBox(TEST_SECRET_KEY),
        logger: testLogger,
      },
      workflowBundle: { codePath: process.env.SATMACHINE_TEST_BUNDLE! },
    });
    try {
      const operator = await createSuperAndOperator(db.pool, {
        split: { walletName: 'operator', fraction: '1.000000', label: 'owner' },
      });
      const machine = await createMachine(db.pool, operator, { name: 'tls' });
      await createLp(db.pool, machine, { name: 'alice', depositCents: 50_000 });
      const settled = await worker.runUntil(async () => {
        const hash = await sendSettlement(db.pool, client, taskQueue, machine, operator, {
          wireSats: 100_000,
          feeSats: 5_000,
          fiat: '50.00',
        });
        return awaitSettled(db.pool, client, hash);
      });
      expect(settled.status).toBe('processed');
      const legs = await legsOf(db.pool, settled.id);
      expect(legs.length).toBeGreaterThan(0);
      expect(legs.map((l) => [l.leg_type, l.status])).toEqual([
        ['super_fee', 'completed'],
        ['dca', 'completed'],
        ['operator_split', 'completed'],
      ]);
      // cash-out: the legs pay out exactly the sats that came in
      expect(legs.reduce((a, l) => a + l.amount_sats, 0)).toBe(100_000);
    } finally {
      await client.connection.close();
      await nativeConnection.close();
    }
  });

  /** How the worker's connection (the Core SDK, rustls) ends: 'connected', or the handshake's reason. */
  async function native(options: { address: string; tls?: object }): Promise<string> {
    try {
      const c = await NativeConnection.connect(options);
      await c.close();
      return 'connected';
    } catch (err) {
      return String(err);
    }
  }

  it('refuses a client without a certificate, with one from another CA, and in plaintext', async () => {
    const opts = (tls: TemporalTlsFiles) => temporalConnectionOptions({ address: server.address, tls });
    // the barrier: the same frontend takes our certificate in the same moment
    expect(await native(opts(ours))).toBe('connected');
    // TLS 1.3: the server's alert (CertificateRequired / UnknownCA) comes after the client's
    // handshake, so the SDK reports either it or the closed connection: a transport error
    expect(await native(opts({ caFile: pki.ca }))).toMatch(/^TransportError/);
    expect(
      await native(
        opts({ clientCertFile: pki.stranger.cert, clientKeyFile: pki.stranger.key, caFile: pki.ca }),
      ),
    ).toMatch(/^TransportError/);
    expect(await native({ address: server.address })).toMatch(/^TransportError/);
    // @temporalio/client (the API, the ingest) gets no answer either: grpc-js reports the
    // refused handshake only as "Failed to connect before the deadline"
    expect(await answers(server.address, ours)).toBe('answered');
    expect(await answers(server.address, { caFile: pki.ca })).toMatch(/^refused/);
    expect(
      await answers(server.address, {
        clientCertFile: pki.stranger.cert,
        clientKeyFile: pki.stranger.key,
        caFile: pki.ca,
      }),
    ).toMatch(/^refused/);
    // and the readiness check reports such a client as not ready
    const noCert = lazyTemporalClient({
      address: server.address,
      namespace: 'default',
      tls: { caFile: pki.ca },
    });
    expect(await temporalReachable(noCert, 5000)).toBe(false);
    await noCert.connection.close();
  });

  it('checks the server certificate: a client trusting the system roots or another CA refuses the server', async () => {
    const pair = { clientCertFile: pki.client.cert, clientKeyFile: pki.client.key };
    const opts = (tls: TemporalTlsFiles) => temporalConnectionOptions({ address: server.address, tls });
    expect(await native(opts(pair))).toMatch(/UnknownIssuer/);
    expect(await native(opts({ ...pair, caFile: join(dir, 'stranger-ca.pem') }))).toMatch(/UnknownIssuer/);
    // TEMPORAL_TLS_SERVER_NAME is checked against the certificate's names
    expect(await native(opts({ ...ours, serverName: 'localhost' }))).toBe('connected');
    expect(await native(opts({ ...ours, serverName: 'elsewhere.example' }))).toMatch(
      /NotValidForName|invalid peer certificate/i,
    );
  });

  it('the satmachine processes take TEMPORAL_TLS_*: a worker process settles, the API is ready, a bad path stops at start-up', async () => {
    const db2 = await freshDatabase();
    const taskQueue = uniqueTaskQueue('tls-cli');
    const tlsEnv = {
      TEMPORAL_ADDRESS: server.address,
      TEMPORAL_TLS_CERT: pki.client.cert,
      TEMPORAL_TLS_KEY: pki.client.key,
      TEMPORAL_TLS_CA: pki.ca,
    };
    const procs: SpawnedProcess[] = [];
    const start = (cmd: string, extra: Record<string, string>) => {
      const p = spawnSatmachine(cmd, { databaseUrl: db2.url, taskQueue, extra });
      procs.push(p);
      return p;
    };
    const client = lazyTemporalClient({ address: server.address, namespace: 'default', tls: ours });
    try {
      // a certificate path that does not exist: the worker stops before connecting, naming it
      const missing = join(dir, 'missing.pem');
      const bad = start('worker', { ...tlsEnv, TEMPORAL_TLS_CERT: missing });
      const code = await new Promise<number | null>((r) => bad.proc.once('exit', r));
      expect(code).not.toBe(0);
      expect(bad.output()).toContain(`TEMPORAL_TLS_CERT=${missing} cannot be read (ENOENT)`);

      const worker = start('worker', tlsEnv);
      await worker.waitFor('worker running', 90_000);
      await createSuper(db2.pool);
      const operator = await createOperator(db2.pool);
      await splitAllToNewWallet(db2.pool, operator, {
        walletName: 'operator',
        fraction: '1.000000',
        label: 'owner',
      });
      const machine = await createMachine(db2.pool, operator, { name: 'tls-cli' });
      await createLp(db2.pool, machine, { name: 'bob', depositCents: 20_000 });
      const hash = await sendSettlement(db2.pool, client, taskQueue, machine, operator, {
        wireSats: 40_000,
        feeSats: 2_000,
        fiat: '20.00',
      });
      expect((await awaitSettled(db2.pool, client, hash)).status).toBe('processed');

      // the API's readiness check uses the same settings; without a client certificate it is not ready
      const readyz = async (extra: Record<string, string>) => {
        const port = await freePort();
        const api = start('api', {
          ...extra,
          PORT: String(port),
          API_HOST: '127.0.0.1',
          PUBLIC_URL: `http://127.0.0.1:${port}`,
          NOSTR_RELAYS: 'ws://127.0.0.1:9',
        });
        await api.waitFor('API listening', 90_000);
        const res = await fetch(`http://127.0.0.1:${port}/readyz`);
        const body = await res.text();
        await api.kill('SIGTERM');
        return { status: res.status, body };
      };
      expect((await readyz(tlsEnv)).status).toBe(200);
      const noCert = await readyz({ TEMPORAL_ADDRESS: server.address, TEMPORAL_TLS_CA: pki.ca });
      expect(noCert.status).toBe(503);
      expect(noCert.body).toMatch(/temporal/i);
    } finally {
      for (const p of procs) await p.kill('SIGTERM');
      await client.connection.close();
      await db2.close();
    }
  });
});
