import { formatCents, parseCents, parsePpm } from '../domain/decimal';
import { planSettlement, type PlannedLeg } from '../domain/settlementPlan';
import { getEffectiveCommissionSplits } from '../db/commissionSplits';
import { newId } from '../db/ids';
import {
  countLiveLegs,
  countPendingLegs,
  insertLegs,
  lockLegsInStatus,
  markLegPaid,
  maxSortOrder,
  pendingRootLegSortOrders,
  voidLeg,
  type NewLeg,
} from '../db/legs';
import { eligibleLpsForMachine } from '../db/lpBalances';
import { getMachine, lockMachine } from '../db/machines';
import { withTransaction, type Queryable } from '../db/pool';
import { getSettlement, setSettlementStatus, type SettlementRow } from '../db/settlements';
import { getSuperConfig } from '../db/superConfig';
import { lpDestinations } from '../db/lp';
import type { ActivityDeps } from './deps';
import { lookupLegPayment, paymentInFlight } from './legPaymentLookup';
import type { PlanSummary } from './types';

/** Groups root legs into pages of at most `pageSize` (a dca leg and its autoforward travel together). */
export async function pagesOf(
  db: Queryable,
  settlementId: string,
  pageSize: number,
): Promise<PlanSummary['pages']> {
  const orders = await pendingRootLegSortOrders(db, settlementId);
  const pages: PlanSummary['pages'] = [];
  for (let i = 0; i < orders.length; i += pageSize) {
    const chunk = orders.slice(i, i + pageSize);
    pages.push({ from: chunk[0]!, to: chunk[chunk.length - 1]! });
  }
  return pages;
}

/** What the workflow needs to pay a settlement's pending legs: their count and pages. */
export async function planSummary(
  db: Queryable,
  settlementId: string,
  holdSeconds: number,
  pageSize: number,
): Promise<PlanSummary> {
  return {
    payable: await countPendingLegs(db, settlementId),
    pages: await pagesOf(db, settlementId, pageSize),
    hold_seconds: holdSeconds,
  };
}

function toNewLeg(
  l: PlannedLeg,
  ids: Map<string, string>,
  s: SettlementRow,
  operatorId: string,
  machineWallet: string,
  lpWallets: Map<string, string>,
  baseOrder: number,
): NewLeg {
  return {
    id: ids.get(l.key)!,
    settlement_id: s.id,
    client_id: l.clientId,
    machine_id: s.machine_id,
    operator_user_id: operatorId,
    leg_type: l.legType,
    label: l.label,
    // autoforward moves the LP's own sats on, from its wallet; every other leg leaves the machine wallet
    source_wallet_id: l.legType === 'autoforward' ? lpWallets.get(l.clientId!)! : machineWallet,
    destination_wallet_id: l.destinationWalletId,
    destination_ln_address: l.destinationLnAddress,
    amount_sats: l.amountSats,
    amount_fiat: formatCents(l.amountFiatCents),
    exchange_rate: s.exchange_rate,
    transaction_time: s.created_at,
    status: l.status,
    error_message: l.errorMessage,
    parent_leg_id: l.parentKey ? ids.get(l.parentKey)! : null,
    replaces_leg_id: null,
    sort_order: baseOrder + l.sortOrder,
  };
}

/**
 * Plans and inserts the legs of a recorded settlement in one transaction holding
 * the machine's advisory lock, so two settlements on one machine never allocate
 * the same LP fiat (pending legs reserve it). Idempotent: a settlement that
 * already has live legs is left as it is.
 */
export async function planAndInsertLegs(
  deps: ActivityDeps,
  settlementId: string,
  pageSize: number,
): Promise<PlanSummary> {
  return withTransaction(deps.pool, (c) => planAndInsertLegsIn(c, settlementId, pageSize));
}

