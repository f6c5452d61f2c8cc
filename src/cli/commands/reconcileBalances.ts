import type { Config } from '../../config';
import { lpBalanceDifferences, lpBalanceRowCounts, type BalanceDifference } from '../../db/lpBalances';
import type { ParsedArgs } from '../args';
import { openPool } from '../runtime';

/** The report of a reconciliation, as printed (human text, or one JSON line with --json). */
export function reconciliationReport(
  differences: readonly BalanceDifference[],
  counts: { enrolments: number; days: number },
): string {
  if (!differences.length) {
    return `LP balances reconciled: ${counts.enrolments} enrolment rows and ${counts.days} daily rows equal the formula over deposits and legs\n`;
  }
  const lines = differences.map((d) => {
    const fields = Object.keys(d.computed).filter((k) => d.stored[k] !== d.computed[k]);
    const what = fields.map((k) => `${k} stored ${d.stored[k]} ≠ computed ${d.computed[k]}`).join(', ');
    return `  enrolment ${d.client_id}${d.day ? ` day ${d.day}` : ''}: ${what}`;
  });
  return (
    `LP balances DIFFER from the formula in ${differences.length} row(s):\n${lines.join('\n')}\n` +
    'The maintained table (satmachine.lp_balances / lp_dca_daily) is wrong for these enrolments: do not settle ' +
    'their balances by hand; report it with this output. The formula (deposits and legs) is the truth.\n'
  );
}

/**
 * `satmachine reconcile-balances [--json]`: compares every maintained LP balance row with
 * the formula over all deposits and legs, in one snapshot. Exit code 0 when they agree,
 * 1 (and the differing rows) when not.
 */
export async function reconcileBalancesCommand(config: Config, args: ParsedArgs): Promise<void> {
  const pool = openPool(config, 'satmachine-reconcile', 2);
  try {
    const differences = await lpBalanceDifferences(pool);
    const counts = await lpBalanceRowCounts(pool);
    if (args.flags.has('json')) {
      process.stdout.write(JSON.stringify({ ok: differences.length === 0, ...counts, differences }) + '\n');
    } else {
      process.stdout.write(reconciliationReport(differences, counts));
    }
    if (differences.length) process.exitCode = 1;
  } finally {
    await pool.end();
  }
}
