import WebSocket from 'ws';
import {
  advanceObserverCursor,
  getObserverCursor,
  listLnbitsWallets,
  ownPaymentHashes,
  purgeObserved,
  recordWatchError,
  recordWatchOk,
  recordObserved,
  wasObserved,
} from '../db/lnbits';
import type { Pool } from '../db/pool';
import type { Logger } from '../logger';
import type { ObservedPayment, PaymentObserver } from './backend';
import { paymentState, paymentUpdatedAt, type LnbitsClient, type LnbitsPayment } from './lnbitsClient';

export interface ObserverDeps {
  pool: Pool;
  logger: Logger;
  client: LnbitsClient;
  /** opens a wallet's sealed invoice key (bound to its row) */
  openKey: (sealed: string, walletId: string) => string;
  /** a wallet without a live websocket is polled this often */
  pollIntervalMs: number;
  /** a wallet with a live websocket is polled this often all the same */
  safetyPollMs: number;
}

/** Payments LNbits updated this long before a wallet's cursor are scanned again (commit order, clocks). */
const OVERLAP_MS = 60_000;
/** A wallet seen for the first time: payments up to this long before its registration are reported. */
const FIRST_LOOKBACK_MS = 3_600_000;
const PAGE = 100;
const MAX_SCAN = 5_000;
/** Reported payments are remembered this long (at least), then purged once an hour. */
const KEEP_OBSERVED_DAYS = 7;
const PURGE_EVERY_MS = 3_600_000;

interface WatchedWallet {
  walletId: string;
  invoiceKeyEnc: string;
  invoiceKey: string;
  registeredAt: Date;
  ws: WebSocket | null;
  wsOpen: boolean;
  lastWsAttempt: number;
  lastPoll: number;
  catchUp: boolean;
  failing: boolean;
}

/**
 * Reports the settled payments of every wallet satmachine holds keys for: live from
 * each wallet's LNbits websocket, and by polling its payment list (sorted by last
 * update) from a cursor kept in PostgreSQL, so a disconnect, an LNbits restart or a
 * stopped observer is caught up. At least once, one payment at a time; a payment
 * whose handler throws is not marked and comes again with the next poll.
 * Satmachine's own payments (the invoices it created to pay legs) and LNbits admin
 * top-ups are not Lightning payments of a machine and are skipped.
 */
