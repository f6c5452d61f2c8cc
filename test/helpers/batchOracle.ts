/**
 * The whole-batch oracle of the fault tests: for every settlement of a batch, the
 * legs it must have (type, LP, destination, sats, fiat, final status) and, over the
 * batch, the balance every wallet must hold — computed from what the TEST put in
 * (the fleet it built: deposits, LP modes and limits, autoforward targets, fee
 * fractions, commission rules, wallets and their opening balances; the amounts of
 * the settlements it played) with `reference()` (test/helpers/reference.ts), the
 * naive reading of SPEC §4. Nothing here imports from src, and nothing is read back
 * from the database as an input: the database only supplies what is checked (the
 * recorded legs, the wallet balances).
 *
 * The one thing the test cannot know in advance is the ORDER in which concurrent
 * settlements of one machine were planned (planning is serialised per machine by an
 * advisory lock, in whatever order the workflows got there; the legs' created_at is
 * the planning transaction's start, taken before the lock, so it is a hint, not the
 * order). LP balances are consumed in that order, so the oracle searches, per
 * machine, for a serial order that explains every settlement: it walks the
 * settlements (the created_at order first, backtracking when needed), computes each
 * one's expected legs from the LP balances left by those before it, and accepts
 * when every settlement's recorded legs equal its expectation. Any serial order is a
 * legitimate outcome; a corruption (two LPs' amounts swapped, sats moved from one
 * party to another, a leg paid to the wrong wallet) is explained by none, and the
 * report shows, for the settlement where the likeliest order breaks, what was
 * expected and what was recorded.
 */
import { reference } from './reference';

/** What the oracle needs of a database: one query method (a pg Pool or client). */
export interface OracleDb {
  query<R = any>(sql: string, params?: unknown[]): Promise<{ rows: R[] }>;
}

export interface ModelLp {
  clientId: string;
  walletId: string;
  depositCents: bigint;
  mode: 'flow' | 'fixed';
  /** fixed mode: the daily limit, in cents */
  dailyLimitCents?: bigint;
  /** autoforward on: the Lightning address recorded as the destination, and the wallet it lands in */
  autoforward?: { address: string; walletId: string };
}

export interface ModelRule {
  /** the destination as recorded on the leg (a wallet id) */
  target: string;
  ppm: bigint;
  sortOrder: number;
}

export interface ModelMachine {
  id: string;
  walletId: string;
  operatorId: string;
  cashInPpm: bigint;
  cashOutPpm: bigint;
  /** in enrolment order */
  lps: ModelLp[];
}

export interface ModelWorld {
  superWalletId: string;
  platformCashInPpm: bigint;
  platformCashOutPpm: bigint;
  /** each operator's commission rules */
  rules: Map<string, ModelRule[]>;
  machines: ModelMachine[];
}

export interface ModelSettlement {
  hash: string;
  machineId: string;
  txType: 'cash_out' | 'cash_in';
  wire: bigint;
  fee: bigint;
  fiatCents: bigint;
}

export interface OracleLeg {
  type: string;
  client: string | null;
  destination: string | null;
  sats: bigint;
  fiatCents: bigint;
  status: string;
}

export interface RecordedLeg extends OracleLeg {
  hash: string;
  source: string | null;
  createdAt: number;
}

/** Parses "12.34" into 1234n (two decimals, as NUMERIC(18,2) prints). */
export function centsOf(text: string): bigint {
  const m = /^(\d+)\.(\d{2})$/.exec(text);
  if (!m) throw new Error(`not a 2-decimal amount: ${text}`);
  return BigInt(m[1]!) * 100n + BigInt(m[2]!);
}

/** ppm of a fraction written as a decimal ("0.7", "0.040000"). */
export function ppmOf(fraction: string): bigint {
  const m = /^(\d+)(?:\.(\d{1,6}))?$/.exec(fraction);
  if (!m) throw new Error(`not a fraction: ${fraction}`);
  return BigInt(m[1]!) * 1_000_000n + BigInt((m[2] ?? '').padEnd(6, '0'));
}

interface LpState {
  left: bigint;
  today: bigint;
}

/**
 * The legs one settlement must end with (every payable leg completed), given the
 * LP balances as they stood when it was planned; `state` is advanced by what its
 * dca legs hold.
 */
