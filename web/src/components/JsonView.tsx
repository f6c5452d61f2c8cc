/** A field name as words: "cash_level" → "cash level", "maxCashOut" → "max cash out". */
export function words(key: string): string {
  return key
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/[_-]+/g, ' ')
    .toLowerCase()
    .trim();
}

const isPlain = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** A scalar (or a list of scalars) as text; null when it needs more room. */
export function scalarText(v: unknown): string | null {
  if (v === null || v === undefined) return '–';
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  if (typeof v === 'number' || typeof v === 'string') return String(v);
  if (Array.isArray(v) && v.every((x) => x === null || typeof x !== 'object'))
    return v.length ? v.map((x) => scalarText(x)).join(', ') : '(none)';
  return null;
}

/**
 * Any JSON a machine sent, readable: an object becomes a definition list (nested up
 * to a few levels), a list of scalars a comma-separated line, anything deeper pretty
 * JSON. Keys are shown as the machine named them, in words.
 */
export function JsonView({ value, label, depth = 0 }: { value: unknown; label?: string; depth?: number }) {
  const text = scalarText(value);
  if (text !== null) return <span>{text}</span>;
  if (isPlain(value) && depth < 3) {
    const entries = Object.entries(value);
    if (!entries.length) return <span>(empty)</span>;
    return (
      <dl className="json" aria-label={label}>
        {entries.map(([k, v]) => (
          <div key={k}>
            <dt>{words(k)}</dt>
            <dd>
              <JsonView value={v} depth={depth + 1} />
            </dd>
          </div>
        ))}
      </dl>
    );
  }
  return (
    <pre className="json-raw" aria-label={label}>
      {JSON.stringify(value, null, 2)}
    </pre>
  );
}
