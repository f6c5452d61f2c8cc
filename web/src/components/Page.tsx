import { useEffect, useRef, type ReactNode } from 'react';
import { navigationCount } from '../router';

/**
 * A page: its <h1> names it and the document title; after a client-side navigation
 * focus moves to the heading, so keyboard and screen-reader users land on the new page.
 */
export function Page({ title, lead, children }: { title: string; lead?: ReactNode; children: ReactNode }) {
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    document.title = `${title} · satmachine console`;
  }, [title]);
  useEffect(() => {
    if (navigationCount() > 0) heading.current?.focus();
  }, []);
  return (
    <>
      <h1 ref={heading} tabIndex={-1}>
        {title}
      </h1>
      {lead ? <p className="lead">{lead}</p> : null}
      {children}
    </>
  );
}
