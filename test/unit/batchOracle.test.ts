/**
 * The test of the fault tests' whole-batch check (test/helpers/batchOracle.ts): it
 * accepts a batch whose legs and balances are right (SPEC's worked example, written
 * out by hand), under whichever serial order the settlements were planned in, and it
 * catches a batch where sats moved between parties while every total stayed the same.
 */
import {
  checkBatch,
  expectedLegs,
  type ModelSettlement,
  type ModelWorld,
  type RecordedLeg,
} from '../helpers/batchOracle';

const W = {
  machine: 'w-machine',
  super: 'w-super',
  alice: 'w-alice',
  bob: 'w-bob',
  bobCold: 'w-bob-cold',
  owner: 'w-owner',
  partner: 'w-partner',
};
const BOB_ADDRESS = `${W.bobCold}@ledger.satmachine.local`;

/** docs/settlement.md §4.4's worked example: platform 0.01, operator 0.04, alice 150.00, bob 100.00 (autoforward), rules 0.75 / 0.25. */
function world(o: { bobFixedLimitCents?: bigint } = {}): ModelWorld {
  return {
    superWalletId: W.super,
    platformCashInPpm: 10_000n,
    platformCashOutPpm: 10_000n,
    rules: new Map([
      [
        'op',
        [
          { target: W.owner, ppm: 750_000n, sortOrder: 0 },
          { target: W.partner, ppm: 250_000n, sortOrder: 1 },
        ],
      ],
    ]),
    machines: [
      {
        id: 'm',
        walletId: W.machine,
        operatorId: 'op',
        cashInPpm: 30_000n,
        cashOutPpm: 40_000n,
        lps: [
          { clientId: 'alice', walletId: W.alice, depositCents: 15_000n, mode: 'flow' },
          {
            clientId: 'bob',
            walletId: W.bob,
            depositCents: 10_000n,
            mode: o.bobFixedLimitCents ? 'fixed' : 'flow',
            dailyLimitCents: o.bobFixedLimitCents,
            autoforward: { address: BOB_ADDRESS, walletId: W.bobCold },
          },
        ],
      },
    ],
  };
}

const example: ModelSettlement = {
  hash: 'h1',
  machineId: 'm',
  txType: 'cash_out',
  wire: 210_000n,
  fee: 10_000n,
  fiatCents: 20_000n,
};

const leg = (
  type: string,
  client: string | null,
  destination: string,
  sats: number,
  fiatCents = 0,
  createdAt = 1,
  hash = 'h1',
): RecordedLeg => ({
  hash,
  type,
  client,
  destination,
  source: type === 'autoforward' ? W.bob : W.machine,
  sats: BigInt(sats),
  fiatCents: BigInt(fiatCents),
  status: 'completed',
  createdAt,
});

/** The worked example's legs, as the document lists them: 2,000 + 120,000 + 80,000 + 6,000 + 2,000, and bob's autoforward. */
const exampleLegs = (): RecordedLeg[] => [
  leg('super_fee', null, W.super, 2_000),
  leg('dca', 'alice', W.alice, 120_000, 12_000),
  leg('dca', 'bob', W.bob, 80_000, 8_000),
  leg('autoforward', 'bob', BOB_ADDRESS, 80_000),
  leg('operator_split', null, W.owner, 6_000),
  leg('operator_split', null, W.partner, 2_000),
];

const opening = new Map([[W.machine, 1_000_000n]]);
/** Balances after the example: the machine received 210,000 and paid 130,000 out. */
const exampleBalances = () =>
  new Map([
    [W.machine, 1_000_000n + 210_000n - 210_000n],
    [W.super, 2_000n],
    [W.alice, 120_000n],
    [W.bob, 0n],
    [W.bobCold, 80_000n],
    [W.owner, 6_000n],
    [W.partner, 2_000n],
  ]);

