import { payPage, type PageOutcome } from './legPayments';

/**
 * Child workflow: pays one page of a large settlement's legs, so the parent's
 * history stays small whatever the fan-out (10,000 LPs = 40 pages).
 */
export async function legBatchWorkflow(input: {
  settlement_id: string;
  from: number;
  to: number;
}): Promise<PageOutcome> {
  return payPage(input.settlement_id, input.from, input.to);
}
