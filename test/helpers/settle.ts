import type { Client } from '@temporalio/client';
import { settlementWorkflowId } from '../../src/contract';
import { SettlementSignals } from '../../src/ingest/settlementSignals';
import { buildSettlementEvent } from '../../src/nostr/codec';
import type { Pool } from '../../src/db/pool';
import type { LegRow } from '../../src/db/legs';
import type { SettlementRow } from '../../src/db/settlements';
import { eventually } from './stack';
import { ledgerFor, newPaymentHash, settlementContent, type Machine, type Operator } from './fixtures';

export interface SendOptions {
  txType?: 'cash_out' | 'cash_in';
  wireSats: number;
  feeSats: number;
  fiat: string;
  order?: 'event-first' | 'payment-first';
  paymentHash?: string;
  /** sign with another key (a forged event) */
  signerSecretHex?: string;
  /** report the payment on another wallet */
  walletId?: string;
  paymentAmount?: number;
  eventTwice?: boolean;
  cassettes?: Record<string, { denomination: number; count: number }>;
  /** the workflow's stuck threshold (when this call starts it) */
  stuckAfterMs?: number;
}

/** Plays one ATM transaction into the workflow: the ledger payment and the signed event, as the ingest would. */
export async function sendSettlement(
  pool: Pool,
  client: Client,
  taskQueue: string,
  machine: Machine,
  operator: Operator,
  o: SendOptions,
): Promise<string> {
  const hash = o.paymentHash ?? newPaymentHash();
  const signals = new SettlementSignals(client, taskQueue, o.stuckAfterMs);
  const txType = o.txType ?? 'cash_out';
  const event = buildSettlementEvent(
    o.signerSecretHex ?? machine.secretHex,
    operator.pubkey,
    settlementContent({
      paymentHash: hash,
      txType,
      wireSats: o.wireSats,
      feeSats: o.feeSats,
      fiat: o.fiat,
      fiatCode: machine.row.fiat_code,
      cassettes: o.cassettes,
    }),
  );
  const payment = {
    wallet_id: o.walletId ?? machine.walletId,
    payment_hash: hash,
    amount_sats: o.paymentAmount ?? o.wireSats,
    direction: txType === 'cash_out' ? ('incoming' as const) : ('outgoing' as const),
  };
  const pay = async () => {
    await ledgerFor(pool).recordLightningPayment(payment);
    await signals.paymentObserved(payment);
  };
  const send = async () => {
    await signals.atmEvent(hash, { event });
    if (o.eventTwice) await signals.atmEvent(hash, { event });
  };
  if ((o.order ?? 'event-first') === 'event-first') {
    await send();
    await pay();
  } else {
    await pay();
    await send();
  }
  return hash;
}

export async function settlementByHash(pool: Pool, hash: string): Promise<SettlementRow | null> {
  const { rows } = await pool.query<SettlementRow>(
    'SELECT * FROM satmachine.dca_settlements WHERE payment_hash = $1',
    [hash],
  );
  return rows[0] ?? null;
}

export async function legsOf(pool: Pool, settlementId: string): Promise<LegRow[]> {
  const { rows } = await pool.query<LegRow>(
    'SELECT * FROM satmachine.dca_payments WHERE settlement_id = $1 ORDER BY sort_order',
    [settlementId],
  );
  return rows;
}

/** Waits until the settlement's workflow has closed and returns its row. */
export async function awaitSettled(
  pool: Pool,
  client: Client,
  hash: string,
  timeoutMs = 60_000,
): Promise<SettlementRow> {
  await client.workflow.getHandle(settlementWorkflowId(hash)).result();
  return eventually(() => settlementByHash(pool, hash), timeoutMs, `settlement ${hash}`);
}

export async function awaitStatus(
  pool: Pool,
  hash: string,
  statuses: string[],
  timeoutMs = 60_000,
): Promise<SettlementRow> {
  return eventually(
    async () => {
      const s = await settlementByHash(pool, hash);
      return s && statuses.includes(s.status) ? s : null;
    },
    timeoutMs,
    `settlement ${hash.slice(0, 8)} to reach ${statuses.join('/')}`,
  );
}
