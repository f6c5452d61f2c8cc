import { setFlagsFromString } from 'node:v8';

/**
 * The API process's garbage-collection headroom (API_HEAP_GROWING_PERCENT).
 *
 * Every request's objects that are still in flight when a young-generation GC runs are
 * promoted to the old generation (~2 MB a collection at 500 requests/s), so the old
 * generation fills steadily and each full GC pauses every request for 5-16 ms on a 2-core
 * box. V8 sizes the next limit from the live heap by a factor it picks itself, and after an
 * idle spell (its memory reducer) it picks a conservative one: measured, a full GC every
 * 2.5 s during reads (p99 13-26 ms) against one every 10-14 s in a process that had not idled.
 * A fixed factor (1 + percent/100) keeps the full GCs rare whatever the process went
 * through, for a bounded cost in memory: the old generation grows to (1 + percent/100) ×
 * its live size (~50 MB live in the API: ~150 MB at 200 %) before it is collected.
 *
 * V8 reads the flag at every full GC, so setting it at start-up takes effect at once.
 * 0 leaves V8's own choice.
 */
export function applyHeapHeadroom(percent: number): void {
  if (percent > 0) setFlagsFromString(`--heap-growing-percent=${Math.floor(percent)}`);
}