export function expectedLegs(
  world: ModelWorld,
  machine: ModelMachine,
  s: ModelSettlement,
  state: Map<string, LpState>,
): OracleLeg[] {
  const rules = world.rules.get(machine.operatorId) ?? [];
  const available = (lp: ModelLp): bigint => {
    const st = state.get(lp.clientId)!;
    if (lp.mode === 'fixed') {
      const room = (lp.dailyLimitCents ?? 0n) - st.today;
      return room < st.left ? (room > 0n ? room : 0n) : st.left;
    }
    return st.left;
  };
  const ref = reference({
    txType: s.txType,
    wire: s.wire,
    fee: s.fee,
    fiatCents: s.fiatCents,
    platformPpm: s.txType === 'cash_out' ? world.platformCashOutPpm : world.platformCashInPpm,
    operatorPpm: s.txType === 'cash_out' ? machine.cashOutPpm : machine.cashInPpm,
    lps:
      s.txType === 'cash_out' ? machine.lps.map((l) => ({ id: l.clientId, balanceCents: available(l) })) : [],
    rules: rules.map((r) => ({ fractionPpm: r.ppm, sortOrder: r.sortOrder })),
  });
  const legs: OracleLeg[] = [];
  if (ref.superFee > 0n)
    legs.push({
      type: 'super_fee',
      client: null,
      destination: world.superWalletId,
      sats: ref.superFee,
      fiatCents: 0n,
      status: 'completed',
    });
  for (const d of ref.dca) {
    if (d.cents < 1n) continue;
    const lp = machine.lps.find((l) => l.clientId === d.id)!;
    if (d.sats < 1n) {
      legs.push({
        type: 'dca',
        client: d.id,
        destination: lp.walletId,
        sats: 0n,
        fiatCents: 0n,
        status: 'skipped',
      });
      continue;
    }
    legs.push({
      type: 'dca',
      client: d.id,
      destination: lp.walletId,
      sats: d.sats,
      fiatCents: d.cents,
      status: 'completed',
    });
    const st = state.get(d.id)!;
    st.left -= d.cents;
    st.today += d.cents;
    if (lp.autoforward)
      legs.push({
        type: 'autoforward',
        client: d.id,
        destination: lp.autoforward.address,
        sats: d.sats,
        fiatCents: 0n,
        status: 'completed',
      });
  }
  if (ref.remainder > 0n) {
    if (rules.length === 0)
      legs.push({
        type: 'operator_split',
        client: null,
        destination: null,
        sats: ref.remainder,
        fiatCents: 0n,
        status: 'skipped',
      });
    const sorted = [...rules].sort((a, b) => a.sortOrder - b.sortOrder);
    ref.splits.forEach((sats, i) => {
      if (sats > 0n)
        legs.push({
          type: 'operator_split',
          client: null,
          destination: sorted[i]!.target,
          sats,
          fiatCents: 0n,
          status: 'completed',
        });
    });
  }
  return legs;
}

const legKey = (l: OracleLeg) =>
  `${l.type} ${l.client ?? '-'} → ${l.destination ?? '-'}: ${l.sats} sats, ${l.fiatCents} cents, ${l.status}`;

/** Differences between two multisets of legs ("" when equal). */
export function legDiff(expected: readonly OracleLeg[], actual: readonly OracleLeg[]): string {
  const count = new Map<string, number>();
  for (const l of expected) count.set(legKey(l), (count.get(legKey(l)) ?? 0) + 1);
  for (const l of actual) count.set(legKey(l), (count.get(legKey(l)) ?? 0) - 1);
  const lines: string[] = [];
  for (const [k, n] of count) {
    if (n > 0) lines.push(`  missing ${n}× ${k}`);
    if (n < 0) lines.push(`  unexpected ${-n}× ${k}`);
  }
  return lines.join('\n');
}

export interface OracleResult {
  /** one line per problem; empty when every leg and balance is right */
  problems: string[];
  /** the expected legs of every settlement, under the order found */
  expected: Map<string, OracleLeg[]>;
}

const SEARCH_BUDGET = 200_000;

/**
 * Checks the recorded legs of `settlements` (all that were played on these machines)
 * against the reference, per machine under a serial planning order that explains
 * them; then every wallet's balance: `opening` (what the test put in: funding,
 * top-ups, customers' payments in and out, as signed sats per wallet) plus the
 * expected legs. `actualBalances` maps every wallet the test can see to its balance;
 * a wallet not expected to hold anything must hold 0.
 */