export function observeLnbitsPayments(
  deps: ObserverDeps,
  handler: (p: ObservedPayment) => Promise<void>,
): PaymentObserver {
  const log = deps.logger.child({ component: 'lnbits-observer' });
  const wallets = new Map<string, WatchedWallet>();
  let stopped = false;
  let wake: (() => void) | null = null;
  let chain: Promise<unknown> = Promise.resolve();
  const tick = Math.min(deps.pollIntervalMs, 1_000);
  let lastRefresh = 0;
  let lastPurge = 0;

  const wakeUp = () => wake?.();

  /** Hands one payment on (serialised: one at a time, in order of arrival). */
  const report = (walletId: string, p: LnbitsPayment): Promise<boolean> => {
    const run = chain.then(async () => {
      if (stopped) return false;
      if (
        paymentState(p) !== 'success' ||
        !p.payment_hash ||
        !Number.isSafeInteger(p.amount) ||
        p.amount === 0
      ) {
        return true;
      }
      if (p.wallet_id && p.wallet_id !== walletId) return true;
      const direction = p.amount > 0 ? ('incoming' as const) : ('outgoing' as const);
      if (direction === 'incoming' && (p.memo === 'Admin credit' || p.memo === 'Admin debit')) return true;
      if ((await ownPaymentHashes(deps.pool, [p.payment_hash])).size) return true;
      if (await wasObserved(deps.pool, walletId, p.payment_hash, direction)) return true;
      const msat = Math.abs(p.amount);
      const observed: ObservedPayment = {
        wallet_id: walletId,
        payment_hash: p.payment_hash,
        amount_sats: Math.floor(msat / 1000),
        direction,
      };
      if (msat % 1000 !== 0) {
        log.warn({ ...observed, amount_msat: msat }, 'payment of a fraction of a sat: reported rounded down');
      }
      await handler(observed);
      await recordObserved(deps.pool, observed);
      return true;
    });
    chain = run.catch(() => undefined);
    return run;
  };

  const connect = (w: WatchedWallet) => {
    if (stopped || w.ws) return;
    w.lastWsAttempt = Date.now();
    const ws = new WebSocket(deps.client.websocketUrl(w.invoiceKey), { handshakeTimeout: 10_000 });
    w.ws = ws;
    ws.on('open', () => {
      w.wsOpen = true;
      w.catchUp = true; // whatever happened while it was down
      wakeUp();
    });
    ws.on('message', (data: WebSocket.RawData) => {
      let msg: { payment?: LnbitsPayment } | null;
      try {
        msg = JSON.parse(
          (Buffer.isBuffer(data)
            ? data
            : Array.isArray(data)
              ? Buffer.concat(data)
              : Buffer.from(data)
          ).toString('utf8'),
        ) as {
          payment?: LnbitsPayment;
        };
      } catch {
        return;
      }
      const p = msg?.payment;
      if (!p || typeof p !== 'object') return;
      report(w.walletId, p).catch((err: unknown) => {
        log.warn(
          { wallet_id: w.walletId, err: (err as Error).message },
          'payment handler failed; the next poll retries it',
        );
        w.catchUp = true;
      });
    });
    const down = () => {
      if (w.ws !== ws) return;
      w.ws = null;
      w.wsOpen = false;
    };
    ws.on('close', down);
    ws.on('error', () => {
      down();
      ws.terminate();
    });
  };

  const disconnect = (w: WatchedWallet) => {
    const ws = w.ws;
    w.ws = null;
    w.wsOpen = false;
    if (ws) {
      ws.removeAllListeners('message');
      ws.on('error', () => undefined);
      ws.terminate();
    }
  };

  const refresh = async () => {
    const rows = await listLnbitsWallets(deps.pool, null);
    const seen = new Set<string>();
    for (const r of rows) {
      seen.add(r.wallet_id);
      const known = wallets.get(r.wallet_id);
      if (known && known.invoiceKeyEnc === r.invoice_key_enc) continue;
      if (known) disconnect(known); // keys replaced
      wallets.set(r.wallet_id, {
        walletId: r.wallet_id,
        invoiceKeyEnc: r.invoice_key_enc,
        invoiceKey: deps.openKey(r.invoice_key_enc, r.wallet_id),
        registeredAt: r.created_at,
        ws: null,
        wsOpen: false,
        lastWsAttempt: 0,
        lastPoll: 0,
        catchUp: true,
        failing: false,
      });
    }
    for (const [id, w] of wallets) {
      if (seen.has(id)) continue;
      disconnect(w);
      wallets.delete(id);
    }
  };

  /** Reports every settled payment updated since the wallet's cursor, oldest first, then moves the cursor. */
  const poll = async (w: WatchedWallet) => {
    const cursor =
      (await getObserverCursor(deps.pool, w.walletId)) ??
      new Date(w.registeredAt.getTime() - FIRST_LOOKBACK_MS);
    const from = cursor.getTime() - OVERLAP_MS;
    const found: LnbitsPayment[] = [];
    for (let offset = 0; offset < MAX_SCAN; offset += PAGE) {
      const page = await deps.client.settledPayments(w.invoiceKey, { limit: PAGE, offset });
      let older = false;
      for (const p of page) {
        const at = paymentUpdatedAt(p);
        if (at && at.getTime() < from) {
          older = true;
          break;
        }
        found.push(p);
      }
      if (older || page.length < PAGE) break;
    }
    let newest = cursor.getTime();
    for (const p of found.reverse()) {
      await report(w.walletId, p);
      const at = paymentUpdatedAt(p)?.getTime();
      if (at && at > newest) newest = at;
    }
    if (newest > cursor.getTime()) await advanceObserverCursor(deps.pool, w.walletId, new Date(newest));
  };

  const loop = (async () => {
    while (!stopped) {
      try {
        if (Date.now() - lastRefresh >= deps.pollIntervalMs) {
          await refresh();
          lastRefresh = Date.now();
        }
        if (Date.now() - lastPurge >= PURGE_EVERY_MS) {
          lastPurge = Date.now();
          const purged = await purgeObserved(deps.pool, KEEP_OBSERVED_DAYS);
          if (purged > 0) log.info({ purged }, 'forgot payments reported long ago');
        }
        for (const w of wallets.values()) {
          if (stopped) break;
          if (!w.ws && Date.now() - w.lastWsAttempt >= deps.pollIntervalMs) connect(w);
          const since = Date.now() - w.lastPoll;
          const due = w.catchUp || since >= (w.wsOpen ? deps.safetyPollMs : deps.pollIntervalMs);
          if (!due) continue;
          w.catchUp = false;
          try {
            await poll(w);
            w.lastPoll = Date.now();
            await recordWatchOk(deps.pool, w.walletId);
            if (w.failing)
              log.info({ wallet_id: w.walletId }, 'LNbits payments of this wallet are observed again');
            w.failing = false;
          } catch (err) {
            // poll again after pollIntervalMs, with or without a live websocket
            w.lastPoll = Date.now() - (w.wsOpen ? Math.max(0, deps.safetyPollMs - deps.pollIntervalMs) : 0);
            await recordWatchError(deps.pool, w.walletId, (err as Error).message).catch(() => undefined);
            if (!w.failing) {
              log.warn(
                { wallet_id: w.walletId, err: (err as Error).message },
                'cannot read the payments of this LNbits wallet; retrying (is LNbits up, is the key still valid?)',
              );
            }
            w.failing = true;
          }
        }
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'LNbits payment observer: will retry (is PostgreSQL up?)');
      }
      if (stopped) break;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, tick);
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
      wakeUp();
      await loop;
      for (const w of wallets.values()) disconnect(w);
      wallets.clear();
      await chain;
    },
  };
}
