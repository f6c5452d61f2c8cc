// The words an operator reads for the API's codes. The API, the CSV exports and the
// Temporal search attributes keep the codes; the console shows these words and keeps the
// code in a tooltip (title), so a word on screen can still be matched to a query.

const LEG_TYPES: Record<string, string> = {
  dca: 'LP purchase',
  settlement: 'LP payout',
  autoforward: 'Forward to Lightning address',
  super_fee: 'Platform fee',
  operator_split: 'Commission split',
};

const LEG_STATUSES: Record<string, string> = {
  pending: 'Not paid yet',
  completed: 'Paid',
  failed: 'Failed',
  skipped: 'Skipped (nothing to pay)',
  voided: 'Given up',
};

const SETTLEMENT_STATUSES: Record<string, string> = {
  pending: 'Waiting for payment',
  processing: 'Paying out',
  processed: 'Settled',
  partial: 'Partly dispensed',
  refunded: 'Refunded',
  errored: 'Needs retry',
  rejected: 'Rejected',
  stuck_pending: 'Stuck waiting',
  stuck_processing: 'Stuck paying out',
  waiting: 'Waiting for record',
};

const TX_TYPES: Record<string, string> = { cash_out: 'Cash-out', cash_in: 'Cash-in' };

const word = (table: Record<string, string>, code: string | null | undefined) =>
  code === null || code === undefined ? '–' : (table[code] ?? code);

/** dca → "LP purchase", … (an unknown code is shown as it is). */
export const legTypeLabel = (code: string | null | undefined) => word(LEG_TYPES, code);
/** completed → "Paid", … */
export const legStatusLabel = (code: string | null | undefined) => word(LEG_STATUSES, code);
/** processed → "Settled", … */
export const settlementStatusLabel = (code: string | null | undefined) => word(SETTLEMENT_STATUSES, code);
/**
 * cash_out → "Cash-out": the `TxType` search attribute holds the code (cash_out), the
 * console the word; the code is in the tooltip.
 */
export const txTypeLabel = (code: string | null | undefined) => word(TX_TYPES, code);
