/**
 * Exact decimals as scaled BigInts. Fiat is integer cents (scale 2), fractions are
 * parts per million (scale 6: NUMERIC(7,6) in SQL), exchange rates keep 8 places.
 * Parsing goes through the decimal string, never through float arithmetic.
 */

export const PPM = 1_000_000n;
export const RATE_SCALE = 100_000_000n;

export class DecimalFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DecimalFormatError';
  }
}

const DECIMAL = /^(-?)(\d+)(?:\.(\d+))?$/;

/** Parses a decimal (string or JS number) into an integer scaled by 10^places. Refuses extra precision. */
export function parseScaled(value: string | number, places: number, what = 'value'): bigint {
  const text = typeof value === 'number' ? numberToPlainString(value, what) : value.trim();
  const m = DECIMAL.exec(text);
  if (!m) throw new DecimalFormatError(`${what} must be a decimal number, got "${text}"`);
  const [, sign, whole, frac = ''] = m;
  const trimmed = frac.replace(/0+$/, '');
  if (trimmed.length > places) {
    throw new DecimalFormatError(`${what} has more than ${places} decimal places: "${text}"`);
  }
  const digits = BigInt(whole! + trimmed.padEnd(places, '0'));
  return sign === '-' ? -digits : digits;
}

/**
 * The decimal digits of a JS number as written (its shortest round-trip form), with
 * an exponent (5e-8, 1.5e+21) expanded by moving the point: string work only.
 */
function numberToPlainString(n: number, what: string): string {
  if (!Number.isFinite(n)) throw new DecimalFormatError(`${what} must be a finite number`);
  const s = String(n);
  const m = /^(-?)(\d+)(?:\.(\d+))?e([+-]\d+)$/i.exec(s);
  if (!m) return s;
  const [, sign, whole, frac = '', exp] = m;
  const digits = whole! + frac;
  const point = whole!.length + Number(exp);
  if (point <= 0) return `${sign}0.${'0'.repeat(-point)}${digits}`;
  if (point >= digits.length) return `${sign}${digits}${'0'.repeat(point - digits.length)}`;
  return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`;
}

/** Formats a scaled integer back to a plain decimal string with exactly `places` digits. */
export function formatScaled(value: bigint, places: number): string {
  const neg = value < 0n;
  const abs = neg ? -value : value;
  const s = abs.toString().padStart(places + 1, '0');
  const out = places === 0 ? s : `${s.slice(0, -places)}.${s.slice(-places)}`;
  return neg ? `-${out}` : out;
}

export function parseCents(value: string | number, what = 'amount'): number {
  const cents = parseScaled(value, 2, what);
  if (cents > BigInt(Number.MAX_SAFE_INTEGER)) throw new DecimalFormatError(`${what} is too large`);
  return Number(cents);
}

export function formatCents(cents: number | bigint): string {
  return formatScaled(BigInt(cents), 2);
}

export function parsePpm(value: string | number, what = 'fraction'): bigint {
  return parseScaled(value, 6, what);
}

export function formatPpm(ppm: bigint): string {
  return formatScaled(ppm, 6);
}

export function parseRate(value: string | number, what = 'exchange_rate'): bigint {
  return parseScaled(value, 8, what);
}

export function formatRate(rate: bigint): string {
  return formatScaled(rate, 8);
}

/** floor(a × b / c) for non-negative BigInts. */
export function mulDivFloor(a: bigint, b: bigint, c: bigint): bigint {
  if (c === 0n) throw new RangeError('division by zero');
  return (a * b) / c;
}

/** round(a × b / c), half up, for a, b ≥ 0 and c > 0 (a displayed average: never truncated). */
export function mulDivRound(a: bigint, b: bigint, c: bigint): bigint {
  if (c <= 0n) throw new RangeError('division by zero or a negative divisor');
  return (2n * a * b + c) / (2n * c);
}

/** Converts a non-negative BigInt that must fit a JS safe integer (sats, cents). */
export function toSafeNumber(v: bigint, what = 'value'): number {
  if (v < 0n || v > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError(`${what} out of range: ${v}`);
  return Number(v);
}
