import type { Config } from '../../config';
import {
  lpBalanceDifferences,
  lpBalanceRowCounts,
  rebuildLpBalances,
  type BalanceDifference,
} from '../../db/lpBalances';
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
    'The maintained table (satmachine.lp_balances / lp_dca_daily) is wrong for these enrolments; the formula ' +
    '(deposits and legs) is the truth. Keep this output (something wrote past the triggers), then run ' +
    '`satmachine reconcile-balances --repair` to rebuild every row from the formula.\n'
  );
}

/**
 * `satmachine reconcile-balances [--json] [--repair]`: compares every maintained LP balance
 * row with the formula over all deposits and legs, in one snapshot. Exit code 0 when they
 * agree, 1 (and the differing rows) when not. With --repair, differing tables are rebuilt
 * from the formula (writers wait meanwhile) and checked again: exit 0 when they now agree.
 */
export async function reconcileBalancesCommand(config: Config, args: ParsedArgs): Promise<void> {
  const pool = openPool(config, 'satmachine-reconcile', 2);
  const json = args.flags.has('json');
  try {
    const found = await lpBalanceDifferences(pool);
    let differences = found;
    let repaired = false;
    if (found.length && args.flags.has('repair')) {
      await rebuildLpBalances(pool);
      repaired = true;
      differences = await lpBalanceDifferences(pool);
    }
    const counts = await lpBalanceRowCounts(pool);
    if (json) {
      process.stdout.write(
        JSON.stringify({
          ok: differences.length === 0,
          ...counts,
          differences,
          ...(repaired ? { repaired_differences: found } : {}),
        }) + '\n',
      );
    } else {
      if (repaired) {
        // what was found, without the advice to repair
        process.stdout.write(
          reconciliationReport(found, counts).trimEnd().split('\n').slice(0, -1).join('\n') + '\n',
        );
        process.stdout.write(`rebuilt every LP balance row from the formula (${found.length} differed)\n`);
      }
      process.stdout.write(reconciliationReport(differences, counts));
    }
    if (differences.length) process.exitCode = 1;
  } finally {
    await pool.end();
  }
}
