import { startIngest, type IngestOptions, type RunningIngest } from '../../src/ingest/ingestService';
import { RelayClient } from '../../src/nostr/relayClient';
import { startRelay, type RelayOptions, type RunningRelay } from '../../src/relay/relayServer';
import { startApi, type TestApi } from './api';
import { ledgerFor, secretBox } from './fixtures';
import { freePort } from './ports';
import { freshDatabase, temporalClient, testLogger, testWorker } from './stack';

export type FreshDatabase = Awaited<ReturnType<typeof freshDatabase>>;
export type TemporalConnection = Awaited<ReturnType<typeof temporalClient>>;

/** What an ingest needs besides its relays: the database, Temporal and the task queue it starts workflows on. */
export interface IngestTarget {
  pool: FreshDatabase['pool'];
  client: TemporalConnection['client'];
  taskQueue: string;
}

/**
 * The real stack of one test file: a fresh database, a Temporal client and a worker on a
 * unique task queue, plus whatever the file starts through it (our relay, the API, an
 * ingest, a publisher). `stop()` stops those in the reverse order they were started, then
 * the worker, the Temporal client and the database.
 */
export interface TestStack extends IngestTarget {
  db: FreshDatabase;
  temporal: TemporalConnection;
  worker: { stop: () => Promise<void> };
  /** our relay on a free port (closed by `stop()`) */
  startRelay(opts?: Omit<RelayOptions, 'pool' | 'logger' | 'port'>): Promise<RunningRelay>;
  /** the HTTP API on this stack's database, Temporal and task queue (closed by `stop()`) */
  startApi(opts?: Omit<Parameters<typeof startApi>[0], 'pool' | 'temporal' | 'taskQueue'>): Promise<TestApi>;
  /** an ingest on these relays (stopped by `stop()`) */
  startIngest(relays: string[], opts?: TestIngestOptions): Promise<RunningIngest>;
  /** a relay client connected to `url` (closed by `stop()`) */
  connectPublisher(url: string): Promise<RelayClient>;
  /** `stop()` calls `fn` too, in its turn (something the test started itself) */
  onStop(fn: () => unknown): void;
  /** stops everything started through this stack, last started first */
  stop(): Promise<void>;
}

/** The ingest options a test may set; the rest come from the stack. */
export type TestIngestOptions = Partial<Omit<IngestOptions, 'pool' | 'client' | 'relays' | 'taskQueue'>>;

/** An ingest on `relays` for `target`, with the test secret box, the ledger and the test logger. */
export function startTestIngest(
  target: IngestTarget,
  relays: string[],
  opts: TestIngestOptions = {},
): Promise<RunningIngest> {
  return startIngest({
    pool: target.pool,
    client: target.client,
    relays,
    taskQueue: target.taskQueue,
    secretBox,
    payments: ledgerFor(target.pool),
    logger: testLogger,
    ...opts,
  });
}

/** A relay client (test logger) on `url`, once it is connected. */
export async function connectPublisher(url: string): Promise<RelayClient> {
  const publisher = new RelayClient(url, { logger: testLogger }).start();
  await publisher.waitConnected();
  return publisher;
}

/** A fresh database, a Temporal client and the API on them, with no worker: nothing runs workflows. */
export interface ApiStack {
  db: FreshDatabase;
  temporal: TemporalConnection;
  api: TestApi;
  /** closes the API and the Temporal client, and drops the database */
  stop(): Promise<void>;
}

export async function startApiStack(): Promise<ApiStack> {
  const db = await freshDatabase();
  const temporal = await temporalClient();
  const api = await startApi({ pool: db.pool, temporal: temporal.client });
  return {
    db,
    temporal,
    api,
    stop: async () => {
      await api.close();
      await temporal.close();
      await db.close();
    },
  };
}

/** Starts a fresh database, a Temporal client and a running worker (see TestStack). */
export async function startTestStack(
  opts: { workerLogger?: Parameters<typeof testWorker>[0]['logger'] } = {},
): Promise<TestStack> {
  const db = await freshDatabase();
  const temporal = await temporalClient();
  const w = await testWorker({ pool: db.pool, ...(opts.workerLogger ? { logger: opts.workerLogger } : {}) });
  const worker = w.start();
  const started: (() => unknown)[] = [];
  const stack: TestStack = {
    db,
    temporal,
    worker,
    pool: db.pool,
    client: temporal.client,
    taskQueue: w.taskQueue,
    startRelay: async (relayOpts = {}) => {
      const relay = await startRelay({
        pool: db.pool,
        logger: testLogger,
        port: await freePort(),
        ...relayOpts,
      });
      started.push(() => relay.close());
      return relay;
    },
    startApi: async (apiOpts = {}) => {
      const api = await startApi({
        pool: db.pool,
        temporal: temporal.client,
        taskQueue: w.taskQueue,
        ...apiOpts,
      });
      started.push(() => api.close());
      return api;
    },
    startIngest: async (relays, ingestOpts) => {
      const ingest = await startTestIngest(stack, relays, ingestOpts);
      started.push(() => ingest.stop());
      return ingest;
    },
    connectPublisher: async (url) => {
      const publisher = await connectPublisher(url);
      started.push(() => publisher.close());
      return publisher;
    },
    onStop: (fn) => {
      started.push(fn);
    },
    stop: async () => {
      while (started.length) await started.pop()!();
      await worker.stop();
      await temporal.close();
      await db.close();
    },
  };
  return stack;
}
