import type { Dispatch, SetStateAction } from 'react';

/** The cursors of the pages seen so far; the last one is the page on screen (undefined: the first). */
export type PageCursors = (string | undefined)[];

/**
 * Back and forth through a cursor-paginated list: back drops the last cursor, forward
 * adds the list's `next_cursor` (disabled when there is none).
 */
export function Pager({
  label,
  cursors,
  setCursors,
  nextCursor,
  back = 'Newer',
  forward = 'Older',
}: {
  /** the navigation's accessible name, e.g. "Payout pages" */
  label: string;
  cursors: PageCursors;
  setCursors: Dispatch<SetStateAction<PageCursors>>;
  /** the `next_cursor` of the page on screen (null or undefined: no further page) */
  nextCursor: string | null | undefined;
  back?: string;
  forward?: string;
}) {
  return (
    <nav className="pager" aria-label={label}>
      <button type="button" disabled={cursors.length === 1} onClick={() => setCursors((c) => c.slice(0, -1))}>
        {back}
      </button>
      <span className="muted">Page {cursors.length}</span>
      <button
        type="button"
        disabled={!nextCursor}
        onClick={() => setCursors((c) => [...c, nextCursor ?? undefined])}
      >
        {forward}
      </button>
    </nav>
  );
}
