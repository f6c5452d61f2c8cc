import type { Pool } from '../src/db/pool';

/**
 * `--pg-statements`: what PostgreSQL ran per settlement during the saturated runs, from
 * pg_stat_statements (top-level and nested statements: a trigger's work shows up too).
 * Execution time includes lock waits; planning time (`plan_ms_per_settlement`, tracked
 * with pg_stat_statements.track_planning) is what a prepared statement would save.
 */
export async function statementsBaseline(pool: Pool): Promise<number> {
  await pool.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
  await pool.query('SELECT pg_stat_statements_reset()');
  const { rows } = await pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM satmachine.dca_settlements WHERE status = 'processed'`,
  );
  return rows[0]!.n;
}

export async function statementsPerSettlement(pool: Pool, processedBefore: number, log: (s: string) => void) {
  const { rows: done } = await pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM satmachine.dca_settlements WHERE status = 'processed'`,
  );
  const settlements = done[0]!.n - processedBefore;
  const { rows } = await pool.query<{
    query: string;
    calls: number;
    total_ms: number;
    plan_ms: number;
    toplevel: boolean;
  }>(
    `SELECT regexp_replace(query, '\\s+', ' ', 'g') AS query, calls::int, round(total_exec_time::numeric, 1)::float AS total_ms,
            round(total_plan_time::numeric, 1)::float AS plan_ms, toplevel
       FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
      ORDER BY total_exec_time + total_plan_time DESC LIMIT 40`,
  );
  const top = rows.map((r) => ({
    query: r.query.slice(0, 160),
    toplevel: r.toplevel,
    calls_per_settlement: Math.round((r.calls / Math.max(1, settlements)) * 10) / 10,
    ms_per_settlement: Math.round((r.total_ms / Math.max(1, settlements)) * 100) / 100,
    plan_ms_per_settlement: Math.round((r.plan_ms / Math.max(1, settlements)) * 100) / 100,
  }));
  const planMs = rows.reduce((a, r) => a + r.plan_ms, 0) / Math.max(1, settlements);
  const toplevelCalls = rows.filter((r) => r.toplevel).reduce((a, r) => a + r.calls, 0);
  log(
    `pg statements over ${settlements} settlements (${Math.round(toplevelCalls / Math.max(1, settlements))} top-level calls each, ${Math.round(planMs * 100) / 100} ms planning each; top 40 by time):`,
  );
  for (const t of top)
    log(
      `  ${t.toplevel ? 'top ' : 'nest'} ${String(t.calls_per_settlement).padStart(6)}×  ${String(t.ms_per_settlement).padStart(7)} ms  plan ${String(t.plan_ms_per_settlement).padStart(5)} ms  ${t.query}`,
    );
  return {
    settlements,
    top_level_calls_per_settlement: toplevelCalls / Math.max(1, settlements),
    plan_ms_per_settlement: Math.round(planMs * 100) / 100,
    top,
  };
}
