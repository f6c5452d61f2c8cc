export interface PartialDispenseInput {
  oldFiatCents: number;
  newFiatCents: number;
  oldWireSats: number;
  oldFeeSats: number;
}

export class PartialDispenseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PartialDispenseError';
  }
}

/** Checks 0 ≤ new < old; returns a reason to refuse, or null. */
export function partialDispenseRefusal(oldFiatCents: number, newFiatCents: number): string | null {
  if (!Number.isSafeInteger(newFiatCents) || newFiatCents < 0) return 'the dispensed amount must be ≥ 0';
  if (newFiatCents >= oldFiatCents) {
    return `the dispensed amount must be less than the original ${(oldFiatCents / 100).toFixed(2)}`;
  }
  return null;
}

/**
 * Scales a cash-out to what the machine really dispensed: wire and fee become
 * floor(old × new / old_fiat) each (BigInt, exact).
 */
export function scalePartialDispense(input: PartialDispenseInput): { wireSats: number; feeSats: number } {
  const refusal = partialDispenseRefusal(input.oldFiatCents, input.newFiatCents);
  if (refusal) throw new PartialDispenseError(refusal);
  const n = BigInt(input.newFiatCents);
  const o = BigInt(input.oldFiatCents);
  return {
    wireSats: Number((BigInt(input.oldWireSats) * n) / o),
    feeSats: Number((BigInt(input.oldFeeSats) * n) / o),
  };
}
