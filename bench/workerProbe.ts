/**
 * Preloaded (`node --import tsx --import bench/workerProbe.ts src/cli/main.ts <cmd>`) into every
 * satmachine process the bench starts. It changes nothing in the product; it records what the
 * process really ran with, so the result file states the settings as they were:
 *
 * - every `pg.Pool` it opens (max connections, application name, timeouts);
 * - the worker's compiled Temporal options (slots, pollers, cache, timeouts), as the SDK
 *   compiled them, defaults filled in.
 *
 * With BENCH_ENGINE_BUNDLE set (the engine-baseline worker) it also swaps the workflow bundle
 * for the engine workflow (bench/engine/workflow.ts) and the activities for no-ops, keeping
 * every other option the product's `worker` command passes: the baseline runs with the
 * product's worker options because it is the product's worker command.
 *
 * The record goes to BENCH_PROBE_FILE (JSON, rewritten on each change).
 */
import { writeFileSync } from 'node:fs';
import { getHeapStatistics } from 'node:v8';
import pg from 'pg';
import { Worker, type WorkerOptions } from '@temporalio/worker';

// the SDK's workflow threads inherit process.execArgv: they run as the product's do, without the probe
{
  const argv = process.execArgv;
  const at = argv.findIndex((a, i) => a.endsWith('workerProbe.ts') && argv[i - 1] === '--import');
  if (at > 0) argv.splice(at - 1, 2);
}

const file = process.env.BENCH_PROBE_FILE;
const record: { command: string; pg_pools: Record<string, unknown>[]; worker?: unknown } = {
  command: process.argv.slice(2).join(' '),
  pg_pools: [],
};
const save = () => {
  if (!file) return;
  try {
    writeFileSync(file, JSON.stringify(record, null, 2));
  } catch {
    /* a probe never breaks the process it watches */
  }
};

/** A JSON-able copy: functions, connections, converters and bundles named, not dumped. */
function plain(v: unknown, depth = 0): unknown {
  if (v === null || v === undefined) return v;
  if (typeof v === 'function') return `[function ${(v as { name?: string }).name ?? ''}]`;
  if (typeof v === 'bigint') return v.toString();
  if (typeof v !== 'object') return v;
  if (depth > 5) return '[…]';
  if (v instanceof Map) return [...v.keys()].map(String);
  if (Array.isArray(v)) return v.map((x) => plain(x, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    if (['connection', 'loadedDataConverter', 'dataConverter', 'sinks', 'metricMeter'].includes(k)) continue;
    if (k === 'workflowBundle') {
      out[k] = (x as { codePath?: string })?.codePath ?? '[inline code]';
      continue;
    }
    if (k === 'interceptors' && x && typeof x === 'object') {
      out[k] = Object.fromEntries(
        Object.entries(x as Record<string, unknown>).map(([n, list]) => [
          n,
          Array.isArray(list) ? list.length : typeof list,
        ]),
      );
      continue;
    }
    out[k] = plain(x, depth + 1);
  }
  return out;
}

const OriginalPool = pg.Pool;
class ProbedPool extends OriginalPool {
  constructor(config?: pg.PoolConfig) {
    super(config);
    const c = config ?? {};
    record.pg_pools.push({
      application_name: c.application_name ?? null,
      max: c.max ?? 10,
      statement_timeout: c.statement_timeout ?? null,
      idle_in_transaction_session_timeout: c.idle_in_transaction_session_timeout ?? null,
      idle_timeout_ms: c.idleTimeoutMillis ?? null,
      connection_timeout_ms: c.connectionTimeoutMillis ?? null,
    });
    save();
  }
}
(pg as { Pool: typeof pg.Pool }).Pool = ProbedPool;

const engineBundle = process.env.BENCH_ENGINE_BUNDLE;
/** The engine baseline's activities: they return at once. */
const noopActivities = {
  async engineStep(): Promise<void> {},
  async engineLeg(): Promise<void> {},
};

// eslint-disable-next-line @typescript-eslint/unbound-method
const create = Worker.create;
Worker.create = async function probedCreate(this: typeof Worker, options: WorkerOptions): Promise<Worker> {
  let opts = options;
  if (engineBundle) {
    const { workflowsPath: _unused, ...rest } = options;
    opts = { ...rest, workflowBundle: { codePath: engineBundle }, activities: noopActivities };
  }
  const worker = await create.call(this, opts);
  record.worker = plain(worker.options);
  save();
  return worker;
};
save();

// BENCH_STALLS=1 (a diagnosis): every event-loop stall of 15 ms or more and every GC pause of
// 5 ms or more, with its wall-clock time, on stderr: a latency tail can then be laid beside
// what each process was doing at that moment (bench/reads.ts prints when its run started)
if (process.env.BENCH_STALLS) {
  const name = process.argv[2] ?? 'process';
  const emit = (what: string, atMs: number, ms: number) =>
    process.stderr.write(`[stall] ${new Date(atMs).toISOString()} ${name} ${what} ${ms.toFixed(1)} ms\n`);
  void import('node:perf_hooks').then(({ PerformanceObserver, performance }) => {
    // perf_hooks.constants.NODE_PERFORMANCE_GC_*: MINOR 1, MAJOR 4, INCREMENTAL 8, WEAKCB 16
    const gcKinds: Record<number, string> = {
      1: 'gc-minor',
      4: 'gc-major',
      8: 'gc-incremental-marking',
      16: 'gc-weak-callbacks',
    };
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        const kind = (e as { detail?: { kind?: number } }).detail?.kind ?? 0;
        if (e.duration >= 5) emit(gcKinds[kind] ?? 'gc', performance.timeOrigin + e.startTime, e.duration);
        if (kind === 4) {
          const h = getHeapStatistics();
          process.stderr.write(
            `[stall] ${new Date().toISOString()} ${name} (pid ${process.pid}) heap after major gc: used ${(h.used_heap_size / 1e6).toFixed(1)} MB of ${(h.total_heap_size / 1e6).toFixed(1)} MB\n`,
          );
        }
      }
    }).observe({ entryTypes: ['gc'] });
    let last = performance.now();
    const tick = setInterval(() => {
      const t = performance.now();
      const late = t - last - 5;
      if (late >= 15) emit('event-loop-blocked', performance.timeOrigin + last + 5, late);
      last = t;
    }, 5);
    tick.unref();
  });
}

// BENCH_ALLOC_PROF=DIR (a diagnosis): a sampling allocation profile of this process, the
// objects the GC has since collected included (what makes its garbage), written to
// DIR/<command>.heapprofile when the process is told to stop; open it in Chrome DevTools
if (process.env.BENCH_ALLOC_PROF) {
  const dir = process.env.BENCH_ALLOC_PROF;
  const name = process.argv[2] ?? 'process';
  void import('node:inspector').then(({ Session }) => {
    const session = new Session();
    session.connect();
    session.post('HeapProfiler.enable', () =>
      session.post('HeapProfiler.startSampling', {
        samplingInterval: 16_384,
        includeObjectsCollectedByMajorGC: true,
        includeObjectsCollectedByMinorGC: !process.env.BENCH_ALLOC_PROF_MAJOR_ONLY,
      } as object),
    );
    process.prependListener('SIGTERM', () => {
      session.post('HeapProfiler.stopSampling', (err, r) => {
        if (!err) writeFileSync(`${dir}/${name}.heapprofile`, JSON.stringify(r.profile));
      });
    });
  });
}
