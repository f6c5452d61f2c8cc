import fc from 'fast-check';
import { fractionsArb, lpsArb, planInputArb, rulesArb } from './arbitraries';

/** The longest of `runs` samples (a fixed seed: the same every run). */
const longest = <T>(arb: fc.Arbitrary<T[]>, runs = 300) =>
  Math.max(...fc.sample(arb, { numRuns: runs, seed: 16 }).map((xs) => xs.length));

/**
 * fast-check's default size keeps arrays at about 10 elements whatever maxLength says;
 * the generators set `size: 'max'`. Without it each of these tops out near 10.
 */
describe('the generators reach the sizes they name', () => {
  it('lpsArb(n) spans 0..n LPs', () => {
    expect(longest(lpsArb(25))).toBeGreaterThanOrEqual(23);
    expect(longest(lpsArb(100), 100)).toBeGreaterThanOrEqual(90);
    const lengths = fc.sample(lpsArb(40), { numRuns: 300, seed: 16 }).map((l) => l.length);
    expect(lengths.filter((n) => n > 10).length).toBeGreaterThan(100);
    expect(Math.min(...lengths)).toBe(0);
  });

  it('fractionsArb(n) and rulesArb(n) reach n legs', () => {
    expect(longest(fractionsArb(60))).toBeGreaterThanOrEqual(55);
    expect(longest(rulesArb(40))).toBeGreaterThanOrEqual(36);
  });

  it('planInputArb(25, 12) gives plans with more than 10 LPs and rules', () => {
    const inputs = fc.sample(planInputArb(25, 12), { numRuns: 300, seed: 16 });
    expect(Math.max(...inputs.map((i) => i.lps.length))).toBeGreaterThanOrEqual(23);
    expect(Math.max(...inputs.map((i) => i.rules.length))).toBe(12);
  });
});
