import { insertWallet } from '../../src/db/ledger';
import { LedgerBackend } from '../../src/payments/ledger';
import { createLp, createMachine, type Operator, createSuperAndOperator } from '../helpers/fixtures';
import { settlementPayLegRuns } from '../helpers/legHistory';
import { awaitSettled, legsOf, sendSettlement } from '../helpers/settle';
import { freshDatabase, temporalClient, testLogger, testWorker } from '../helpers/stack';

/**
 * How legs are paid, as the workflow history shows it (docs/settlement.md §4.6): the
 * embedded ledger pays in the database, so each leg is one local activity (a
 * `core_local_activity` marker with the leg's summary); LOCAL_LEG_PAYMENTS=0 makes
 * them normal activities. (LNbits and LNURL legs: test/integration/lnbits.test.ts.)
 */
describe('leg execution: ledger legs as local activities', () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let temporal: Awaited<ReturnType<typeof temporalClient>>;
  let operator: Operator;

  beforeAll(async () => {
    db = await freshDatabase();
    temporal = await temporalClient();
    operator = await createSuperAndOperator(db.pool, {
      split: { walletName: 'owner', fraction: '1.000000', label: 'owner' },
    });
  });
  afterAll(async () => {
    await temporal.close();
    await db.close();
  });

  /** A cash-out to two LPs, one autoforwarding to a ledger Lightning address: 5 legs. */
  async function settleOnce(localLegPayments: boolean | undefined, tag: string) {
    const ledger = new LedgerBackend({ pool: db.pool, logger: testLogger });
    const w = await testWorker({ pool: db.pool, payments: ledger, localLegPayments });
    const running = w.start();
    try {
      const machine = await createMachine(db.pool, operator, { name: `legs ${tag}` });
      const target = await insertWallet(db.pool, null, `forward target ${tag}`);
      await createLp(db.pool, machine, {
        name: `alice ${tag}`,
        depositCents: 10_000,
        autoforward: `${target.id}@${ledger.lnAddressDomain}`,
      });
      await createLp(db.pool, machine, { name: `bob ${tag}`, depositCents: 10_000 });
      const hash = await sendSettlement(db.pool, temporal.client, w.taskQueue, machine, operator, {
        wireSats: 42_000,
        feeSats: 2_000,
        fiat: '40.00',
      });
      const s = await awaitSettled(db.pool, temporal.client, hash);
      expect(s.status).toBe('processed');
      const legs = await legsOf(db.pool, s.id);
      expect(legs.map((l) => l.leg_type).sort()).toEqual(
        ['autoforward', 'dca', 'dca', 'operator_split', 'super_fee'].sort(),
      );
      expect(legs.every((l) => l.status === 'completed')).toBe(true);
      return { legs, runs: await settlementPayLegRuns(temporal.client, hash) };
    } finally {
      await running.stop();
    }
  }

  it('pays every ledger leg (the autoforward to a ledger address too) as one local activity with its summary', async () => {
    const { legs, runs } = await settleOnce(undefined, 'local');
    expect(runs.map((r) => r.kind)).toEqual(legs.map(() => 'local'));
    expect(runs.every((r) => r.attempt === 1)).toBe(true);
    // the summary the Temporal UI shows on each local activity's marker
    expect(runs.map((r) => r.summary).sort()).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^autoforward [\d,]+ sats → [0-9a-z]+@ledger\.satmachine\.local$/),
        expect.stringMatching(/^dca [\d,]+ sats → lp alice local$/),
        expect.stringMatching(/^dca [\d,]+ sats → lp bob local$/),
        expect.stringMatching(/^super_fee [\d,]+ sats → platform$/),
        expect.stringMatching(/^operator_split [\d,]+ sats → owner$/),
      ]),
    );
  });

  it('with local leg payments off (LOCAL_LEG_PAYMENTS=0) pays each leg as a normal activity', async () => {
    const { legs, runs } = await settleOnce(false, 'normal');
    expect(runs.map((r) => r.kind)).toEqual(legs.map(() => 'activity'));
    expect(runs.every((r) => r.summary?.includes(' sats → '))).toBe(true);
  });
});
