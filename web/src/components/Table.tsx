import { useEffect, useRef, type ReactNode } from 'react';

/** Each body cell gets its column's header as data-label (the card layout shows it before the value). */
function labelCells(table: HTMLTableElement) {
  const heads = [...table.querySelectorAll('thead th')].map((th) => th.textContent?.trim() ?? '');
  for (const row of table.querySelectorAll('tbody tr')) {
    [...row.children].forEach((cell, i) => {
      const label = heads[i];
      if (label && cell.getAttribute('data-label') !== label) cell.setAttribute('data-label', label);
    });
  }
}

/**
 * A table. On a narrow screen a `cards` table shows each row as a card (every cell on
 * its own line, labelled by its column's header), so status, link, sats and fiat stay
 * visible without sideways scrolling; any other table scrolls sideways inside its
 * labelled, focusable region instead of widening the page.
 */
export function Table({ label, children, cards }: { label: string; children: ReactNode; cards?: boolean }) {
  const ref = useRef<HTMLTableElement>(null);
  useEffect(() => {
    const table = ref.current;
    if (!cards || !table) return;
    labelCells(table);
    // rows come and go as lists refresh: label the new cells (attribute changes are not observed)
    const observer = new MutationObserver(() => labelCells(table));
    observer.observe(table, { childList: true, subtree: true });
    return () => observer.disconnect();
  }, [cards]);
  return (
    <div className={`table-wrap${cards ? ' table-cards' : ''}`} role="region" aria-label={label} tabIndex={0}>
      <table ref={ref}>
        <caption className="visually-hidden">{label}</caption>
        {children}
      </table>
    </div>
  );
}
