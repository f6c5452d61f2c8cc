import { txTypeLabel } from './words';

// Display helpers. Amounts stay exact: fiat is a decimal string from the API (cents
// arithmetic in BigInt), sats are integers.

const satsFormat = new Intl.NumberFormat('en-US');

export function sats(n: number | null | undefined): string {
  if (n === null || n === undefined) return '–';
  return `${satsFormat.format(n)} ${n === 1 || n === -1 ? 'sat' : 'sats'}`;
}

/** "1 leg", "2 legs". */
export const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

export function fiat(amount: string | null | undefined, code?: string | null): string {
  if (amount === null || amount === undefined) return '–';
  return code ? `${amount} ${code}` : amount;
}

/** An exchange rate without trailing zeros: "1000.00000000" → "1000". */
export function rate(text: string): string {
  return text.includes('.') ? text.replace(/\.?0+$/, '') : text;
}

/** "12.34" → 1234n; null when it is not a decimal with at most 2 places. */
export function parseCents(text: string): bigint | null {
  const m = /^\s*(-?)(\d+)(?:\.(\d{0,2}))?\s*$/.exec(text);
  if (!m) return null;
  const cents = BigInt(m[2]!) * 100n + BigInt((m[3] ?? '').padEnd(2, '0') || '0');
  return m[1] ? -cents : cents;
}

export function formatCents(cents: bigint): string {
  const neg = cents < 0n;
  const abs = neg ? -cents : cents;
  return `${neg ? '-' : ''}${abs / 100n}.${(abs % 100n).toString().padStart(2, '0')}`;
}

/** Cents with grouped digits: 6999916n → "69,999.16". */
export function groupedCents(cents: bigint): string {
  const neg = cents < 0n;
  const abs = neg ? -cents : cents;
  const whole = (abs / 100n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${neg ? '-' : ''}${whole}.${(abs % 100n).toString().padStart(2, '0')}`;
}

/**
 * What was paid per bitcoin received, rounded half up to the cent: spent fiat × 10⁸ /
 * sats, exactly (BigInt), grouped — "69,999.16 USD". null when nothing was received.
 */
export function averageCost(spent: string, totalSats: number, code: string): string | null {
  const cents = parseCents(spent);
  if (cents === null || totalSats <= 0) return null;
  const satsBig = BigInt(totalSats);
  const rounded = (cents * 100_000_000n * 2n + satsBig) / (2n * satsBig);
  return `${groupedCents(rounded)} ${code}`;
}

export const PPM = 1_000_000n;

/** "0.25" → 250000n; null when it is not a decimal in [0, 1] with at most 6 places. */
export function parsePpm(text: string): bigint | null {
  const m = /^\s*(\d+)(?:\.(\d{0,6}))?\s*$/.exec(text);
  if (!m) return null;
  const v = BigInt(m[1]!) * PPM + BigInt((m[2] ?? '').padEnd(6, '0') || '0');
  return v > PPM ? null : v;
}

export function formatPpm(ppm: bigint): string {
  return `${ppm / PPM}.${(ppm % PPM).toString().padStart(6, '0')}`;
}

const dateTime = new Intl.DateTimeFormat('en-GB', {
  year: 'numeric',
  month: 'short',
  day: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
});

export function when(iso: string | null | undefined): string {
  if (!iso) return '–';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : dateTime.format(d);
}

/** "3 min ago", "2 h ago"… */
export function ago(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return 'never';
  const s = Math.max(0, Math.round((now - new Date(iso).getTime()) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

export function short(id: string | null | undefined, n = 8): string {
  if (!id) return '–';
  return id.length > n + 1 ? `${id.slice(0, n)}…` : id;
}

/** cash_out → "Cash-out" (the word of web/src/words.ts). */
export const txLabel = (t: string | null | undefined) => txTypeLabel(t);

/** Local midnight of today. */
export function startOfToday(now = new Date()): Date {
  return new Date(now.getFullYear(), now.getMonth(), now.getDate());
}

/** A fee fraction as a percentage, exactly: "0.030000" → "3 %", "0.012345" → "1.2345 %"; the text itself when it is not a fraction. */
export function percent(fraction: string | null | undefined): string {
  if (fraction === null || fraction === undefined) return '–';
  const ppm = parsePpm(fraction);
  if (ppm === null) return fraction;
  const whole = ppm / 10_000n;
  const rest = (ppm % 10_000n).toString().padStart(4, '0').replace(/0+$/, '');
  return `${whole}${rest ? `.${rest}` : ''} %`;
}

/** part / whole as a percentage with 2 decimals, rounded half up (BigInt): 3,000 of 103,000 → "2.91 %". */
export function shareOf(part: number, whole: number): string | null {
  if (whole <= 0) return null;
  const hundredths = (BigInt(part) * 10_000n * 2n + BigInt(whole)) / (2n * BigInt(whole));
  return `${formatCents(hundredths)} %`;
}

/** sats per fiat unit, 2 decimals, rounded half up (BigInt): 103,000 sats for "100.00" → "1,030". */
export function satsPerUnit(totalSats: number, amount: string | null | undefined): string | null {
  const cents = amount ? parseCents(amount) : null;
  if (cents === null || cents <= 0n) return null;
  const hundredths = (BigInt(totalSats) * 100n * 100n * 2n + cents) / (2n * cents);
  return rate(groupedCents(hundredths));
}

/** " That is 3 %." for a valid fee fraction being typed, "" otherwise (a live hint next to the input). */
export const percentHint = (fraction: string) =>
  parsePpm(fraction) !== null && fraction.trim() !== '' ? ` That is ${percent(fraction)}.` : '';
