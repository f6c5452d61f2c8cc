/**
 * How wide a payment round runs: workflow constants (changing one changes the
 * commands a workflow emits: patched(), docs/settlement.md §13.1). Pure, so the
 * worker's settings (src/worker/settings.ts) size its slots from them.
 */

/** Legs paid at once within one page (one workflow dispatches ~30 activities/s). */
export const LEG_CONCURRENCY = 25;
/** Root legs per page: a page is paid inline or by one child, so no history grows past a few thousand events. */
export const PAGE_SIZE = 250;
/** Children (pages) paid at once when a settlement fans out over several pages. */
export const CHILD_CONCURRENCY = 4;
