import type { ReactNode } from 'react';

/**
 * A table that scrolls sideways on a narrow screen instead of widening the page; the
 * scrolling region is labelled and focusable, so it can be scrolled from the keyboard.
 */
export function Table({ label, children }: { label: string; children: ReactNode }) {
  return (
    <div className="table-wrap" role="region" aria-label={label} tabIndex={0}>
      <table>
        <caption className="visually-hidden">{label}</caption>
        {children}
      </table>
    </div>
  );
}
