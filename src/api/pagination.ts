import { badRequest } from './errors';

/** Opaque keyset cursor: base64url of [timestamp ISO, id]. */
export function encodeCursor(at: Date, id: string): string {
  return Buffer.from(JSON.stringify([at.toISOString(), id])).toString('base64url');
}

export function decodeCursor(cursor: string | undefined): { at: Date; id: string } | undefined {
  if (!cursor) return undefined;
  try {
    const [at, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as [string, string];
    const date = new Date(at);
    if (Number.isNaN(date.getTime()) || typeof id !== 'string') throw new Error('bad');
    return { at: date, id };
  } catch {
    throw badRequest('cursor is not one this API returned; start again without it');
  }
}

/**
 * One page of a keyset listing read with `limit + 1` rows (newest first): the first
 * `limit` rows as `view` shows them, and the cursor after the last of them when the
 * extra row says there is a next page. `at` is the row's position in the order.
 */
export function keysetPage<R extends { id: string }, V>(
  rows: readonly R[],
  limit: number,
  view: (row: R) => V,
  at: (row: R) => Date,
): { items: V[]; next_cursor: string | null } {
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  return {
    items: page.map((row) => view(row)),
    next_cursor: rows.length > limit && last ? encodeCursor(at(last), last.id) : null,
  };
}