/** planAndInsertLegs inside the caller's transaction (an operator action that must commit as one). */
export async function planAndInsertLegsIn(
  c: Queryable,
  settlementId: string,
  pageSize: number,
): Promise<PlanSummary> {
  const s = await getSettlement(c, settlementId, true);
  if (!s) throw new Error(`settlement ${settlementId} not found`);
  const machine = (await getMachine(c, s.machine_id))!;
  if (s.wire_sats === null || s.tx_type === null || s.fee_sats === null) {
    throw new Error(`settlement ${settlementId} has no amounts yet`);
  }
  await lockMachine(c, machine.id);
  if ((await countLiveLegs(c, s.id)) > 0 || s.status === 'refunded' || s.status === 'rejected') {
    return planSummary(c, s.id, machine.distribution_delay_seconds, pageSize);
  }
  const config = await getSuperConfig(c);
  const txType = s.tx_type;
  const lps = txType === 'cash_out' ? await eligibleLpsForMachine(c, machine.id) : [];
  const rules = await getEffectiveCommissionSplits(c, machine.operator_user_id, machine.id);
  const plan = planSettlement({
    txType,
    wireSats: s.wire_sats,
    feeSats: s.fee_sats,
    fiatAmountCents: parseCents(s.fiat_amount ?? '0'),
    platformFractionPpm: parsePpm(s.platform_fee_fraction ?? '0'),
    operatorFractionPpm: parsePpm(s.operator_fee_fraction ?? '0'),
    superWalletId: config.super_wallet_id,
    lps: lps.map((lp) => ({
      clientId: lp.client_id,
      availableCents: Number(lp.available_cents),
      walletId: lp.dca_wallet_id,
      autoforwardAddress: lp.autoforward_enabled ? lp.autoforward_ln_address : null,
      label: lp.username ?? lp.user_id,
    })),
    rules: rules.map((r) => ({
      target: r.target,
      label: r.label,
      fractionPpm: parsePpm(r.fraction),
      sortOrder: r.sort_order,
    })),
  });
  const ids = new Map(plan.legs.map((l) => [l.key, newId()]));
  const lpWallets = new Map(lps.map((lp) => [lp.client_id, lp.dca_wallet_id]));
  const base = (await maxSortOrder(c, s.id)) + 1;
  await insertLegs(
    c,
    plan.legs.map((l) => toNewLeg(l, ids, s, machine.operator_user_id, machine.wallet_id, lpWallets, base)),
  );
  await setSettlementStatus(c, s.id, 'processing', null);
  return planSummary(c, s.id, machine.distribution_delay_seconds, pageSize);
}

/**
 * Retry: each failed leg is first looked up at the payment backend (an ambiguous
 * failure may have paid after all: then it is completed, never paid again); the
 * rest are voided and replaced by fresh pending legs of the same amounts. Fresh
 * legs pay where the money is meant to go now: the LP's current wallet and
 * Lightning address, the current super wallet; commission targets are kept.
 */
export async function reconcileAndVoidFailedLegs(
  deps: ActivityDeps,
  c: Queryable,
  s: SettlementRow,
  pageSize: number,
): Promise<PlanSummary> {
  const failed = await lockLegsInStatus(c, s.id, 'failed');
  const machine = (await getMachine(c, s.machine_id))!;
  const config = await getSuperConfig(c);
  const destinations = await lpDestinations(
    c,
    failed.map((l) => l.client_id).filter((x): x is string => !!x),
  );
  const replacement = new Map<string, string>();
  const fresh: NewLeg[] = [];
  let order = (await maxSortOrder(c, s.id)) + 1;
  for (const leg of failed) {
    const { paid, inFlight } = await lookupLegPayment(deps.payments, leg.id, c);
    if (inFlight) throw paymentInFlight(leg.id, inFlight, 'retry once it has settled');
    if (paid) {
      await markLegPaid(c, leg.id, paid.paymentHash);
      continue;
    }
    await voidLeg(c, leg.id);
    const lp = leg.client_id ? destinations.get(leg.client_id) : undefined;
    let destinationWallet = leg.destination_wallet_id;
    let destinationAddress = leg.destination_ln_address;
    let source = leg.source_wallet_id ?? machine.wallet_id;
    if (leg.leg_type === 'super_fee') destinationWallet = config.super_wallet_id;
    if (leg.leg_type === 'dca' && lp) destinationWallet = lp.dca_wallet_id;
    if (leg.leg_type === 'autoforward') {
      if (!lp?.autoforward_enabled || !lp.autoforward_ln_address) continue; // forwarding turned off: sats stay with the LP
      destinationAddress = lp.autoforward_ln_address;
      source = lp.dca_wallet_id;
    }
    const id = newId();
    replacement.set(leg.id, id);
    fresh.push({
      id,
      settlement_id: s.id,
      client_id: leg.client_id,
      machine_id: leg.machine_id,
      operator_user_id: leg.operator_user_id,
      leg_type: leg.leg_type,
      label: leg.label,
      source_wallet_id: source,
      destination_wallet_id: destinationWallet,
      destination_ln_address: destinationAddress,
      amount_sats: leg.amount_sats,
      amount_fiat: leg.amount_fiat,
      exchange_rate: leg.exchange_rate,
      transaction_time: leg.transaction_time,
      status: 'pending',
      error_message: null,
      parent_leg_id: leg.parent_leg_id,
      replaces_leg_id: leg.id,
      sort_order: order++,
    });
  }
  for (const leg of fresh) {
    if (leg.parent_leg_id && replacement.has(leg.parent_leg_id))
      leg.parent_leg_id = replacement.get(leg.parent_leg_id)!;
  }
  await insertLegs(c, fresh);
  return planSummary(c, s.id, 0, pageSize);
}
