/**
 * LP balance reads: `GET /api/v1/lp/balances` offered open-loop at a fixed rate over a table
 * of a million legs, for a reader with thousands of legs of their own. Latency is counted
 * from each request's scheduled time.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { Pool, PoolClient } from '../src/db/pool';
import { httpJson, now, openLoop } from './load';
import { percentile } from './procStats';

/**
 * `count` completed dca legs at one machine, in set-based statements (generate_series, 200,000 rows each): settlements of 100 legs; every `readerEvery`-th leg is
 * the reader's, the others spread over `clientIds`. Written straight in SQL, as history
 * that is already settled: no workflow, no ledger transfer.
 */
export async function seedLegTable(pool: Pool, o: Parameters<typeof insertLegs>[1]): Promise<void> {
  // one connection without the pool's statement timeout: 200,000 rows can take longer than 30 s on a busy box
  const client = await pool.connect();
  try {
    await client.query('SET statement_timeout = 0');
    await insertLegs(client, o);
  } finally {
    await client.query('RESET statement_timeout').catch(() => undefined);
    client.release();
  }
}

async function insertLegs(
  pool: PoolClient,
  o: {
    machineId: string;
    operatorId: string;
    clientIds: string[];
    readerClientId: string;
    readerEvery: number;
    count: number;
    log: (s: string) => void;
  },
): Promise<void> {
  const tag = `b${randomBytes(3).toString('hex')}`;
  const PER = 100;
  await pool.query(
    `INSERT INTO satmachine.dca_settlements (id, machine_id, payment_hash, tx_type, wire_sats, fiat_amount, fiat_code,
                                             principal_sats, fee_sats, status, processed_at)
     SELECT $3 || 's' || g, $1, md5($3 || 's' || g) || md5($3 || 't' || g), 'cash_out', 100000, 100, 'USD',
            95000, 5000, 'processed', now()
       FROM generate_series(1, $2::int) AS g`,
    [o.machineId, Math.ceil(o.count / PER), tag],
  );
  // secondary indexes are rebuilt once after the load, not maintained row by row (their
  // definitions are read from the catalogue, so an index added by a migration is kept)
  const { rows: indexes } = await pool.query<{ name: string; def: string }>(
    `SELECT i.indexname AS name, i.indexdef AS def FROM pg_indexes i
      WHERE i.schemaname = 'satmachine' AND i.tablename = 'dca_payments'
        AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)`,
  );
  for (const ix of indexes) await pool.query(`DROP INDEX satmachine.${ix.name}`);
  const CHUNK = 200_000;
  for (let from = 1; from <= o.count; from += CHUNK) {
    const to = Math.min(o.count, from + CHUNK - 1);
    const t = Date.now();
    await pool.query(
      `INSERT INTO satmachine.dca_payments (id, settlement_id, client_id, machine_id, operator_user_id, leg_type,
                                            amount_sats, amount_fiat, status, completed_at, sort_order)
       SELECT $1 || 'l' || g, $1 || 's' || ((g - 1) / ${PER} + 1),
              CASE WHEN g % $7::int = 0 THEN $6 ELSE ($2::text[])[g % array_length($2::text[], 1) + 1] END,
              $3, $4, 'dca', 950, 1.00, 'completed', now() - make_interval(secs => g), (g - 1) % ${PER}
         FROM generate_series($5::int, $8::int) AS g`,
      [tag, o.clientIds, o.machineId, o.operatorId, from, o.readerClientId, o.readerEvery, to],
    );
    o.log(`reads: legs ${from}–${to} inserted in ${Date.now() - t} ms`);
  }
  const t = Date.now();
  for (const ix of indexes) await pool.query(ix.def);
  o.log(`reads: ${indexes.length} indexes of dca_payments rebuilt in ${Date.now() - t} ms`);
  // a table that has been in service is vacuumed and checkpointed: the reads are measured
  // in that state, not beside the autovacuum and the checkpoint a fresh million-row load sets off
  const v = Date.now();
  await pool.query('VACUUM (ANALYZE) satmachine.dca_settlements');
  await pool.query('VACUUM (ANALYZE) satmachine.dca_payments');
  // and every other table the runs before churned (the rate sweep updates the machine
  // wallets, balances and relay tables thousands of times): their autovacuum would
  // otherwise run during the measured reads
  await pool.query('VACUUM (ANALYZE)');
  await pool.query('CHECKPOINT');
  o.log(`reads: vacuumed, analysed and checkpointed in ${Date.now() - v} ms`);
  // the box's dirty pages written back now (the Temporal server's SQLite file, which does not
  // fsync each commit, the WAL, the logs of the runs before): otherwise the kernel's writeback
  // threads do it during the measured reads (`others_cpu_seconds` 1.3-2.1 s in the slow runs)
  const w = Date.now();
  execFileSync('sync');
  o.log(`reads: dirty pages written back (sync) in ${Date.now() - w} ms`);
}

/** One open-loop run of balance reads: `rate`/s for `seconds`. */
export async function offerReads(apiUrl: string, apiKey: string, rate: number, seconds: number) {
  const latencies: number[] = [];
  const senderLags: number[] = [];
  let errors = 0;
  const url = `${apiUrl}/api/v1/lp/balances`;
  const headers = { authorization: `Bearer ${apiKey}` };
  const n = Math.round(rate * seconds);
  const trace: [number, number, number][] = [];
  const t0Hint = now() + 50;
  const t0 = await openLoop(n, rate, async (_i, due) => {
    const sentLag = now() - due;
    senderLags.push(Math.max(0, Math.round(sentLag * 10) / 10));
    try {
      const r = await httpJson(url, 'GET', headers);
      if (r.status !== 200) errors++;
    } catch {
      errors++;
    }
    latencies.push(Math.round((now() - due) * 10) / 10);
    if (process.env.BENCH_READS_TRACE)
      trace.push([Math.round(due - t0Hint), Math.round(now() - due), Math.round(sentLag)]);
  });
  if (process.env.BENCH_READS_TRACE) {
    trace.sort((a, b) => b[1] - a[1]);
    process.stderr.write(
      `slowest reads of the run that started at ${new Date(t0).toISOString()} ` +
        `[ms into run, latency ms, sender lag ms]: ${JSON.stringify(trace.slice(0, 40))}\n`,
    );
  }
  const wall = (now() - t0) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    offered_per_s: rate,
    requests: n,
    errors,
    // completed per second over the whole run, the queue's drain included
    achieved_per_s: Math.round((n / wall) * 10) / 10,
    latency_ms: {
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      max: latencies[latencies.length - 1] ?? NaN,
    },
    // how late the bench itself sent (its own process, or the box, stalled): a tail here is not the API's
    sender_lag_ms: (() => {
      senderLags.sort((a, b) => a - b);
      return { p99: percentile(senderLags, 99), max: senderLags[senderLags.length - 1] ?? NaN };
    })(),
  };
}
