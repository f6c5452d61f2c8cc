import { percent, percentHint, satsPerUnit, shareOf, txLabel } from '../../web/src/format';
import { legStatusLabel, legTypeLabel, settlementStatusLabel } from '../../web/src/words';

describe("the console's words and numbers", () => {
  it('names every leg type and status in words, and shows an unknown code as it is', () => {
    expect(['dca', 'settlement', 'autoforward', 'super_fee', 'operator_split'].map(legTypeLabel)).toEqual([
      'LP purchase',
      'LP payout',
      'Forward to Lightning address',
      'Platform fee',
      'Commission split',
    ]);
    expect(['pending', 'completed', 'failed', 'skipped', 'voided'].map(legStatusLabel)).toEqual([
      'Not paid yet',
      'Paid',
      'Failed',
      'Skipped (nothing to pay)',
      'Given up',
    ]);
    expect(settlementStatusLabel('processed')).toBe('Settled');
    expect(legTypeLabel('new_kind')).toBe('new_kind');
    expect(legTypeLabel(null)).toBe('–');
    // the TxType search attribute holds cash_out / cash_in
    expect([txLabel('cash_out'), txLabel('cash_in')]).toEqual(['Cash-out', 'Cash-in']);
  });

  it('shows fee fractions as exact percentages', () => {
    expect(percent('0.030000')).toBe('3 %');
    expect(percent('0.012345')).toBe('1.2345 %');
    expect(percent('0')).toBe('0 %');
    expect(percent('0.000001')).toBe('0.0001 %');
    expect(percent('1')).toBe('100 %');
    expect(percent('not a fraction')).toBe('not a fraction');
    // the live hint next to a fee input: only for a fraction being typed
    expect(percentHint('0.045')).toBe(' That is 4.5 %.');
    expect(percentHint('')).toBe('');
    expect(percentHint('0.5x')).toBe('');
  });

  it('computes the fee share of the wire and the effective rate exactly, rounded half up', () => {
    expect(shareOf(3_000, 103_000)).toBe('2.91 %');
    expect(shareOf(1, 200)).toBe('0.50 %');
    expect(shareOf(1, 0)).toBeNull();
    expect(satsPerUnit(103_000, '100.00')).toBe('1,030');
    expect(satsPerUnit(157_500, '150.00')).toBe('1,050');
    expect(satsPerUnit(1, '3.00')).toBe('0.33');
    expect(satsPerUnit(100, '0.00')).toBeNull();
    expect(satsPerUnit(100, 'x')).toBeNull();
  });
});