export function checkBatch(
  world: ModelWorld,
  settlements: readonly ModelSettlement[],
  recorded: readonly RecordedLeg[],
  opening: ReadonlyMap<string, bigint>,
  actualBalances: ReadonlyMap<string, bigint>,
): OracleResult {
  const problems: string[] = [];
  const expected = new Map<string, OracleLeg[]>();
  const byHash = new Map<string, RecordedLeg[]>();
  for (const l of recorded) {
    const list = byHash.get(l.hash) ?? [];
    list.push(l);
    byHash.set(l.hash, list);
  }
  for (const hash of byHash.keys())
    if (!settlements.some((s) => s.hash === hash)) problems.push(`legs of an unknown settlement ${hash}`);

  for (const machine of world.machines) {
    const mine = settlements.filter((s) => s.machineId === machine.id);
    const firstCreated = (s: ModelSettlement) =>
      Math.min(...(byHash.get(s.hash) ?? []).map((l) => l.createdAt), Number.MAX_SAFE_INTEGER);
    mine.sort((a, b) => firstCreated(a) - firstCreated(b));
    const liveLegs = (s: ModelSettlement) => (byHash.get(s.hash) ?? []).filter((l) => l.status !== 'voided');
    const fresh = () =>
      new Map(machine.lps.map((l) => [l.clientId, { left: l.depositCents, today: 0n } satisfies LpState]));
    // depth-first over orders; the first candidate in created_at order is almost always right
    let steps = 0;
    let best: { depth: number; hash: string; diff: string } = { depth: -1, hash: '', diff: '' };
    const order: { s: ModelSettlement; legs: OracleLeg[] }[] = [];
    const clone = (st: Map<string, LpState>) => new Map([...st].map(([k, v]) => [k, { ...v }]));
    const search = (remaining: ModelSettlement[], state: Map<string, LpState>): boolean => {
      if (remaining.length === 0) return true;
      for (const [i, s] of remaining.entries()) {
        if (++steps > SEARCH_BUDGET) return false;
        const next = clone(state);
        const legs = expectedLegs(world, machine, s, next);
        const diff = legDiff(legs, liveLegs(s));
        if (diff) {
          if (order.length > best.depth || (order.length === best.depth && i === 0))
            best = { depth: order.length, hash: s.hash, diff };
          continue;
        }
        order.push({ s, legs });
        if (search([...remaining.slice(0, i), ...remaining.slice(i + 1)], next)) return true;
        order.pop();
      }
      return false;
    };
    // a cash-in holds no LP fiat: its legs do not depend on the order
    for (const s of mine.filter((x) => x.txType === 'cash_in')) {
      const legs = expectedLegs(world, machine, s, fresh());
      const diff = legDiff(legs, liveLegs(s));
      if (diff) problems.push(`cash-in ${s.hash} differs from the reference:\n${diff}`);
      expected.set(s.hash, legs);
    }
    if (
      search(
        mine.filter((x) => x.txType === 'cash_out'),
        fresh(),
      )
    ) {
      for (const { s, legs } of order) expected.set(s.hash, legs);
    } else {
      problems.push(
        `machine ${machine.id}: no planning order explains the recorded legs` +
          (steps > SEARCH_BUDGET ? ` (search budget of ${SEARCH_BUDGET} steps spent)` : '') +
          `; after ${best.depth} settlement(s) in order, settlement ${best.hash} differs from the reference:\n${best.diff}`,
      );
    }
  }

  if (problems.length === 0) {
    // balances: what went in, plus every expected leg
    const want = new Map(opening);
    const add = (w: string, sats: bigint) => want.set(w, (want.get(w) ?? 0n) + sats);
    const walletOfAddress = new Map<string, string>();
    const lpWallet = new Map<string, string>();
    for (const m of world.machines)
      for (const lp of m.lps) {
        lpWallet.set(lp.clientId, lp.walletId);
        if (lp.autoforward) walletOfAddress.set(lp.autoforward.address, lp.autoforward.walletId);
      }
    for (const s of settlements) {
      const machine = world.machines.find((m) => m.id === s.machineId)!;
      add(machine.walletId, s.txType === 'cash_out' ? s.wire : -s.wire);
      for (const l of expected.get(s.hash) ?? []) {
        if (l.status !== 'completed') continue;
        const from = l.type === 'autoforward' ? lpWallet.get(l.client!)! : machine.walletId;
        const to = walletOfAddress.get(l.destination!) ?? l.destination!;
        add(from, -l.sats);
        add(to, l.sats);
      }
    }
    for (const w of new Set([...want.keys(), ...actualBalances.keys()])) {
      const a = actualBalances.get(w);
      const e = want.get(w) ?? 0n;
      if (a === undefined) problems.push(`wallet ${w}: expected ${e} sats, but its balance was not read`);
      else if (a !== e)
        problems.push(
          `wallet ${w}: holds ${a} sats, the reference says ${e} (${a - e > 0n ? '+' : ''}${a - e})`,
        );
    }
  }
  return { problems, expected };
}

/** Every leg of these settlements as recorded in satmachine.dca_payments. */
export async function recordedLegs(db: OracleDb, hashes: readonly string[]): Promise<RecordedLeg[]> {
  const { rows } = await db.query<{
    hash: string;
    leg_type: string;
    client_id: string | null;
    destination: string | null;
    source: string | null;
    amount_sats: string;
    amount_fiat: string;
    status: string;
    created: string;
  }>(
    `SELECT s.payment_hash AS hash, p.leg_type, p.client_id,
            COALESCE(p.destination_wallet_id, p.destination_ln_address) AS destination,
            p.source_wallet_id AS source, p.amount_sats::text, p.amount_fiat::text, p.status,
            (extract(epoch FROM p.created_at) * 1000000)::bigint::text AS created
       FROM satmachine.dca_payments p JOIN satmachine.dca_settlements s ON s.id = p.settlement_id
      WHERE s.payment_hash = ANY($1)`,
    [hashes],
  );
  return rows.map((r) => ({
    hash: r.hash,
    type: r.leg_type,
    client: r.client_id,
    destination: r.destination,
    source: r.source,
    sats: BigInt(r.amount_sats),
    fiatCents: centsOf(r.amount_fiat),
    status: r.status,
    createdAt: Number(r.created),
  }));
}
