import { KIND_APP_DATA } from '../../contract';
import {
  databaseAlertConditions,
  machineWallets,
  operatorsWithUnreadableAlerts,
  type AlertCondition,
  type MachineWalletRow,
} from '../../db/alertConditions';
import { applyEvaluation, type EvaluationOutcome } from '../../db/alerts';
import { getLnbitsWallet } from '../../db/lnbits';
import { RelayClient } from '../../nostr/relayClient';
import { LnbitsClient } from '../../payments/lnbitsClient';
import { sealedColumns } from '../../security/secretBox';
import type { ActivityDeps } from '../deps';

/** Whether a relay answers a query (connects, then EOSE) within the timeout. */
export async function relayReadable(url: string, deps: ActivityDeps, timeoutMs: number): Promise<boolean> {
  // a probe per relay and evaluation: its connect / disconnect lines only when something goes wrong
  const relay = new RelayClient(url, { logger: deps.logger.child({}, { level: 'warn' }) }).start();
  try {
    await relay.waitConnected(timeoutMs);
    const events = await relay.query([{ kinds: [KIND_APP_DATA], limit: 1 }], timeoutMs);
    return events !== null;
  } catch {
    return false;
  } finally {
    relay.close();
  }
}

function relayConditions(operators: string[], relays: string[]): AlertCondition[] {
  return relays.flatMap((url) =>
    operators.map((operator_user_id) => ({
      operator_user_id,
      rule: 'relay_unreadable' as const,
      alert_key: `relay_unreadable:${url}`,
      subject_type: 'relay' as const,
      subject_id: url,
      severity: 'critical' as const,
      summary: `Relay ${url} cannot be read: machine events through it are not seen`,
      details: { relay: url },
    })),
  );
}

/** The balance of a machine wallet in sats, or why it cannot be read. */
async function walletBalance(
  w: MachineWalletRow,
  deps: ActivityDeps,
): Promise<{ sats: number } | { error: string }> {
  if (deps.payments.name !== 'lnbits') {
    return w.ledger_balance_sats === null
      ? { error: `ledger wallet ${w.wallet_id} does not exist` }
      : { sats: w.ledger_balance_sats };
  }
  if (!w.lnbits_registered) return { error: `LNbits wallet ${w.wallet_id} has no registered keys` };
  if (w.lnbits_watch_error) return { error: w.lnbits_watch_error };
  if (w.wallet_min_sats === null) return { sats: Number.MAX_SAFE_INTEGER }; // nothing to compare: not read
  const url = deps.alerts?.lnbitsUrl;
  if (!url) return { error: 'LNBITS_URL is not configured for the worker' };
  try {
    const row = await getLnbitsWallet(deps.pool, w.wallet_id);
    if (!row) return { error: `LNbits wallet ${w.wallet_id} has no registered keys` };
    const key = deps.secretBox.open(row.invoice_key_enc, sealedColumns.lnbitsInvoiceKey(w.wallet_id));
    const details = await new LnbitsClient(url, { timeoutMs: 10_000 }).wallet(key);
    return { sats: Math.floor(details.balance / 1000) };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

async function walletConditions(deps: ActivityDeps): Promise<AlertCondition[]> {
  const out: AlertCondition[] = [];
  const wallets = await machineWallets(deps.pool);
  // LNbits reads go out a few at a time (each may take up to its 10 s timeout)
  const balances: Awaited<ReturnType<typeof walletBalance>>[] = [];
  for (let i = 0; i < wallets.length; i += 8)
    balances.push(...(await Promise.all(wallets.slice(i, i + 8).map((w) => walletBalance(w, deps)))));
  for (const [i, w] of wallets.entries()) {
    const b = balances[i]!;
    const base = {
      operator_user_id: w.operator_user_id,
      subject_type: 'wallet' as const,
      subject_id: w.machine_id,
    };
    if ('error' in b) {
      if (w.unreadable_alerts)
        out.push({
          ...base,
          rule: 'wallet_unreadable',
          alert_key: `wallet_unreadable:${w.machine_id}`,
          severity: 'critical',
          summary: `The wallet of ${w.machine_name} cannot be read: ${b.error}`.slice(0, 500),
          details: {
            machine_id: w.machine_id,
            machine_name: w.machine_name,
            wallet_id: w.wallet_id,
            error: b.error,
          },
        });
    } else if (w.wallet_min_sats !== null && b.sats < w.wallet_min_sats) {
      out.push({
        ...base,
        rule: 'wallet_low',
        alert_key: `wallet_low:${w.machine_id}`,
        severity: 'warning',
        summary: `The wallet of ${w.machine_name} holds ${b.sats} sats (below ${w.wallet_min_sats})`,
        details: {
          machine_id: w.machine_id,
          machine_name: w.machine_name,
          wallet_id: w.wallet_id,
          balance_sats: b.sats,
          min_sats: w.wallet_min_sats,
        },
      });
    }
  }
  return out;
}

export type EvaluateResult = EvaluationOutcome & { unreadable_relays: string[] };

/**
 * One evaluation of every operator's rules: the database conditions, machine wallets
 * (balances, readability) and the configured relays (readability), applied to the
 * alert rows with hysteresis (src/db/alerts.ts `applyEvaluation`).
 */
export async function evaluateAlerts(deps: ActivityDeps): Promise<EvaluateResult> {
  const relays = deps.alerts?.relays ?? [];
  const timeout = deps.alerts?.relayProbeTimeoutMs ?? 5_000;
  const [fromDb, fromWallets, readable] = await Promise.all([
    databaseAlertConditions(deps.pool),
    walletConditions(deps),
    Promise.all(relays.map((url) => relayReadable(url, deps, timeout))),
  ]);
  const unreadable = relays.filter((_, i) => !readable[i]);
  const fromRelays = unreadable.length
    ? relayConditions(await operatorsWithUnreadableAlerts(deps.pool), unreadable)
    : [];
  const outcome = await applyEvaluation(deps.pool, [...fromDb, ...fromWallets, ...fromRelays]);
  if (outcome.opened.length || outcome.resolved.length)
    deps.logger.info(
      { opened: outcome.opened.length, resolved: outcome.resolved.length, open: outcome.open },
      'alerts evaluated',
    );
  return { ...outcome, unreadable_relays: unreadable };
}
