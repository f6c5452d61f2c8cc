import { billValueCents, forecastDenomination, reconcile } from '../../../src/domain/cashReconciliation';

describe('cash reconciliation (pure)', () => {
  it('compares counted bills with the expected ones per denomination, exactly', () => {
    const r = reconcile(
      new Map([
        [20, 2],
        [100, 1],
      ]),
      new Map([
        [20, 3],
        [5, 1],
      ]),
      'USD',
    );
    expect(
      r.bills.map((b) => [b.denomination, b.counted, b.expected, b.difference, b.difference_value]),
    ).toEqual([
      [5, 0, 1, -1, '-5.00'],
      [20, 2, 3, -1, '-20.00'],
      [100, 1, 0, 1, '100.00'],
    ]);
    expect(r).toMatchObject({
      counted_total: '140.00',
      expected_total: '65.00',
      difference_total: '75.00',
      differs: true,
    });
    expect(r.differences).toEqual([
      '5 USD: counted 0, settlements say 1 (-1 bill, -5.00 USD)',
      '20 USD: counted 2, settlements say 3 (-1 bill, -20.00 USD)',
      '100 USD: counted 1, settlements say 0 (+1 bill, +100.00 USD)',
    ]);
  });

  it('matches are not flagged; values beyond 2^53 cents stay exact', () => {
    expect(reconcile(new Map([[10, 3]]), new Map([[10, 3]]), 'EUR')).toMatchObject({
      differs: false,
      differences: [],
    });
    expect(billValueCents(2_147_483_647, 2_147_483_647)).toBe(461168601413242060900n);
  });

  it('forecasts days until empty from the window’s dispense rate, rounded down to a tenth', () => {
    expect(forecastDenomination(96, 4, 7)).toEqual({
      denomination_bills: 96,
      dispensed_in_window: 4,
      bills_per_day: '0.57',
      days_until_empty: 168,
    });
    expect(forecastDenomination(10, 3, 1).days_until_empty).toBe(3.3);
    expect(forecastDenomination(0, 3, 7).days_until_empty).toBe(0);
    expect(forecastDenomination(50, 0, 7)).toMatchObject({ bills_per_day: '0.00', days_until_empty: null });
  });
});
