/**
 * Fan-out: one cash-out settlement to K LPs at one machine; the time from its two signals
 * sent to its workflow concluded, its legs, children and largest history.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { settlementWorkflowId } from '../src/contract';
import { buildSettlementEvent } from '../src/nostr/codec';
import { RelayClient } from '../src/nostr/relayClient';
import { LedgerBackend } from '../src/payments/ledger';
import type { Logger } from '../src/logger';
import { traceWorkflow } from './histories';
import { seedMachine, type SeededMachine, type SeededOperator } from './seed';
import type { BenchStack } from './stack';

export interface FanOutRun {
  lps: number;
  finished: boolean;
  status: string;
  /** signals sent → workflow concluded (or the cap, when not finished) */
  time_to_concluded_ms: number;
  legs: number;
  legs_completed: number;
  legs_per_s: number;
  child_workflows: number;
  largest_history_events: number;
  /** Temporal Cloud actions of the settlement, its children folded in (bench/histories.ts) */
  temporal_cloud_actions: number | null;
}

export async function seedFanOutMachine(stack: BenchStack, operator: SeededOperator, lps: number) {
  return seedMachine(stack.pool, operator, {
    name: `fanout-${lps}-${randomBytes(2).toString('hex')}`,
    lps,
    depositCents: 100_000,
  });
}

/** One settlement to every LP of `m`; waits up to `capMs` for it to conclude. */
export async function fanOutOnce(
  stack: BenchStack,
  operator: SeededOperator,
  m: SeededMachine,
  capMs: number,
  logger: Logger,
): Promise<FanOutRun> {
  const k = m.clientIds.length;
  const relay = new RelayClient(stack.relayUrl, { logger }).start();
  await relay.waitConnected();
  const ledger = new LedgerBackend({ pool: stack.pool, logger });
  // fiat covers every LP: each gets at least a sat
  const fiatCents = k * 100;
  const wire = fiatCents * 100;
  const fee = Math.floor((wire * 50_000) / 1_050_000);
  const hash = randomBytes(32).toString('hex');
  const event = buildSettlementEvent(m.secretHex, operator.pubkey, {
    v: 1,
    txid: `fanout-${hash.slice(0, 8)}`,
    tx_type: 'cash_out',
    payment_hash: hash,
    wire_sats: wire,
    fiat_amount: (fiatCents / 100).toFixed(2),
    fiat_code: 'USD',
    exchange_rate: '10000',
    fee_sats: fee,
    bills: [],
    cassettes: {},
  });
  const t0 = Date.now();
  await Promise.all([
    relay.publish(event),
    ledger.recordLightningPayment({
      wallet_id: m.walletId,
      payment_hash: hash,
      amount_sats: wire,
      direction: 'incoming',
    }),
  ]);
  relay.close();
  const handle = stack.temporal.workflow.getHandle(settlementWorkflowId(hash));
  let finished = false;
  let closeTime: Date | undefined;
  while (Date.now() - t0 < capMs) {
    try {
      const d = await handle.describe();
      if (d.closeTime) {
        finished = true;
        closeTime = d.closeTime;
        break;
      }
    } catch {
      /* not started yet */
    }
    await sleep(250);
  }
  const ms = finished ? closeTime!.getTime() - t0 : Date.now() - t0;
  let largest = 0;
  let children = 0;
  try {
    largest = (await handle.describe()).historyLength;
    for await (const w of stack.temporal.workflow.list({
      query: `WorkflowId STARTS_WITH "${settlementWorkflowId(hash)}-"`,
    })) {
      children++;
      largest = Math.max(largest, w.historyLength);
    }
  } catch {
    /* a history we could not read is reported as 0 */
  }
  const { rows } = await stack.pool.query<{ legs: number; completed: number; status: string }>(
    `SELECT (SELECT count(*)::int FROM satmachine.dca_payments p WHERE p.settlement_id = s.id) AS legs,
            (SELECT count(*)::int FROM satmachine.dca_payments p WHERE p.settlement_id = s.id AND p.status = 'completed') AS completed,
            s.status
       FROM satmachine.dca_settlements s WHERE s.payment_hash = $1`,
    [hash],
  );
  const r = rows[0] ?? { legs: 0, completed: 0, status: 'not recorded' };
  const actions = finished
    ? await traceWorkflow(stack.temporal, settlementWorkflowId(hash))
        .then((t) => t.cloud_actions)
        .catch(() => null)
    : null;
  return {
    lps: k,
    finished,
    status: r.status,
    time_to_concluded_ms: ms,
    legs: r.legs,
    legs_completed: r.completed,
    legs_per_s: Math.round((r.completed / (ms / 1000)) * 10) / 10,
    child_workflows: children,
    largest_history_events: largest,
    temporal_cloud_actions: actions,
  };
}
