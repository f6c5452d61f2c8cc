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

/** What a keyset listing reads for a page: one row more than the page (to see whether another follows), after `before`. */
export interface KeysetRead {
  limit: number;
  before: { at: Date; id: string } | undefined;
}

/**
 * One page of a keyset listing, newest first: `read` gets the page size plus one and
 * the position the query's cursor names (a cursor this API did not return is a 400);
 * the first `limit` rows as `view` shows them, and the cursor after the last of them
 * when the extra row says there is a next page. `at` is a row's position in the order.
 */
export async function keysetPage<R extends { id: string }, V>(
  query: { limit: number; cursor?: string | undefined },
  read: (page: KeysetRead) => Promise<readonly R[]>,
  view: (row: R) => V,
  at: (row: R) => Date,
): Promise<{ items: V[]; next_cursor: string | null }> {
  const rows = await read({ limit: query.limit + 1, before: decodeCursor(query.cursor) });
  const page = rows.slice(0, query.limit);
  const last = page[page.length - 1];
  return {
    items: page.map((row) => view(row)),
    next_cursor: rows.length > query.limit && last ? encodeCursor(at(last), last.id) : null,
  };
}
