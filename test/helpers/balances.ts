import { lpBalanceDifferences } from '../../src/db/lpBalances';
import type { Pool } from '../../src/db/pool';

/**
 * The maintained LP balances (satmachine.lp_balances, lp_dca_daily) equal the formula
 * over every deposit and leg — what `satmachine reconcile-balances` checks.
 */
export async function expectBalancesReconciled(pool: Pool): Promise<void> {
  expect(await lpBalanceDifferences(pool)).toEqual([]);
}
