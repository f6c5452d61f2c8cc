/**
 * An independent reading of SPEC §4 (written apart from src/domain, naive on
 * purpose) used as the oracle in tests: same inputs, the amounts every leg must have.
 */
export interface RefLp {
  id: string;
  balanceCents: bigint;
}
export interface RefRule {
  fractionPpm: bigint;
  sortOrder: number;
}
export interface RefInput {
  txType: 'cash_out' | 'cash_in';
  wire: bigint;
  fee: bigint;
  fiatCents: bigint;
  platformPpm: bigint;
  operatorPpm: bigint;
  lps: RefLp[];
  rules: RefRule[];
}
export interface RefOutput {
  principal: bigint;
  platformFee: bigint;
  operatorFee: bigint;
  mismatch: bigint;
  superFee: bigint;
  dca: { id: string; cents: bigint; sats: bigint }[];
  remainder: bigint;
  splits: bigint[];
}

function hamilton(total: bigint, weights: bigint[]): bigint[] {
  const W = weights.reduce((a, b) => a + b, 0n);
  if (W === 0n) return weights.map(() => 0n);
  const base = weights.map((w) => (total * w) / W);
  const rem = weights.map((w, i) => ({ i, r: (total * w) % W }));
  let left = total - base.reduce((a, b) => a + b, 0n);
  rem.sort((a, b) => (a.r === b.r ? a.i - b.i : a.r > b.r ? -1 : 1));
  for (const { i } of rem) {
    if (left === 0n) break;
    base[i]! += 1n;
    left -= 1n;
  }
  return base;
}

export function reference(x: RefInput): RefOutput {
  const P = x.txType === 'cash_out' ? x.wire - x.fee : x.wire;
  const platformFee = (P * x.platformPpm) / 1_000_000n;
  const operatorFee = (P * x.operatorPpm) / 1_000_000n;
  const superFee = platformFee < x.fee ? platformFee : x.fee;
  let remainder = x.fee - superFee;
  const dca: RefOutput['dca'] = [];
  if (x.txType === 'cash_out') {
    const lps = x.lps.filter((l) => l.balanceCents > 0n);
    const B = lps.reduce((a, l) => a + l.balanceCents, 0n);
    const C = x.fiatCents < B ? x.fiatCents : B;
    const Pc = x.fiatCents === 0n ? 0n : (P * C) / x.fiatCents;
    const cents = hamilton(
      C,
      lps.map((l) => l.balanceCents),
    );
    const sats = hamilton(Pc, cents);
    lps.forEach((l, i) => dca.push({ id: l.id, cents: cents[i]!, sats: sats[i]! }));
    remainder += P - Pc;
  }
  const rules = [...x.rules].sort((a, b) => a.sortOrder - b.sortOrder);
  const splits = rules.length
    ? hamilton(
        remainder,
        rules.map((r) => r.fractionPpm),
      )
    : [];
  return {
    principal: P,
    platformFee,
    operatorFee,
    mismatch: x.fee - platformFee - operatorFee,
    superFee,
    dca,
    remainder,
    splits,
  };
}
