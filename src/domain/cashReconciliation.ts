import { formatCents } from './decimal';

/**
 * Cash management (docs/operations.md "Cash management"), pure: a collection's counted bills against
 * what the settlements say, and how long a cassette lasts at its recent dispense rate.
 * Denominations are whole currency units (as the machines report bills); values are
 * exact: cents as BigInt, formatted as decimal strings.
 */

export interface BillLine {
  denomination: number;
  counted: number;
  expected: number;
  /** counted − expected (bills) */
  difference: number;
  counted_value: string;
  expected_value: string;
  difference_value: string;
}

export interface Reconciliation {
  bills: BillLine[];
  counted_total: string;
  expected_total: string;
  difference_total: string;
  differs: boolean;
  /** one sentence per denomination that differs */
  differences: string[];
}

/** cents of `count` bills of `denomination` whole units */
export function billValueCents(denomination: number, count: number): bigint {
  return BigInt(denomination) * BigInt(count) * 100n;
}

const signed = (cents: bigint) => (cents > 0n ? `+${formatCents(cents)}` : formatCents(cents));

export function reconcile(
  counted: ReadonlyMap<number, number>,
  expected: ReadonlyMap<number, number>,
  currency: string,
): Reconciliation {
  const denominations = [...new Set([...counted.keys(), ...expected.keys()])].sort((a, b) => a - b);
  let countedTotal = 0n;
  let expectedTotal = 0n;
  const differences: string[] = [];
  const bills = denominations.map((d) => {
    const c = counted.get(d) ?? 0;
    const e = expected.get(d) ?? 0;
    const cv = billValueCents(d, c);
    const ev = billValueCents(d, e);
    countedTotal += cv;
    expectedTotal += ev;
    if (c !== e) {
      const n = c - e;
      differences.push(
        `${d} ${currency}: counted ${c}, settlements say ${e} (${n > 0 ? '+' : ''}${n} bill${Math.abs(n) === 1 ? '' : 's'}, ${signed(cv - ev)} ${currency})`,
      );
    }
    return {
      denomination: d,
      counted: c,
      expected: e,
      difference: c - e,
      counted_value: formatCents(cv),
      expected_value: formatCents(ev),
      difference_value: formatCents(cv - ev),
    };
  });
  return {
    bills,
    counted_total: formatCents(countedTotal),
    expected_total: formatCents(expectedTotal),
    difference_total: formatCents(countedTotal - expectedTotal),
    differs: differences.length > 0,
    differences,
  };
}

export interface CassetteForecast {
  /** bills of this denomination in all the machine's cassettes */
  denomination_bills: number;
  /** bills of this denomination dispensed in the window */
  dispensed_in_window: number;
  /** dispensed per day over the window, 2 decimals */
  bills_per_day: string;
  /** whole and tenth days until the denomination runs out; null: nothing dispensed in the window */
  days_until_empty: number | null;
}

/**
 * A machine pays a denomination out of whichever cassette holds it, so the cassettes of
 * one denomination run out together: days = bills of the denomination in all cassettes
 * ÷ (bills dispensed in the window ÷ window days), rounded down to a tenth of a day.
 */
export function forecastDenomination(
  bills: number,
  dispensedInWindow: number,
  windowDays: number,
): CassetteForecast {
  const perDayHundredths = (BigInt(dispensedInWindow) * 100n) / BigInt(windowDays);
  return {
    denomination_bills: bills,
    dispensed_in_window: dispensedInWindow,
    bills_per_day: formatCents(perDayHundredths),
    days_until_empty:
      dispensedInWindow > 0
        ? Number((BigInt(Math.max(0, bills)) * BigInt(windowDays) * 10n) / BigInt(dispensedInWindow)) / 10
        : null,
  };
}
