import { insertWallet } from '../../src/db/ledger';
import type { LegRow } from '../../src/db/legs';
import type { SettlementRow } from '../../src/db/settlements';
import { startApi, type TestApi } from '../helpers/api';
import { csvRecords } from '../helpers/csv';
import {
  createLp,
  createMachine,
  createOperator,
  createSuper,
  setDefaultSplits,
  type Lp,
  type Machine,
  type Operator,
} from '../helpers/fixtures';
import { awaitSettled, sendSettlement } from '../helpers/settle';
import { freshDatabase, temporalClient, testWorker } from '../helpers/stack';

const DAY = 86_400_000;
const day = (offsetDays: number) => new Date(Date.now() + offsetDays * DAY).toISOString().slice(0, 10);

/** Reports and exports (docs/reports.md) against settlements settled by the real workflow. */
describe('API: reports and exports', () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let temporal: Awaited<ReturnType<typeof temporalClient>>;
  let worker: { stop: () => Promise<void> };
  let api: TestApi;
  let platform: Awaited<ReturnType<typeof createSuper>>;
  let opA: Operator;
  let opB: Operator;
  let a1: Machine;
  let a2: Machine;
  let b1: Machine;
  let alice: Lp;
  let bob: Lp;
  let settledA: SettlementRow[];
  let movedId: string;
  const from = day(-90);
  const to = day(1);

  const settlementsOf = async (operatorId: string) =>
    (
      await db.pool.query<SettlementRow>(
        `SELECT s.* FROM satmachine.dca_settlements s JOIN satmachine.dca_machines m ON m.id = s.machine_id
          WHERE m.operator_user_id = $1 ORDER BY s.created_at, s.id`,
        [operatorId],
      )
    ).rows;
  const legsOfOperator = async (operatorId: string) =>
    (
      await db.pool.query<LegRow>(
        `SELECT * FROM satmachine.dca_payments WHERE operator_user_id = $1 ORDER BY created_at, id`,
        [operatorId],
      )
    ).rows;

  /** Every JSON page of a report, following next_cursor. */
  async function allPages(path: string, key: string, limit: number): Promise<Record<string, unknown>[]> {
    const items: Record<string, unknown>[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const sep = path.includes('?') ? '&' : '?';
      const r = await api.call(
        'GET',
        `${path}${sep}limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
        key,
      );
      expect(r.status).toBe(200);
      items.push(...r.body.items);
      cursor = r.body.next_cursor;
      pages++;
      expect(pages).toBeLessThan(100);
    } while (cursor);
    return items;
  }

  beforeAll(async () => {
    db = await freshDatabase();
    temporal = await temporalClient();
    const w = await testWorker({ pool: db.pool });
    worker = w.start();
    api = await startApi({ pool: db.pool, temporal: temporal.client, taskQueue: w.taskQueue });
    platform = await createSuper(db.pool, { cashOut: '0.01', cashIn: '0.01' });
    opA = await createOperator(db.pool, 'A');
    opB = await createOperator(db.pool, 'B');
    await setDefaultSplits(db.pool, opA, [
      { target: (await insertWallet(db.pool, opA.id, 'owner')).id, fraction: '0.7', label: 'owner' },
      { target: (await insertWallet(db.pool, opA.id, 'partner')).id, fraction: '0.3', label: 'partner' },
    ]);
    // operator B has no commission rules: its remainder stays in the machine wallet
    a1 = await createMachine(db.pool, opA, { name: 'A1', cashOutFee: '0.02' });
    a2 = await createMachine(db.pool, opA, { name: '=A2 lobby', cashInFee: '0.02', fundSats: 1_000_000 });
    b1 = await createMachine(db.pool, opB, { name: 'B1', cashOutFee: '0.02', fiat: 'EUR' });
    alice = await createLp(db.pool, a1, { name: 'alice', depositCents: 80_00 });
    bob = await createLp(db.pool, a1, { name: 'bob', depositCents: 30_00 });
    await createLp(db.pool, b1, { name: 'carl', depositCents: 50_00 });
    const send = async (m: Machine, op: Operator, o: Parameters<typeof sendSettlement>[5]) =>
      awaitSettled(
        db.pool,
        temporal.client,
        await sendSettlement(db.pool, temporal.client, w.taskQueue, m, op, o),
      );
    const moved = await send(a1, opA, { wireSats: 20_000, feeSats: 600, fiat: '19.40' });
    await send(a1, opA, { wireSats: 100_000, feeSats: 3_000, fiat: '97.00' });
    await send(a2, opA, { txType: 'cash_in', wireSats: 10_000, feeSats: 300, fiat: '10.00' });
    await send(b1, opB, { wireSats: 30_000, feeSats: 900, fiat: '29.10' });
    // one settlement 40 days earlier (its legs keep their own dates): months and ranges have something to split
    movedId = moved.id;
    await db.pool.query(
      `UPDATE satmachine.dca_settlements SET created_at = created_at - interval '40 days' WHERE id = $1`,
      [movedId],
    );
    settledA = await settlementsOf(opA.id);
    expect(settledA.map((s) => s.status)).toEqual(['processed', 'processed', 'processed']);
  });
  afterAll(async () => {
    await api.close();
    await worker.stop();
    await temporal.close();
    await db.close();
  });

  it('settlement pages and the CSV of a date range match the settlements, to the sat', async () => {
    const path = `/api/v1/reports/settlements?from=${from}&to=${to}`;
    const items = await allPages(path, opA.apiKey, 1);
    expect(items.map((i) => i.id)).toEqual(settledA.map((s) => s.id));
    for (const [i, s] of settledA.entries()) {
      expect(items[i]).toMatchObject({
        payment_hash: s.payment_hash,
        wire_sats: s.wire_sats,
        fee_sats: s.fee_sats,
        principal_sats: s.principal_sats,
        platform_fee_sats: s.platform_fee_sats,
        operator_fee_sats: s.operator_fee_sats,
        fee_mismatch_sats: s.fee_mismatch_sats,
        fiat_amount: s.fiat_amount,
        fiat_code: 'USD',
        status: 'processed',
        created_at: s.created_at.toISOString(),
      });
    }
    const csv = await fetch(`${api.url}${path}&format=csv`, {
      headers: { authorization: `Bearer ${opA.apiKey}` },
    });
    expect(csv.status).toBe(200);
    expect(csv.headers.get('content-type')).toMatch(/^text\/csv/);
    expect(csv.headers.get('content-disposition')).toMatch(/attachment; filename="satmachine-settlements-/);
    const text = await csv.text();
    expect(text.endsWith('\r\n')).toBe(true);
    const rows = csvRecords(text);
    expect(rows).toHaveLength(settledA.length);
    // every CSV cell is the JSON value as text (numbers exact, fiat as a decimal string, nulls empty)
    for (const [i, row] of rows.entries()) {
      const json = items[i]!;
      for (const [k, v] of Object.entries(json)) {
        const expected = v === null ? '' : typeof v === 'number' ? String(v) : (v as string);
        expect([k, row[k]]).toEqual([
          k,
          k === 'machine_name' && expected.startsWith('=') ? `'${expected}` : expected,
        ]);
      }
    }
    const sum = (xs: (string | number | null)[]) => xs.reduce<bigint>((t, x) => t + BigInt(x ?? 0), 0n);
    expect(sum(rows.map((r) => r.wire_sats!))).toBe(sum(settledA.map((s) => s.wire_sats)));

    // a narrower range leaves the moved settlement out; filters narrow further
    const recent = await allPages(`/api/v1/reports/settlements?from=${day(-7)}&to=${to}`, opA.apiKey, 50);
    expect(recent.map((i) => i.id)).toEqual(settledA.filter((s) => s.id !== movedId).map((s) => s.id));
    const cashIn = await allPages(`${path}&tx_type=cash_in`, opA.apiKey, 50);
    expect(cashIn.map((i) => i.machine_id)).toEqual([a2.row.id]);
    const atA1 = await allPages(`${path}&machine_id=${a1.row.id}&status=processed`, opA.apiKey, 50);
    expect(atA1).toHaveLength(2);
    expect((await allPages(`${path}&status=errored`, opA.apiKey, 50)).length).toBe(0);
  });

  it('leg pages and the CSV match the legs; filters by leg type, status, machine and LP', async () => {
    const legs = await legsOfOperator(opA.id);
    const path = `/api/v1/reports/legs?from=${from}&to=${to}`;
    const items = await allPages(path, opA.apiKey, 3);
    expect(items.map((i) => i.id)).toEqual(legs.map((l) => l.id));
    for (const [i, l] of legs.entries()) {
      expect(items[i]).toMatchObject({
        leg_type: l.leg_type,
        status: l.status,
        amount_sats: l.amount_sats,
        amount_fiat: l.amount_fiat,
        client_id: l.client_id,
        currency: 'USD',
      });
    }
    const csv = await fetch(`${api.url}${path}&format=csv`, {
      headers: { authorization: `Bearer ${opA.apiKey}` },
    });
    const rows = csvRecords(await csv.text());
    expect(rows.map((r) => [r.id, Number(r.amount_sats), r.amount_fiat])).toEqual(
      legs.map((l) => [l.id, l.amount_sats, l.amount_fiat]),
    );
    const dca = await allPages(`${path}&leg_type=dca&status=completed`, opA.apiKey, 50);
    expect(dca.map((i) => i.id).sort()).toEqual(
      legs
        .filter((l) => l.leg_type === 'dca' && l.status === 'completed')
        .map((l) => l.id)
        .sort(),
    );
    const alices = await allPages(`${path}&lp_user_id=${alice.userId}`, opA.apiKey, 50);
    expect(alices.length).toBeGreaterThan(0);
    expect(alices.every((i) => i.client_id === alice.clientId && i.lp_user_id === alice.userId)).toBe(true);
    const bobs = await allPages(`${path}&client_id=${bob.clientId}`, opA.apiKey, 50);
    expect(bobs.map((i) => i.id).sort()).toEqual(
      legs
        .filter((l) => l.client_id === bob.clientId)
        .map((l) => l.id)
        .sort(),
    );
    const atA2 = await allPages(`${path}&machine_id=${a2.row.id}`, opA.apiKey, 50);
    expect(atA2.map((i) => i.id).sort()).toEqual(
      legs
        .filter((l) => l.machine_id === a2.row.id)
        .map((l) => l.id)
        .sort(),
    );
  });

  it('revenue per day and month: sums equal the fee legs, splits one by one', async () => {
    const legs = await legsOfOperator(opA.id);
    const sumOf = (pred: (l: LegRow) => boolean) => legs.filter(pred).reduce((t, l) => t + l.amount_sats, 0);
    const r = await api.call('GET', `/api/v1/reports/revenue?from=${from}&to=${to}&period=month`, opA.apiKey);
    expect(r.status).toBe(200);
    const t = r.body.totals;
    expect(t.platform.earned_sats).toBe(sumOf((l) => l.leg_type === 'super_fee' && l.status === 'completed'));
    expect(t.platform.earned_sats).toBeGreaterThan(0);
    expect(t.operator.earned_sats).toBe(
      sumOf((l) => l.leg_type === 'operator_split' && l.status === 'completed'),
    );
    expect(t.operator.retained_sats).toBe(0);
    for (const label of ['owner', 'partner']) {
      const split = t.splits.find((s: { label: string }) => s.label === label);
      expect(split.earned_sats).toBe(sumOf((l) => l.label === label && l.leg_type === 'operator_split'));
    }
    expect(t.settlements).toBe(3);
    const usd = t.volume.filter((v: { currency: string }) => v.currency === 'USD');
    expect(usd.reduce((s: number, v: { wire_sats: number }) => s + v.wire_sats, 0)).toBe(130_000);
    expect(usd.find((v: { tx_type: string }) => v.tx_type === 'cash_out').fiat_amount).toBe('116.40');
    // months: the moved settlement's fees fall in its own month; every month sums to the totals
    const withSettlements = r.body.periods.filter((p: { settlements: number }) => p.settlements > 0);
    expect(withSettlements.length).toBe(
      new Date(Date.now() - 40 * DAY).getUTCMonth() === new Date().getUTCMonth() ? 1 : 2,
    );
    const platformByPeriod = r.body.periods.reduce(
      (s: number, p: { platform: { earned_sats: number } }) => s + p.platform.earned_sats,
      0,
    );
    expect(platformByPeriod).toBe(t.platform.earned_sats);
    // days: one entry per UTC day of the range, empty ones included (charts need them)
    const days = await api.call('GET', `/api/v1/reports/revenue?from=${day(-7)}&to=${to}`, opA.apiKey);
    expect(days.body.periods).toHaveLength(8);
    expect(days.body.totals.settlements).toBe(2);
    // operator B: no commission rules, the remainder is retained in the machine wallet
    const b = await api.call('GET', `/api/v1/reports/revenue?from=${from}&to=${to}`, opB.apiKey);
    const bLegs = await legsOfOperator(opB.id);
    const retained = bLegs.filter((l) => l.leg_type === 'operator_split' && l.status === 'skipped');
    expect(retained.length).toBe(1);
    expect(b.body.totals.operator.retained_sats).toBe(retained[0]!.amount_sats);
    expect(b.body.totals.splits).toEqual([
      { label: retained[0]!.label, destination: null, earned_sats: retained[0]!.amount_sats, open_sats: 0 },
    ]);
    expect(b.body.totals.volume).toEqual([
      {
        currency: 'EUR',
        tx_type: 'cash_out',
        settlements: 1,
        wire_sats: 30_000,
        fee_sats: 900,
        fiat_amount: '29.10',
      },
    ]);
  });

  it('the LP statement reconciles with the LP balance endpoint', async () => {
    for (const lp of [alice, bob]) {
      const balances = await api.call('GET', '/api/v1/lp/balances', lp.apiKey);
      const balance = balances.body[0];
      const st = await api.call('GET', `/api/v1/reports/lp-statement?from=${from}&to=${to}`, lp.apiKey);
      expect(st.status).toBe(200);
      expect(st.body.statements).toHaveLength(1);
      const s = st.body.statements[0];
      expect(s).toMatchObject({
        client_id: lp.clientId,
        currency: 'USD',
        total_deposits: balance.confirmed_deposits,
        total_payouts_fiat: balance.spent_fiat,
        total_sats: balance.total_sats,
        pending_fiat: balance.pending_fiat,
        remaining_balance: balance.remaining_balance,
        average_cost: balance.average_cost_basis,
        opening_balance: '0.00',
      });
      expect(s.total_sats).toBeGreaterThan(0);
      expect(s.periods.some((p: { payout_count: number }) => p.payout_count > 0)).toBe(true);
      expect(s.closing_balance).toBe(s.periods[s.periods.length - 1].closing_balance);
      // the operator reads the same statement of its LP
      const byOp = await api.call(
        'GET',
        `/api/v1/reports/lp-statement?from=${from}&to=${to}&client_id=${lp.clientId}`,
        opA.apiKey,
      );
      expect(byOp.body.statements).toEqual(st.body.statements);
    }
    // a statement that starts later opens with what came before
    const late = await api.call(
      'GET',
      `/api/v1/reports/lp-statement?from=${day(0)}&to=${to}&period=day`,
      alice.apiKey,
    );
    const s = late.body.statements[0];
    expect(s.periods).toHaveLength(1);
    const open = BigInt(s.opening_balance.replace('.', ''));
    const p = s.periods[0];
    expect(open + BigInt(p.deposits.replace('.', '')) - BigInt(p.payouts_fiat.replace('.', ''))).toBe(
      BigInt(s.closing_balance.replace('.', '')),
    );
  });

  it('tenant isolation: operators see their own, LPs their own statement, other tenants 404', async () => {
    const q = `from=${from}&to=${to}`;
    const bSees = await allPages(`/api/v1/reports/settlements?${q}`, opB.apiKey, 50);
    expect(bSees.map((i) => i.machine_id)).toEqual([b1.row.id]);
    const bLegs = await allPages(`/api/v1/reports/legs?${q}`, opB.apiKey, 50);
    expect(bLegs.every((l) => l.operator_user_id === opB.id)).toBe(true);
    for (const path of [
      `/api/v1/reports/settlements?${q}&machine_id=${a1.row.id}`,
      `/api/v1/reports/settlements?${q}&operator_id=${opA.id}`,
      `/api/v1/reports/legs?${q}&client_id=${alice.clientId}`,
      `/api/v1/reports/legs?${q}&lp_user_id=${alice.userId}`,
      `/api/v1/reports/revenue?${q}&machine_id=${a1.row.id}`,
      `/api/v1/reports/lp-statement?${q}&client_id=${alice.clientId}`,
      `/api/v1/reports/lp-statement?${q}&machine_id=${a1.row.id}`,
      `/api/v1/reports/settlements?${q}&format=csv&machine_id=${a1.row.id}`,
    ]) {
      const r = await api.call('GET', path, opB.apiKey);
      expect([path, r.status, r.body?.error?.code]).toEqual([path, 404, 'not_found']);
    }
    // an LP: no operator reports, and only its own statement
    expect((await api.call('GET', `/api/v1/reports/settlements?${q}`, alice.apiKey)).status).toBe(404);
    expect((await api.call('GET', `/api/v1/reports/revenue?${q}`, alice.apiKey)).status).toBe(404);
    for (const path of [
      `/api/v1/reports/lp-statement?${q}&client_id=${bob.clientId}`,
      `/api/v1/reports/lp-statement?${q}&lp_user_id=${bob.userId}`,
    ]) {
      expect((await api.call('GET', path, alice.apiKey)).status).toBe(404);
    }
    expect((await api.call('GET', `/api/v1/reports/settlements?${q}`)).status).toBe(401);
  });

  it('the platform sees every operator, or one', async () => {
    const q = `from=${from}&to=${to}`;
    const all = await allPages(`/api/v1/reports/settlements?${q}`, platform.apiKey, 2);
    expect(all).toHaveLength(4);
    const onlyB = await allPages(
      `/api/v1/reports/settlements?${q}&operator_id=${opB.id}`,
      platform.apiKey,
      2,
    );
    expect(onlyB.map((i) => i.operator_user_id)).toEqual([opB.id]);
    const rev = await api.call('GET', `/api/v1/reports/revenue?${q}`, platform.apiKey);
    const legs = [...(await legsOfOperator(opA.id)), ...(await legsOfOperator(opB.id))];
    expect(rev.body.totals.platform.earned_sats).toBe(
      legs
        .filter((l) => l.leg_type === 'super_fee' && l.status === 'completed')
        .reduce((t, l) => t + l.amount_sats, 0),
    );
    expect(
      (await api.call('GET', `/api/v1/reports/settlements?${q}&operator_id=${alice.userId}`, platform.apiKey))
        .status,
    ).toBe(404);
    const st = await api.call('GET', `/api/v1/reports/lp-statement?${q}`, platform.apiKey);
    expect(st.body.statements).toHaveLength(3);
  });

  it('date ranges and cursors: clear validation errors', async () => {
    const bad = async (path: string, status: number, field: string | null, message: RegExp) => {
      const r = await api.call('GET', path, opA.apiKey);
      expect([path, r.status]).toEqual([path, status]);
      if (field) expect(r.body.error.details.map((d: { field: string }) => d.field)).toContain(field);
      expect(r.body.error.message).toMatch(message);
    };
    await bad(`/api/v1/reports/settlements?from=${to}&to=${from}`, 422, 'query.to', /must be after from/);
    await bad(`/api/v1/reports/settlements?from=${from}&to=${from}`, 422, 'query.to', /must be after from/);
    await bad('/api/v1/reports/settlements?from=2026-02-30', 422, 'query.from', /not a calendar date/);
    await bad('/api/v1/reports/settlements?from=2026-12-01T10:00', 422, 'query.from', /add Z for UTC/);
    await bad('/api/v1/reports/settlements?from=yesterday', 422, 'query.from', /UTC date YYYY-MM-DD/);
    await bad('/api/v1/reports/settlements?from=1999-01-01', 422, 'query.from', /between 2009-01-01/);
    await bad(
      '/api/v1/reports/revenue?from=2024-01-01&to=2026-01-01&period=day',
      422,
      'query.from',
      /longer than 400 days/,
    );
    await bad('/api/v1/reports/settlements?cursor=nonsense', 400, null, /start again without it/);
    await bad('/api/v1/reports/settlements?format=xml', 422, 'query.format', /./);
    // a zone other than Z is converted, not refused
    const r = await api.call(
      'GET',
      `/api/v1/reports/settlements?from=${from}T00:00:00%2B02:00&to=${to}`,
      opA.apiKey,
    );
    expect(r.status).toBe(200);
  });
});
