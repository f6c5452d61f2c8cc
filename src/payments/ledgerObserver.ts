/**
 * The embedded ledger's payment observer: forwards every recorded Lightning payment
 * (the outbox `ledger_lightning_payments.forwarded_at IS NULL`) to a handler — the
 * ingest's payment listener, which signals the settlement workflow.
 *
 * At least once, never lost: a payment is marked forwarded only after its handler
 * resolved, so a crash between the signal and the mark sends it again (the workflow
 * keeps one observation per wallet and direction). No database transaction is held
 * while the handler runs; handlers run in parallel, at most FORWARD_CONCURRENCY at once.
 *
 * Woken by LISTEN/NOTIFY, and by a poll as a safety net. A notification that arrives
 * while a drain runs is remembered: the observer drains again at once instead of
 * waiting for the poll.
 */
import pg from 'pg';
import { listenForLedgerPayments, markPaymentsForwarded, unforwardedPayments } from '../db/ledger';
import type { Pool } from '../db/pool';
import type { Logger } from '../logger';
import type { ObservedPayment, PaymentObserver } from './backend';

/** Payments read per drain step. */
const BATCH = 100;
/** Handlers (Temporal signals) under way at once. */
export const FORWARD_CONCURRENCY = 16;

export interface LedgerObserverOptions {
  pool: Pool;
  logger: Logger;
  /** how often the observer drains besides LISTEN/NOTIFY */
  pollIntervalMs: number;
  /** called once the listening connection received a notification (tests use it as a barrier) */
  onNotification?: () => void;
}

export function observeLedgerPayments(
  opts: LedgerObserverOptions,
  handler: (p: ObservedPayment) => Promise<void>,
): PaymentObserver {
  let stopped = false;
  /** a notification arrived since the last drain started: drain again before sleeping */
  let notified = false;
  let wake: (() => void) | null = null;
  let listener: pg.Client | null = null;

  const connectListener = async () => {
    const client = new pg.Client({ connectionString: opts.pool.options.connectionString });
    client.on('error', () => undefined);
    client.on('notification', () => {
      notified = true;
      wake?.();
      opts.onNotification?.();
    });
    await client.connect();
    await listenForLedgerPayments(client);
    listener = client;
  };

  /** Forwards one batch; throws (after marking the delivered ones) when a handler failed. */
  const forwardBatch = async (): Promise<number> => {
    const batch = await unforwardedPayments(opts.pool, BATCH);
    const delivered: string[] = [];
    let firstError: unknown = null;
    let next = 0;
    const lane = async () => {
      while (next < batch.length) {
        const p = batch[next++]!;
        try {
          await handler({
            wallet_id: p.wallet_id,
            payment_hash: p.payment_hash,
            amount_sats: p.amount_sats,
            direction: p.direction,
          });
          delivered.push(p.id);
        } catch (err) {
          firstError ??= err;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(FORWARD_CONCURRENCY, batch.length) }, lane));
    await markPaymentsForwarded(opts.pool, delivered);
    if (firstError !== null) throw firstError;
    return batch.length;
  };

  const drain = async () => {
    while (!stopped && (await forwardBatch()) === BATCH) {
      /* a full batch: more may be waiting */
    }
  };

  const loop = (async () => {
    while (!stopped) {
      let failed = false;
      try {
        if (!listener) await connectListener();
        notified = false; // what arrives from here on is seen by this drain or triggers the next
        await drain();
      } catch (err) {
        failed = true;
        opts.logger.warn({ err }, 'payment observer: will retry (is PostgreSQL up? is Temporal up?)');
        await (listener as pg.Client | null)?.end().catch(() => undefined);
        listener = null;
      }
      if (stopped) break;
      if (notified && !failed) continue; // arrived during the drain: go again now
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, opts.pollIntervalMs);
        wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      wake = null;
    }
  })();

  return {
    stop: async () => {
      stopped = true;
      wake?.();
      await loop;
      await listener?.end().catch(() => undefined);
    },
  };
}
