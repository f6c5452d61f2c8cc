import fc from 'fast-check';
import {
  DecimalFormatError,
  formatCents,
  formatPpm,
  formatRate,
  formatScaled,
  mulDivFloor,
  mulDivRound,
  parseCents,
  parsePpm,
  parseRate,
  parseScaled,
  toSafeNumber,
} from '../../../src/domain/decimal';
import { check, same } from './arbitraries';

const digits = (minLength: number, maxLength: number) =>
  fc.string({ unit: fc.constantFrom(...'0123456789'), minLength, maxLength, size: 'max' });

/** A decimal string with `places` decimals at most (possibly with trailing zeros after them). */
const decimalString = (places: number) =>
  fc
    .record({
      neg: fc.boolean(),
      whole: digits(1, 20),
      frac: digits(0, places),
      zeros: fc.integer({ min: 0, max: 3 }),
      dot: fc.boolean(),
    })
    .map(({ neg, whole, frac, zeros, dot }) => {
      const f = frac + '0'.repeat(zeros);
      return {
        text: `${neg ? '-' : ''}${whole}${f.length || dot ? '.' : ''}${f || (dot ? '0' : '')}`,
        neg,
        whole,
        frac,
      };
    });

/** The exact scaled value of such a string, computed by digit shuffling alone. */
const scaledOf = (neg: boolean, whole: string, frac: string, places: number): bigint => {
  const v = BigInt(whole + frac.padEnd(places, '0'));
  return neg ? -v : v;
};

