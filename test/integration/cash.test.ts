import { SettlementSignals } from '../../src/ingest/settlementSignals';
import { buildSettlementEvent } from '../../src/nostr/codec';
import type { TestApi } from '../helpers/api';
import {
  createMachine,
  createOperator,
  createSuper,
  ledgerFor,
  newPaymentHash,
  settlementContent,
  type Machine,
  type Operator,
  splitAllToNewWallet,
} from '../helpers/fixtures';
import { awaitStatus } from '../helpers/settle';
import { startTestStack, type TestStack } from '../helpers/testStack';

type Bills = { denomination: number; count: number }[];

/**
 * Cash management (issue 20 item 4) against the real stack: settlements recorded by the
 * workflow (their bills and cassette counts from the machine's signed event), collections
 * through the API, reconciled per denomination; days until a cassette is empty.
 */
describe('cash collections and cassette forecasts', () => {
  let stack: TestStack;
  let db: TestStack['db'];
  let temporal: TestStack['temporal'];
  let taskQueue: string;
  let api: TestApi;
  let operator: Operator;
  let rival: Operator;
  let machine: Machine;
  let rivalMachine: Machine;

  beforeAll(async () => {
    stack = await startTestStack();
    ({ db, temporal, taskQueue } = stack);
    api = await stack.startApi();
    await createSuper(db.pool);
    operator = await createOperator(db.pool, 'cash operator');
    rival = await createOperator(db.pool, 'rival');
    await splitAllToNewWallet(db.pool, operator);
    machine = await createMachine(db.pool, operator, { fundSats: 10_000_000, name: 'cash atm' });
    rivalMachine = await createMachine(db.pool, rival, { name: 'rival atm' });
  });
  afterAll(async () => {
    await stack.stop();
  });

  /** One ATM transaction through the workflow, with the bills the machine reports. */
  async function transact(o: {
    txType: 'cash_in' | 'cash_out';
    bills: Bills;
    cassettes?: Record<string, { denomination: number; count: number }>;
  }) {
    const hash = newPaymentHash();
    const fiat = o.bills.reduce((s, b) => s + b.denomination * b.count, 0);
    const wire = fiat * 1000;
    const content = {
      ...settlementContent({
        paymentHash: hash,
        txType: o.txType,
        wireSats: wire,
        feeSats: Math.floor(wire / 25),
        fiat: `${fiat}.00`,
        cassettes: o.cassettes,
      }),
      bills: o.bills,
    };
    const signals = new SettlementSignals(temporal.client, taskQueue);
    await signals.atmEvent(hash, {
      event: buildSettlementEvent(machine.secretHex, operator.pubkey, content),
    });
    const payment = {
      wallet_id: machine.walletId,
      payment_hash: hash,
      amount_sats: wire,
      direction: o.txType === 'cash_out' ? ('incoming' as const) : ('outgoing' as const),
    };
    await ledgerFor(db.pool).recordLightningPayment(payment);
    await signals.paymentObserved(payment);
    await awaitStatus(db.pool, hash, ['processed']);
  }

  const cash = (who: Operator, m: Machine, q = '') =>
    api.call('GET', `/api/v1/machines/${m.row.id}/cash${q}`, who.apiKey);
  const collect = (who: Operator, m: Machine, body: unknown) =>
    api.call('POST', `/api/v1/machines/${m.row.id}/cash-collections`, who.apiKey, body);

  let firstCollection: string;

  it('shows what the cash box should hold and each cassette’s days until empty', async () => {
    await transact({
      txType: 'cash_in',
      bills: [
        { denomination: 20, count: 2 },
        { denomination: 5, count: 1 },
      ],
    });
    await transact({ txType: 'cash_in', bills: [{ denomination: 20, count: 1 }] });
    await transact({
      txType: 'cash_out',
      bills: [{ denomination: 20, count: 4 }],
      cassettes: { '1': { denomination: 20, count: 96 }, '2': { denomination: 50, count: 30 } },
    });
    const r = await cash(operator, machine);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      fiat_code: 'USD',
      since: null,
      cash_in_settlements: 2,
      cash_box: [
        { denomination: 5, count: 1, value: '5.00' },
        { denomination: 20, count: 3, value: '60.00' },
      ],
      cash_box_total: '65.00',
      dispensed: [{ denomination: 20, count: 4, value: '80.00' }],
      dispensed_total: '80.00',
      window_days: 7,
    });
    // 96 bills of 20 left, 4 dispensed in 7 days: 96 / (4/7) = 168 days; nothing of 50 dispensed
    expect(r.body.cassettes).toEqual([
      {
        position: 1,
        denomination: 20,
        count: 96,
        count_source: 'machine',
        denomination_bills: 96,
        dispensed_in_window: 4,
        bills_per_day: '0.57',
        days_until_empty: 168,
      },
      {
        position: 2,
        denomination: 50,
        count: 30,
        count_source: 'machine',
        denomination_bills: 30,
        dispensed_in_window: 0,
        bills_per_day: '0.00',
        days_until_empty: null,
      },
    ]);
    // a 1-day window: 96 / 4 = 24 days
    const day = await cash(operator, machine, '?window_days=1');
    expect(day.body.cassettes[0]).toMatchObject({ bills_per_day: '4.00', days_until_empty: 24 });
  });

  it('a collection short of what the settlements say is flagged, to the bill and the cent', async () => {
    const r = await collect(operator, machine, {
      bills: [
        { denomination: 20, count: 2 },
        { denomination: 5, count: 1 },
      ],
      note: 'cash box emptied',
    });
    expect(r.status).toBe(201);
    firstCollection = r.body.id;
    expect(r.body).toMatchObject({
      machine_id: machine.row.id,
      fiat_code: 'USD',
      note: 'cash box emptied',
      created_by: operator.id,
      period: { from: null },
      cash_in_settlements: 2,
      bills: [
        {
          denomination: 5,
          counted: 1,
          expected: 1,
          difference: 0,
          counted_value: '5.00',
          expected_value: '5.00',
          difference_value: '0.00',
        },
        {
          denomination: 20,
          counted: 2,
          expected: 3,
          difference: -1,
          counted_value: '40.00',
          expected_value: '60.00',
          difference_value: '-20.00',
        },
      ],
      counted_total: '45.00',
      expected_total: '65.00',
      difference_total: '-20.00',
      differs: true,
      differences: ['20 USD: counted 2, settlements say 3 (-1 bill, -20.00 USD)'],
      dispensed: [{ denomination: 20, count: 4, value: '80.00' }],
      dispensed_total: '80.00',
    });
    // the same, read back and listed
    const one = await api.call(
      'GET',
      `/api/v1/machines/${machine.row.id}/cash-collections/${firstCollection}`,
      operator.apiKey,
    );
    expect(one.body).toEqual(r.body);
    // the cash box starts again from the collection
    const after = await cash(operator, machine);
    expect(after.body).toMatchObject({
      since: r.body.collected_at,
      cash_in_settlements: 0,
      cash_box: [],
      cash_box_total: '0.00',
    });
  });

  it('the next collection covers only the settlements since the previous one; a match is not flagged', async () => {
    await transact({ txType: 'cash_in', bills: [{ denomination: 10, count: 3 }] });
    const r = await collect(operator, machine, { bills: [{ denomination: 10, count: 3 }] });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({
      cash_in_settlements: 1,
      bills: [{ denomination: 10, counted: 3, expected: 3, difference: 0 }],
      counted_total: '30.00',
      expected_total: '30.00',
      difference_total: '0.00',
      differs: false,
      differences: [],
      dispensed: [],
    });
    const list = await api.call(
      'GET',
      `/api/v1/machines/${machine.row.id}/cash-collections`,
      operator.apiKey,
    );
    expect(list.status).toBe(200);
    expect(list.body.items.map((c: { id: string }) => c.id)).toEqual([r.body.id, firstCollection]);
    expect(list.body.items[0].period.from).toBe(list.body.items[1].collected_at);
    // an empty cash box, counted empty: nothing expected since, nothing flagged
    const empty = await collect(operator, machine, { bills: [] });
    expect(empty.status).toBe(201);
    expect(empty.body).toMatchObject({ bills: [], differs: false, counted_total: '0.00' });
  });

  it('refuses bad input with a clear error and records nothing', async () => {
    const count = async () =>
      (await db.pool.query('SELECT count(*)::int AS n FROM satmachine.cash_collections')).rows[0].n;
    const before = await count();
    const cases: { body: unknown; status: number; field?: string; message: RegExp }[] = [
      {
        body: { bills: [{ denomination: 20, count: -1 }] },
        status: 422,
        field: 'body.bills.0.count',
        message: /count must be 0 or more/,
      },
      {
        body: { bills: [{ denomination: 7, count: 1 }] },
        status: 422,
        field: 'body.bills.0.denomination',
        message: /7 is not a USD bill; one of 1, 2, 5, 10, 20, 50, 100/,
      },
      {
        body: { bills: [{ denomination: 0, count: 1 }] },
        status: 422,
        field: 'body.bills.0.denomination',
        message: /./,
      },
      {
        body: { bills: [{ denomination: 1.5, count: 1 }] },
        status: 422,
        field: 'body.bills.0.denomination',
        message: /./,
      },
      {
        body: {
          bills: [
            { denomination: 20, count: 1 },
            { denomination: 20, count: 2 },
          ],
        },
        status: 422,
        field: 'body.bills.1.denomination',
        message: /listed twice/,
      },
      { body: { bills: [{ denomination: 20, count: '3' }] }, status: 422, message: /count/ },
      { body: {}, status: 422, message: /bills/ },
      { body: { bills: [], extra: 1 }, status: 422, message: /extra/ },
      {
        body: { bills: [], collected_at: new Date(Date.now() + 3_600_000).toISOString() },
        status: 422,
        field: 'body.collected_at',
        message: /in the future/,
      },
      {
        body: { bills: [], collected_at: '2020-01-01T00:00:00Z' },
        status: 409,
        message: /already recorded.*must be later/,
      },
    ];
    for (const c of cases) {
      const r = await collect(operator, machine, c.body);
      expect({ body: c.body, status: r.status }).toEqual({ body: c.body, status: c.status });
      expect(r.body.error.message).toMatch(c.message);
      if (c.field)
        expect(r.body.error.details).toEqual(
          expect.arrayContaining([expect.objectContaining({ field: c.field })]),
        );
    }
    for (const q of ['?window_days=0', '?window_days=91', '?window_days=x']) {
      expect((await cash(operator, machine, q)).status).toBe(422);
    }
    expect(await count()).toBe(before);
  });

  it("another operator's machine and collections are 404, and nothing is written", async () => {
    const before = (await db.pool.query('SELECT count(*)::int AS n FROM satmachine.cash_collections')).rows[0]
      .n;
    expect((await cash(rival, machine)).status).toBe(404);
    const post = await collect(rival, machine, { bills: [{ denomination: 20, count: 1 }] });
    expect(post.status).toBe(404);
    expect(post.body.error.code).toBe('not_found');
    expect(
      (await api.call('GET', `/api/v1/machines/${machine.row.id}/cash-collections`, rival.apiKey)).status,
    ).toBe(404);
    // the collection's id under the rival's own machine: not found either
    for (const m of [machine, rivalMachine]) {
      const r = await api.call(
        'GET',
        `/api/v1/machines/${m.row.id}/cash-collections/${firstCollection}`,
        rival.apiKey,
      );
      expect(r.status).toBe(404);
    }
    expect(
      (await db.pool.query('SELECT count(*)::int AS n FROM satmachine.cash_collections')).rows[0].n,
    ).toBe(before);
    // the rival's own machine answers (nothing collected, nothing settled)
    const own = await cash(rival, rivalMachine);
    expect(own.status).toBe(200);
    expect(own.body).toMatchObject({ since: null, cash_box: [], cassettes: [] });
  });
});
