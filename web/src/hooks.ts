import { useCallback, useEffect, useRef, useState } from 'react';
import { failureOf, type ApiFailure } from './api/client';

export interface Loaded<T> {
  data: T | undefined;
  error: ApiFailure | null;
  loading: boolean;
  /** which request `data` answers: greater than what `reload()` returned means it was sent after that call */
  loadedAt: number;
  /**
   * loads again (keeps showing the current data meanwhile); an answer already on its
   * way is dropped. Returns a mark to compare with `loadedAt`.
   */
  reload: () => number;
}

/**
 * Runs `load` when `deps` change, and every `pollMs` while the tab is visible. Data
 * stays on screen while a reload runs; an answer that arrives after newer deps is dropped.
 */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[], pollMs?: number): Loaded<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<ApiFailure | null>(null);
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  const [loadedAt, setLoadedAt] = useState(0);
  const generation = useRef(0);
  const inFlight = useRef(false);
  const loader = useRef(load);
  loader.current = load;

  useEffect(() => {
    const mine = ++generation.current;
    inFlight.current = true;
    setLoading(true);
    loader.current().then(
      (d) => {
        if (generation.current !== mine) return;
        inFlight.current = false;
        setData(d);
        setLoadedAt(mine);
        setError(null);
        setLoading(false);
      },
      (err: unknown) => {
        if (generation.current !== mine) return;
        inFlight.current = false;
        setError(failureOf(err));
        setLoading(false);
      },
    );
  }, [...deps, tick]);

  // a change of deps starts from nothing (another machine, another settlement…)
  const first = useRef(true);
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    setData(undefined);
  }, deps);

  useEffect(() => {
    if (!pollMs) return;
    const timer = window.setInterval(() => {
      // a slow answer is never overtaken by the next poll
      if (!document.hidden && !inFlight.current) setTick((t) => t + 1);
    }, pollMs);
    return () => window.clearInterval(timer);
  }, [pollMs]);

  const reload = useCallback(() => {
    // an answer to a request sent before now may predate what the caller just changed
    const mark = ++generation.current;
    setTick((t) => t + 1);
    return mark;
  }, []);
  return { data, error, loading, loadedAt, reload };
}

/**
 * A form's fields: `initial` until something is loaded, then what `from` makes of each
 * load (undefined: nothing loaded yet); `set` edits a patch at a time and calls `onEdit`
 * (e.g. to clear what the last save said).
 */
export function useLoadedForm<T, F>(
  initial: F,
  loaded: T | undefined,
  from: (loaded: T) => F,
  onEdit: () => void,
) {
  const [form, setForm] = useState<F>(initial);
  useEffect(() => {
    if (loaded !== undefined) setForm(from(loaded));
  }, [loaded, from]);
  const set = (patch: Partial<F>) => {
    setForm((f) => ({ ...f, ...patch }));
    onEdit();
  };
  return { form, setForm, set };
}
