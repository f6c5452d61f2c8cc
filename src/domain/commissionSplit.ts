import { largestRemainder } from './largestRemainder';
import { PPM } from './decimal';

export interface CommissionRule {
  target: string;
  label: string | null;
  fractionPpm: bigint;
  sortOrder: number;
}

/** Fractions of a rule set must sum to exactly 1 (all stored with 6 places). */
export function rulesSumToOne(rules: readonly { fractionPpm: bigint }[]): boolean {
  return rules.reduce((a, r) => a + r.fractionPpm, 0n) === PPM;
}

/**
 * Shares the operator remainder R by the commission rules: floor each share, the
 * leftover sats by largest remainder, ties by sort_order. Σ == R exactly.
 * Returns amounts aligned with the rules sorted by sort_order.
 */
export function splitCommission(
  remainderSats: number,
  rules: readonly CommissionRule[],
): { rule: CommissionRule; sats: number }[] {
  if (!rules.length) return [];
  if (!rulesSumToOne(rules)) throw new RangeError('commission split fractions must sum to 1');
  const sorted = [...rules].sort((a, b) => a.sortOrder - b.sortOrder);
  const parts = largestRemainder(
    BigInt(remainderSats),
    sorted.map((r) => r.fractionPpm),
  );
  return sorted.map((rule, i) => ({ rule, sats: Number(parts[i]!) }));
}
