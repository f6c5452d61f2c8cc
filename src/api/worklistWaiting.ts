import { z } from 'zod';
import { missingSignal, type WaitingRow } from '../db/sightings';

/**
 * A settlement in flight with no settlement row yet (docs/operations.md "Worklist"): the
 * ingest forwarded its first signal (the machine's ATM event, or the payment on its
 * wallet) and the workflow has not recorded it yet. No settlement id exists: the
 * row links to its workflow.
 */
export const waitingShape = z
  .object({
    id: z.string().describe('the payment hash (the row has no settlement id yet)'),
    payment_hash: z.string(),
    machine_id: z.string(),
    status: z.literal('waiting'),
    missing: z
      .enum(['payment', 'atm_event'])
      .nullable()
      .describe(
        'the signal still missing; null: both were seen (the workflow is verifying and recording it, or decided it for another machine)',
      ),
    has_atm_event: z.boolean(),
    has_payment: z.boolean(),
    bitspire_event_id: z.string().nullable(),
    tx_type: z.enum(['cash_out', 'cash_in']).nullable(),
    wire_sats: z.number().int().nullable(),
    fiat_amount: z.string().nullable(),
    fiat_code: z.string().nullable(),
    observed_amount_sats: z.number().int().nullable(),
    direction: z.enum(['incoming', 'outgoing']).nullable(),
    message: z.string(),
    created_at: z.string().describe('when the first signal was seen'),
    temporal_url: z.string(),
  })
  .meta({ id: 'WorklistWaiting' });

const WORDS = { payment: 'the payment', atm_event: "the machine's ATM event" } as const;

export function waitingView(w: WaitingRow, temporalUrl: string): z.infer<typeof waitingShape> {
  const missing = missingSignal(w);
  const since = new Date(Number(w.cursor_ms)).toISOString();
  return {
    id: w.id,
    payment_hash: w.payment_hash,
    machine_id: w.machine_id,
    status: 'waiting',
    missing,
    has_atm_event: w.event_machine_id !== null,
    has_payment: w.payment_machine_id !== null,
    bitspire_event_id: w.event_id,
    tx_type: w.tx_type,
    wire_sats: w.wire_sats,
    fiat_amount: w.fiat_amount,
    fiat_code: w.fiat_code,
    observed_amount_sats: w.amount_sats,
    direction: w.direction,
    message: missing
      ? `waiting for ${WORDS[missing]} since ${since}`
      : `both signals seen since ${since}, no settlement recorded for this operator yet (open the workflow if this lasts)`,
    created_at: since,
    temporal_url: temporalUrl,
  };
}