describe('decimal parsing (no float ever decides a value)', () => {
  it.each([2, 6, 8, 0, 3])('parseScaled(places %i) reads any decimal string exactly', (places) => {
    fc.assert(
      fc.property(decimalString(places), ({ text, neg, whole, frac }) => {
        same(parseScaled(text, places), scaledOf(neg, whole, frac, places));
      }),
      { numRuns: 300 },
    );
  });

  it.each([0, 2, 6, 8])('formatScaled(places %i) round-trips through parseScaled', (places) => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }), (v) => {
        const text = formatScaled(v, places);
        same(parseScaled(text, places), v);
        // canonical: exactly `places` decimals
        check(places > 0 ? text.split('.')[1]!.length === places : !text.includes('.'), () => text);
      }),
      { numRuns: 300 },
    );
  });

  it('formatScaled(parseScaled(s)) is the canonical form of s', () => {
    fc.assert(
      fc.property(decimalString(6), ({ text }) => {
        const canonical = formatScaled(parseScaled(text, 6), 6);
        same(formatScaled(parseScaled(canonical, 6), 6), canonical);
        expect(canonical).toMatch(/^-?\d+\.\d{6}$/);
      }),
    );
  });

  it('rejects more significant decimals than allowed (strings and numbers)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(2, 6, 8),
        digits(1, 12),
        digits(0, 8),
        fc.constantFrom(...'123456789'),
        (places, whole, frac, last) => {
          const extra = frac.padEnd(places, '0') + last; // places + 1 decimals at least, last one ≠ 0
          expect(() => parseScaled(`${whole}.${extra}`, places)).toThrow(DecimalFormatError);
        },
      ),
    );
    expect(() => parseCents('1.001')).toThrow(DecimalFormatError);
    expect(() => parseCents('0.005')).toThrow(/more than 2 decimal places/);
    expect(() => parseCents(1.005)).toThrow(DecimalFormatError);
    expect(() => parseCents(0.1 + 0.2)).toThrow(DecimalFormatError); // 0.30000000000000004
    expect(() => parsePpm('0.0000001')).toThrow(DecimalFormatError);
    expect(() => parsePpm(0.1234567)).toThrow(DecimalFormatError);
    expect(() => parseRate('1.000000001')).toThrow(DecimalFormatError);
    expect(() => parseRate(1234.567890123)).toThrow(DecimalFormatError);
  });

  it('accepts trailing zeros beyond the scale, and whitespace around strings', () => {
    expect(parseCents('1.2300')).toBe(123);
    expect(parseCents(' 7.5 ')).toBe(750);
    expect(parsePpm('0.5000000000')).toBe(500_000n);
    expect(parseRate('100.000000000')).toBe(10_000_000_000n);
  });

  it('rejects what is not a plain decimal', () => {
    for (const bad of [
      '',
      ' ',
      '.5',
      '5.',
      '+5',
      '1e3',
      '1,5',
      '0x10',
      'NaN',
      'Infinity',
      '1 000',
      '--1',
      '1.2.3',
    ]) {
      expect(() => parseScaled(bad, 2)).toThrow(DecimalFormatError);
    }
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      expect(() => parseScaled(bad, 2)).toThrow(DecimalFormatError);
    }
    // exponent forms are expanded digit by digit, exactly
    expect(parseScaled(1e21, 2)).toBe(10n ** 23n);
    expect(parseScaled(1.5e-7, 8)).toBe(15n);
    expect(() => parseScaled(1.5e-9, 8)).toThrow(DecimalFormatError);
  });

  it('parseCents: numbers and strings give the same exact cents (the classic float traps included)', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(10n ** 12n), max: 10n ** 12n }), (c) => {
        const cents = Number(c);
        const text = formatCents(c);
        same(parseCents(text), cents);
        // a JS number with at most 2 decimals is read from its shortest decimal string
        same(parseCents(cents / 100), cents);
        same(parseCents(Number(text)), cents);
      }),
      { numRuns: 1000 },
    );
    // 0.29 × 100 = 28.999999999999996 and 4.35 × 100 = 434.99999999999994 in floats
    expect(parseCents(0.29)).toBe(29);
    expect(parseCents(4.35)).toBe(435);
    expect(parseCents(1.15)).toBe(115);
    expect(parseCents('0.29')).toBe(29);
    expect(parseCents(100)).toBe(10_000);
    expect(parseCents('90071992547409.91')).toBe(Number.MAX_SAFE_INTEGER);
    expect(() => parseCents('90071992547409.92')).toThrow(/too large/);
    expect(formatCents(29)).toBe('0.29');
    expect(formatCents(-5)).toBe('-0.05');
    expect(formatCents(10_000n)).toBe('100.00');
  });

  it('parsePpm: every ppm fraction as a number or a string', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1_000_000 }), (k) => {
        const ppm = BigInt(k);
        same(parsePpm(k / 1_000_000), ppm);
        same(parsePpm(formatPpm(ppm)), ppm);
        same(parsePpm(String(k / 1_000_000)), ppm);
      }),
      { numRuns: 1000 },
    );
    expect(parsePpm(0.999999)).toBe(999_999n);
    expect(parsePpm('0.000001')).toBe(1n);
    expect(parsePpm(0)).toBe(0n);
    expect(parsePpm('1')).toBe(1_000_000n);
    expect(formatPpm(30_000n)).toBe('0.030000');
  });

  it('parseRate: 8 places, exact far beyond 2^53', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 10n ** 26n }), (r) => {
        same(parseRate(formatRate(r)), r);
      }),
      { numRuns: 500 },
    );
    // numbers from 0.000001 up (a JS number below 1e-6 prints in exponent form)
    fc.assert(
      fc.property(fc.integer({ min: 100, max: 2_000_000_000 }), (k) => {
        same(parseRate(k / 100_000_000), BigInt(k));
      }),
      { numRuns: 500 },
    );
    expect(parseRate('123456789012345678.12345678')).toBe(12_345_678_901_234_567_812_345_678n);
    expect(parseRate(1234.5678)).toBe(123_456_780_000n);
    expect(parseRate('0.00000001')).toBe(1n);
    expect(formatRate(1n)).toBe('0.00000001');
  });

  it('parseRate reads a JS number with 7 or 8 decimals below 1e-6, though String() prints it in exponent form', () => {
    // 0.00000005 has 8 decimals, within the scale, but String(5e-8) is "5e-8"
    expect(String(0.00000005)).toBe('5e-8');
    expect(parseRate(0.00000005)).toBe(5n);
    expect(parseRate(0.00000012)).toBe(12n);
    expect(parseRate(0.0000001)).toBe(10n);
    // a 9th decimal is past the scale: refused, never rounded
    expect(() => parseRate(0.000000005)).toThrow(DecimalFormatError);
    expect(() => parseRate(0.000000005)).toThrow('exchange_rate has more than 8 decimal places');
  });

  it('mulDivFloor and toSafeNumber', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: 1n << 70n }),
        fc.bigInt({ min: 0n, max: 1n << 70n }),
        fc.bigInt({ min: 1n, max: 1n << 70n }),
        (a, b, c) => {
          const q = mulDivFloor(a, b, c);
          check(q * c <= a * b && a * b < (q + 1n) * c, () => `${q}`);
        },
      ),
    );
    expect(() => mulDivFloor(1n, 1n, 0n)).toThrow(RangeError);
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: 1n << 70n }),
        fc.bigInt({ min: 0n, max: 1n << 70n }),
        fc.bigInt({ min: 1n, max: 1n << 70n }),
        (a, b, c) => {
          // |a·b/c − q| ≤ ½, ties up
          const q = mulDivRound(a, b, c);
          check(2n * a * b >= (2n * q - 1n) * c && 2n * a * b < (2n * q + 1n) * c, () => `${q}`);
        },
      ),
    );
    expect(mulDivRound(5n, 1n, 2n)).toBe(3n);
    expect(mulDivRound(4n, 1n, 3n)).toBe(1n);
    expect(toSafeNumber(9_007_199_254_740_991n)).toBe(Number.MAX_SAFE_INTEGER);
    expect(() => toSafeNumber(9_007_199_254_740_992n)).toThrow(RangeError);
    expect(() => toSafeNumber(-1n)).toThrow(RangeError);
  });
});
