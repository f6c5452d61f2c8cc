import pg from 'pg';
import { chmodSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbeddedPostgres, ensureDatabase } from '../src/db/embeddedPostgres';
import { createPool } from '../src/db/pool';
import { migrate } from '../src/db/migrate';
import { logger } from '../src/logger';
import { payLedgerLeg } from '../src/db/ledger';
import { seedPlatform, seedMachine } from '../bench/seed';
import { SecretBox } from '../src/security/secretBox';
(async () => {
  logger.level = 'warn';
  const dir = mkdtempSync(join(tmpdir(), 'lb-')); chmodSync(dir, 0o755);
  const pgr = await startEmbeddedPostgres({ dir: join(dir, 'pg'), port: 39557, logger, persistent: false,
    flags: ['-c', 'shared_preload_libraries=pg_stat_statements', '-c', 'pg_stat_statements.track=all'] });
  await ensureDatabase(pgr.url('postgres'), 'satmachine');
  const pool = createPool({ connectionString: pgr.socketUrl('satmachine'), max: 25, applicationName: 'lb' });
  await migrate(pool);
  if (process.env.FF) { await pool.query(`ALTER TABLE satmachine.ledger_wallets SET (fillfactor = ${process.env.FF})`); }
  if (process.env.FFL) { await pool.query(`ALTER TABLE satmachine.dca_payments SET (fillfactor = ${process.env.FFL})`); }
  const box = new SecretBox('ab'.repeat(32));
  const { operator } = await seedPlatform(pool, box);
  const N = Number(process.env.N ?? 5000);
  const m = await seedMachine(pool, operator, { name: 'lb', lps: N, depositCents: 100000, fundSats: 1e12 });
  await pool.query(`INSERT INTO satmachine.dca_payments (id, client_id, machine_id, operator_user_id, leg_type, amount_sats, amount_fiat, destination_wallet_id, status)
    SELECT 'leg' || c.id, c.id, c.machine_id, $2, 'dca', 1000, 1.00, lp.dca_wallet_id, 'pending' FROM satmachine.dca_clients c JOIN satmachine.dca_lp lp ON lp.user_id = c.user_id WHERE c.machine_id = $1`, [m.id, operator.id]);
  const legs = (await pool.query<{ id: string }>(`SELECT id FROM satmachine.dca_payments WHERE machine_id = $1`, [m.id])).rows.map((r) => r.id);
  await pool.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
  await pool.query('VACUUM ANALYZE'); await pool.query('CHECKPOINT');
  await pool.query('SELECT pg_stat_statements_reset()');
  const pgPids = async () => (await pool.query<{ pid: number }>('SELECT pid FROM pg_stat_activity')).rows.map((r) => r.pid);
  const cpuOf = (pids: number[]) => { let t = 0; for (const p of pids) { try { const f = require('node:fs').readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1].split(' '); t += Number(f[11]) + Number(f[12]); } catch {} } return t / 100; };
  const CONC = Number(process.env.CONC ?? 25);
  let i = 0;
  // warm every connection
  const pids0 = await pgPids(); const c0 = cpuOf(pids0);
  const t = performance.now(); const cpu0 = process.cpuUsage();
  await Promise.all(Array.from({ length: CONC }, async () => { while (i < legs.length) { const id = legs[i++]!; const r = await payLedgerLeg(pool, id, 'x'); if (r.outcome !== 'paid') throw new Error(JSON.stringify(r)); } }));
  const ms = performance.now() - t; const cpu = process.cpuUsage(cpu0);
  const pids = await pgPids();
  console.log(`legs ${legs.length} conc ${CONC}: ${(legs.length / ms * 1000).toFixed(0)} legs/s, client cpu ${((cpu.user + cpu.system) / 1000 / legs.length).toFixed(3)} ms/leg, pg backends cpu ~${((cpuOf(pids) - c0) * 1000 / legs.length).toFixed(3)} ms/leg`);
  const { rows } = await pool.query(`SELECT calls, round(total_exec_time::numeric / calls, 4) AS ms_each, round(total_exec_time::numeric,0) total, regexp_replace(left(query, 110), '\\s+', ' ', 'g') q FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 16`);
  for (const r of rows) console.log(String(r.calls).padStart(7), String(r.ms_each).padStart(9), String(r.total).padStart(7), r.q);
  await pool.end(); await pgr.stop();
})().catch((e) => { console.error(e); process.exit(1); });
