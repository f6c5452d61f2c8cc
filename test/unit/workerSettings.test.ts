import { legRunsAs } from '../../src/activities/legExecution';
import type { DestinationKind, PaymentVenue } from '../../src/payments/backend';
import { DEV_SERVER_DYNAMIC_CONFIG } from '../../src/cli/temporalDevServer';
import { workerSettings } from '../../src/worker/settings';
import { LEG_CONCURRENCY } from '../../src/workflows/legLimits';

const backend = (venue: (k: DestinationKind) => PaymentVenue) => ({ venueOf: venue });

describe('legRunsAs: how a leg is paid, from where its backend pays', () => {
  const wallet = { destination_ln_address: null };
  const address = { destination_ln_address: 'carol@example.com' };

  it('a backend that pays in the database: local activities, wallet and Lightning address alike', () => {
    const ledger = backend(() => 'database');
    expect(legRunsAs(ledger, wallet)).toBe('local');
    expect(legRunsAs(ledger, address)).toBe('local');
  });

  it('a backend that pays over the network: normal activities', () => {
    const lnbits = backend(() => 'network');
    expect(legRunsAs(lnbits, wallet)).toBe('activity');
    expect(legRunsAs(lnbits, address)).toBe('activity');
  });

  it('asks the backend about the kind of destination the leg has', () => {
    const mixed = backend((k) => (k === 'wallet' ? 'database' : 'network'));
    expect(legRunsAs(mixed, wallet)).toBe('local');
    expect(legRunsAs(mixed, address)).toBe('activity');
  });

  it('LOCAL_LEG_PAYMENTS=0 makes every leg a normal activity', () => {
    expect(
      legRunsAs(
        backend(() => 'database'),
        wallet,
        false,
      ),
    ).toBe('activity');
  });
});

describe('workerSettings', () => {
  it('defaults: a page of legs fits the slots, one pooled connection per slot', () => {
    const s = workerSettings({});
    expect(s.maxConcurrentLocalActivityExecutions).toBeGreaterThanOrEqual(LEG_CONCURRENCY);
    expect(s.maxConcurrentActivityTaskExecutions).toBeGreaterThanOrEqual(LEG_CONCURRENCY);
    expect(s.pgPoolSize).toBe(s.maxConcurrentActivityTaskExecutions + s.maxConcurrentLocalActivityExecutions);
    expect(s.maxCachedWorkflows).toBeGreaterThanOrEqual(s.maxConcurrentWorkflowTaskExecutions);
    expect(s.localLegPayments).toBe(true);
    expect(s.legConcurrency).toBe(LEG_CONCURRENCY);
  });

  it('reads the environment; the pool follows the slots unless set', () => {
    const s = workerSettings({
      WORKER_ACTIVITY_SLOTS: '8',
      WORKER_LOCAL_ACTIVITY_SLOTS: '12',
      WORKER_WORKFLOW_TASK_SLOTS: '10',
      WORKER_MAX_CACHED_WORKFLOWS: '500',
      LOCAL_LEG_PAYMENTS: '0',
    });
    expect(s).toMatchObject({
      maxConcurrentActivityTaskExecutions: 8,
      maxConcurrentLocalActivityExecutions: 12,
      maxConcurrentWorkflowTaskExecutions: 10,
      maxCachedWorkflows: 500,
      pgPoolSize: 20,
      localLegPayments: false,
    });
    expect(workerSettings({ WORKER_PG_POOL_SIZE: '80' }).pgPoolSize).toBe(80);
  });

  it('refuses settings that contradict each other or are not counts, saying what to change', () => {
    expect(() => workerSettings({ WORKER_PG_POOL_SIZE: '10' })).toThrow(
      /WORKER_PG_POOL_SIZE \(10\) is below the activity slots.*raise it, or lower the slots/,
    );
    expect(() => workerSettings({ WORKER_MAX_CACHED_WORKFLOWS: '5' })).toThrow(
      /WORKER_MAX_CACHED_WORKFLOWS \(5\) must be at least WORKER_WORKFLOW_TASK_SLOTS/,
    );
    expect(() => workerSettings({ WORKER_ACTIVITY_SLOTS: '0' })).toThrow(
      /WORKER_ACTIVITY_SLOTS must be a whole number >= 1, got "0"/,
    );
    expect(() => workerSettings({ WORKER_LOCAL_ACTIVITY_SLOTS: '2.5' })).toThrow(/whole number/);
    expect(() => workerSettings({ LOCAL_LEG_PAYMENTS: 'yes' })).toThrow(/LOCAL_LEG_PAYMENTS must be 1 or 0/);
  });
});

describe('the dev server dynamic config', () => {
  it('sizes the history cache above its 512-workflow default and keeps eager activities on', () => {
    expect(DEV_SERVER_DYNAMIC_CONFIG['history.cacheMaxSize']).toBeGreaterThan(512);
    expect(DEV_SERVER_DYNAMIC_CONFIG['system.enableActivityEagerExecution']).toBe(true);
  });
});