describe('the fault tests’ whole-batch oracle', () => {
  it('accepts the worked example of docs/settlement.md §4.4, legs and balances', () => {
    const r = checkBatch(world(), [example], exampleLegs(), opening, exampleBalances());
    expect(r.problems).toEqual([]);
  });

  it('catches two LPs’ amounts swapped (sats and fiat), though every total is unchanged', () => {
    const legs = exampleLegs();
    const alice = legs.find((l) => l.client === 'alice' && l.type === 'dca')!;
    const bob = legs.find((l) => l.client === 'bob' && l.type === 'dca')!;
    [alice.sats, bob.sats] = [bob.sats, alice.sats];
    [alice.fiatCents, bob.fiatCents] = [bob.fiatCents, alice.fiatCents];
    // the broken build pays what it planned: the balances move the same way
    const balances = exampleBalances();
    balances.set(W.alice, 80_000n);
    balances.set(W.bob, 40_000n); // received 120,000, forwarded 80,000
    const r = checkBatch(world(), [example], legs, opening, balances);
    expect(r.problems).toHaveLength(1);
    expect(r.problems[0]).toContain('no planning order explains the recorded legs');
    expect(r.problems[0]).toContain('missing 1× dca alice → w-alice: 120000 sats, 12000 cents, completed');
    expect(r.problems[0]).toContain('unexpected 1× dca alice → w-alice: 80000 sats, 8000 cents, completed');
  });

  it('catches sats swapped between two LPs while the fiat stays right', () => {
    const legs = exampleLegs();
    legs.find((l) => l.client === 'alice' && l.type === 'dca')!.sats = 80_000n;
    legs.find((l) => l.client === 'bob' && l.type === 'dca')!.sats = 120_000n;
    expect(checkBatch(world(), [example], legs, opening, exampleBalances()).problems).toHaveLength(1);
  });

  it('catches a commission split paid to the wrong party, and a leg sent to another wallet', () => {
    const legs = exampleLegs();
    const [owner, partner] = legs.filter((l) => l.type === 'operator_split');
    [owner!.destination, partner!.destination] = [partner!.destination, owner!.destination];
    expect(checkBatch(world(), [example], legs, opening, exampleBalances()).problems[0]).toContain(
      'unexpected 1× operator_split - → w-partner: 6000 sats',
    );
    const wrongWallet = exampleLegs();
    wrongWallet.find((l) => l.type === 'super_fee')!.destination = W.owner;
    expect(checkBatch(world(), [example], wrongWallet, opening, exampleBalances()).problems).toHaveLength(1);
  });

  it('catches right legs but balances moved between two wallets (total unchanged)', () => {
    const balances = exampleBalances();
    balances.set(W.alice, 119_999n);
    balances.set(W.owner, 6_001n);
    expect(checkBatch(world(), [example], exampleLegs(), opening, balances).problems).toEqual([
      'wallet w-alice: holds 119999 sats, the reference says 120000 (-1)',
      'wallet w-owner: holds 6001 sats, the reference says 6000 (+1)',
    ]);
  });

  it('catches a leg paid twice (a wallet holding more than the reference), and a wallet that should hold nothing', () => {
    const balances = exampleBalances();
    balances.set(W.owner, 12_000n);
    balances.set(W.machine, balances.get(W.machine)! - 6_000n);
    balances.set('w-stranger', 1n);
    expect(checkBatch(world(), [example], exampleLegs(), opening, balances).problems).toEqual([
      'wallet w-machine: holds 994000 sats, the reference says 1000000 (-6000)',
      'wallet w-owner: holds 12000 sats, the reference says 6000 (+6000)',
      'wallet w-stranger: holds 1 sats, the reference says 0 (+1)',
    ]);
  });

  it('finds the planning order the legs were made in, whatever their created_at says', () => {
    // bob in fixed mode (45.00 a day) and a exhausting both LPs: the allocation depends on the order
    const w = world({ bobFixedLimitCents: 4_500n });
    const a: ModelSettlement = { ...example, hash: 'a' }; // 200.00: more than a + b's LPs hold
    const b: ModelSettlement = { ...example, hash: 'b', fiatCents: 6_000n, wire: 63_000n, fee: 3_000n };
    const machine = w.machines[0]!;
    const state = new Map(machine.lps.map((l) => [l.clientId, { left: l.depositCents, today: 0n }]));
    // planned b first, then a; but a's legs carry the earlier created_at
    const legsB = expectedLegs(w, machine, b, state);
    const legsA = expectedLegs(w, machine, a, state);
    const other = new Map(machine.lps.map((l) => [l.clientId, { left: l.depositCents, today: 0n }]));
    const aFirst = expectedLegs(w, machine, a, other);
    expect(legDiffers(aFirst, legsA)).toBe(true); // the order matters here
    const recorded = [
      ...legsA.map((l) => ({ ...l, hash: 'a', source: null, createdAt: 1 })),
      ...legsB.map((l) => ({ ...l, hash: 'b', source: null, createdAt: 2 })),
    ];
    const balances = new Map<string, bigint>();
    const r = checkBatch(w, [a, b], recorded, new Map(), balances);
    // legs explained (by the order b, a); the balances were not read here
    expect(r.problems.every((p) => p.includes('its balance was not read'))).toBe(true);
    expect(r.expected.get('a')).toEqual(legsA);
    // a's legs of the order a-first, b's of the order b-first: no serial order explains both
    const impossible = [
      ...aFirst.map((l) => ({ ...l, hash: 'a', source: null, createdAt: 1 })),
      ...legsB.map((l) => ({ ...l, hash: 'b', source: null, createdAt: 2 })),
    ];
    expect(checkBatch(w, [a, b], impossible, new Map(), balances).problems[0]).toContain(
      'no planning order explains the recorded legs',
    );
  });
});

function legDiffers(
  x: readonly { sats: bigint; fiatCents: bigint }[],
  y: readonly { sats: bigint; fiatCents: bigint }[],
) {
  return (
    JSON.stringify(x, (_, v) => (typeof v === 'bigint' ? String(v) : v)) !==
    JSON.stringify(y, (_, v) => (typeof v === 'bigint' ? String(v) : v))
  );
}
