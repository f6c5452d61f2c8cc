import type { ApiDeps } from '../../src/api/deps';
import { roundStuck } from '../../src/api/settlementGateway';
import type { SettlementWorkflowState } from '../../src/contract';
import type { SettlementRow } from '../../src/db/settlements';

/**
 * The API's word on a payment round (patch `lean-settlement-events` keeps no timer
 * around it): stuck once the row's processing_started_at is older than the threshold,
 * as the worklist's SQL check counts it.
 */
describe('roundStuck', () => {
  const deps = { config: { stuckThresholdMinutes: 30 } } as unknown as ApiDeps;
  const state = (o: Partial<SettlementWorkflowState>) =>
    ({ phase: 'paying', stuck: false, ...o }) as SettlementWorkflowState;
  const row = (minutesAgo: number | null, status = 'processing') =>
    ({
      status,
      processing_started_at: minutesAgo === null ? null : new Date(Date.now() - minutesAgo * 60_000),
    }) as unknown as SettlementRow;

  it('is stuck once the round started more than the threshold ago', () => {
    expect(roundStuck(deps, row(31), state({}))).toBe(true);
  });

  it('is not stuck before the threshold, outside a round, or with no round start', () => {
    expect(roundStuck(deps, row(29), state({}))).toBe(false);
    expect(roundStuck(deps, row(31), state({ phase: 'holding' }))).toBe(false);
    expect(roundStuck(deps, row(31, 'errored'), state({}))).toBe(false);
    expect(roundStuck(deps, row(null), state({}))).toBe(false);
  });

  it('leaves a workflow that says stuck itself alone (its own timer, before the patch)', () => {
    expect(roundStuck(deps, row(1), state({ stuck: true }))).toBe(false);
  });
});
