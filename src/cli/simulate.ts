import { randomBytes } from 'node:crypto';
import { buildSettlementEvent } from '../nostr/codec';
import { RelayClient, type PublishResult } from '../nostr/relayClient';
import type { Logger } from '../logger';

export interface SimulationOptions {
  apiUrl: string;
  /** a super user's key: reports the machine's Lightning payments to the ledger */
  apiKey: string;
  relays: string[];
  machineSecretHex: string;
  operatorPubkeyHex: string;
  machineWalletId: string;
  count: number;
  /** settlements started per second (open loop: on a clock, not after the previous one) */
  rate: number;
  txType: 'cash_out' | 'cash_in' | 'mixed';
  fiatCode: string;
  /** fiat per settlement, in cents (a range picks uniformly) */
  fiatCents: [number, number];
  /** sats per fiat unit */
  satsPerUnit: number;
  /** the fee the ATM charges, as a fraction of the principal (platform + operator fractions, to match) */
  feeFraction: number;
  /** which half reaches satmachine first */
  order: 'event-first' | 'payment-first' | 'together';
  logger: Logger;
  onProgress?: (done: number, total: number) => void;
  /** called for each settlement once its event and payment are out */
  onSent?: (s: SimulatedSettlement) => void;
  /**
   * Decides settlement `i` (machine, type, amount, bills) instead of the fixed machine and
   * `txType`/`fiatCents` above: the demo's fleet uses it (src/cli/demoScenario.ts).
   */
  plan?: (i: number) => SettlementPlanOverride;
}

/** One settlement as a scenario decides it. */
export interface SettlementPlanOverride {
  machineSecretHex: string;
  machineWalletId: string;
  txType: 'cash_out' | 'cash_in';
  fiatCents: number;
  /** cash-in: the bills inserted */
  bills?: { denomination: number; count: number }[];
  /** cash-out: every cassette position's count after the dispense */
  cassettes?: Record<string, { denomination: number; count: number }>;
}

export interface SimulatedSettlement {
  /** its place in the run (settlements finish out of order) */
  index: number;
  payment_hash: string;
  tx_type: 'cash_out' | 'cash_in';
  wire_sats: number;
  fee_sats: number;
  fiat_cents: number;
  published_at: number;
  event_accepted_by: number;
}

export interface SimulationResult {
  settlements: SimulatedSettlement[];
  errors: string[];
  elapsed_ms: number;
}

function pick(range: [number, number], i: number): number {
  return range[0] + ((i * 7919) % (range[1] - range[0] + 1));
}

/**
 * Acts as an ATM: for each settlement, signs and publishes an encrypted kind-21000
 * event to the relays and reports the matching Lightning payment to the ledger
 * (incoming to the machine wallet for cash-out, outgoing for cash-in).
 */
export async function runSimulation(o: SimulationOptions): Promise<SimulationResult> {
  const relays = o.relays.map((url) => new RelayClient(url, { logger: o.logger }).start());
  await Promise.all(relays.map((r) => r.waitConnected(15_000)));
  const started = Date.now();
  const settlements: SimulatedSettlement[] = [];
  const errors: string[] = [];
  let done = 0;

  const reportPayment = async (body: Record<string, unknown>) => {
    for (let attempt = 1; ; attempt++) {
      const res = await fetch(`${o.apiUrl}/api/v1/ledger/payments`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${o.apiKey}` },
        body: JSON.stringify(body),
      }).catch((err: Error) => ({ ok: false, status: 0, text: async () => err.message }) as const);
      if (res.ok) return;
      const text = await res.text();
      if (attempt >= 5 || (res.status >= 400 && res.status < 500))
        throw new Error(`payment report failed: ${res.status} ${text}`);
      await new Promise((r) => setTimeout(r, 200 * attempt));
    }
  };

  const one = async (i: number) => {
    const planned = o.plan?.(i);
    const txType =
      planned?.txType ?? (o.txType === 'mixed' ? (i % 3 === 2 ? 'cash_in' : 'cash_out') : o.txType);
    const fiatCents = planned?.fiatCents ?? pick(o.fiatCents, i);
    const machineSecretHex = planned?.machineSecretHex ?? o.machineSecretHex;
    const machineWalletId = planned?.machineWalletId ?? o.machineWalletId;
    const wire = Math.max(1, Math.floor((fiatCents * o.satsPerUnit) / 100));
    // the fee is a fraction of the principal, as satmachine computes it (cash-out: wire = P + fee)
    const ppm = BigInt(Math.round(o.feeFraction * 1_000_000));
    const fee = Number(
      txType === 'cash_out' ? (BigInt(wire) * ppm) / (1_000_000n + ppm) : (BigInt(wire) * ppm) / 1_000_000n,
    );
    const paymentHash = randomBytes(32).toString('hex');
    const content = {
      v: 1,
      txid: `sim-${paymentHash.slice(0, 12)}`,
      tx_type: txType,
      payment_hash: paymentHash,
      wire_sats: wire,
      fiat_amount: (fiatCents / 100).toFixed(2),
      fiat_code: o.fiatCode,
      exchange_rate: String(o.satsPerUnit),
      fee_sats: fee,
      bills:
        planned?.bills ??
        (txType === 'cash_in'
          ? [{ denomination: 20, count: Math.max(1, Math.floor(fiatCents / 2000)) }]
          : []),
      cassettes: planned?.cassettes ?? {},
    };
    const event = buildSettlementEvent(machineSecretHex, o.operatorPubkeyHex, content);
    const publish = async (): Promise<PublishResult[]> => Promise.all(relays.map((r) => r.publish(event)));
    const pay = () =>
      reportPayment({
        wallet_id: machineWalletId,
        payment_hash: paymentHash,
        amount_sats: wire,
        direction: txType === 'cash_out' ? 'incoming' : 'outgoing',
      });
    const publishedAt = Date.now();
    let results: PublishResult[] = [];
    try {
      if (o.order === 'event-first') {
        results = await publish();
        await pay();
      } else if (o.order === 'payment-first') {
        await pay();
        results = await publish();
      } else {
        [results] = await Promise.all([publish(), pay()]);
      }
    } catch (err) {
      errors.push(`${paymentHash}: ${(err as Error).message}`);
    }
    const accepted = results.filter((r) => r.accepted).length;
    if (results.length && !accepted)
      errors.push(
        `${paymentHash}: no relay accepted the event (${results.map((r) => r.message).join('; ')})`,
      );
    const s: SimulatedSettlement = {
      index: i,
      payment_hash: paymentHash,
      tx_type: txType,
      wire_sats: wire,
      fee_sats: fee,
      fiat_cents: fiatCents,
      published_at: publishedAt,
      event_accepted_by: accepted,
    };
    settlements.push(s);
    o.onSent?.(s);
    o.onProgress?.(++done, o.count);
  };

  const inflight: Promise<void>[] = [];
  for (let i = 0; i < o.count; i++) {
    const due = started + (i * 1000) / o.rate;
    const wait = due - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    inflight.push(one(i));
  }
  await Promise.all(inflight);
  for (const r of relays) r.close();
  return { settlements, errors, elapsed_ms: Date.now() - started };
}
