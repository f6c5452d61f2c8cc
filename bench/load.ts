/**
 * Open-loop load: every item has a scheduled send time (t0 + i / rate) fixed before the
 * run, and every latency is measured from that time, not from when the sender got round
 * to it, so a sender or a stack that falls behind shows up in the figure (no coordinated
 * omission). Events are signed and encrypted before the clock starts.
 */
import { randomBytes } from 'node:crypto';
import { Agent, request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@temporalio/client';
import { buildSettlementEvent } from '../src/nostr/codec';
import type { SignedEvent } from '../src/contract';
import { RelayClient } from '../src/nostr/relayClient';
import type { Logger } from '../src/logger';
import type { Pool } from '../src/db/pool';
import type { EngineShape } from './engine/workflow';
import type { SeededMachine, SeededOperator } from './seed';

export interface Sent {
  payment_hash: string;
  scheduled_at: number;
  /** when the sender actually started this item (lag = started_at - scheduled_at) */
  started_at: number;
  /** when the later of the two signals was accepted (relay OK / API 2xx; both signalWithStart calls) */
  second_signal_at: number;
  error?: string;
}

export interface Done extends Sent {
  done_at: number | null;
}

const agent = new Agent({ keepAlive: true, maxSockets: 64 });

/** A JSON request over a keep-alive agent; resolves with the status and body. */
export function httpJson(
  url: string,
  method: 'GET' | 'POST',
  headers: Record<string, string>,
  body?: unknown,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      url,
      {
        method,
        agent,
        headers: { ...headers, ...(data ? { 'content-type': 'application/json' } : {}) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (data) req.write(data);
    req.end();
  });
}

/** Wall-clock ms with sub-millisecond resolution (comparable with PostgreSQL and Temporal times). */
export const now = (): number => performance.timeOrigin + performance.now();

/** Runs `fire(i)` for i < n at t0 + i * 1000 / rate; resolves when every fire has settled. */
export async function openLoop(
  n: number,
  rate: number,
  fire: (i: number, scheduledAt: number) => Promise<void>,
) {
  const t0 = now() + 50;
  const all: Promise<void>[] = [];
  for (let i = 0; i < n; i++) {
    const due = t0 + (i * 1000) / rate;
    const wait = due - now();
    if (wait > 1) await sleep(wait);
    all.push(fire(i, due));
  }
  await Promise.all(all);
  return t0;
}

interface Prepared {
  hash: string;
  event: SignedEvent;
  payment: Record<string, unknown>;
}

/** A fleet of simulated ATMs: cash-outs of $20–30 round-robin over the machines. */
export class SettlementLoad {
  private relay: RelayClient | null = null;
  private n = 0;

  constructor(
    private readonly o: {
      apiUrl: string;
      relayUrl: string;
      superKey: string;
      operator: SeededOperator;
      machines: SeededMachine[];
      pool: Pool;
      logger: Logger;
    },
  ) {}

  async open(): Promise<void> {
    this.relay = new RelayClient(this.o.relayUrl, { logger: this.o.logger }).start();
    await this.relay.waitConnected(15_000);
  }

  close(): void {
    this.relay?.close();
  }

  private prepare(count: number): Prepared[] {
    return Array.from({ length: count }, () => {
      const i = this.n++;
      const m = this.o.machines[i % this.o.machines.length]!;
      const fiatCents = 2_000 + ((i * 7919) % 1_001);
      const wire = Math.floor((fiatCents * 1500) / 100);
      const fee = Number((BigInt(wire) * 50_000n) / 1_050_000n);
      const hash = randomBytes(32).toString('hex');
      const event = buildSettlementEvent(m.secretHex, this.o.operator.pubkey, {
        v: 1,
        txid: `bench-${hash.slice(0, 12)}`,
        tx_type: 'cash_out',
        payment_hash: hash,
        wire_sats: wire,
        fiat_amount: (fiatCents / 100).toFixed(2),
        fiat_code: 'USD',
        exchange_rate: '1500',
        fee_sats: fee,
        bills: [],
        cassettes: {},
      });
      return {
        hash,
        event,
        payment: { wallet_id: m.walletId, payment_hash: hash, amount_sats: wire, direction: 'incoming' },
      };
    });
  }

  /** Sends `count` settlements at `rate`/s (event and payment at once, as an ATM does). */
  async send(count: number, rate: number): Promise<Sent[]> {
    const items = this.prepare(count);
    const sent: Sent[] = [];
    const relay = this.relay!;
    await openLoop(count, rate, async (i, due) => {
      const it = items[i]!;
      const s: Sent = { payment_hash: it.hash, scheduled_at: due, started_at: now(), second_signal_at: 0 };
      sent.push(s);
      try {
        const [pub, pay] = await Promise.all([
          relay.publish(it.event, 30_000).then((r) => ({ r, at: now() })),
          httpJson(
            `${this.o.apiUrl}/api/v1/ledger/payments`,
            'POST',
            { authorization: `Bearer ${this.o.superKey}` },
            it.payment,
          ).then((r) => ({ r, at: now() })),
        ]);
        s.second_signal_at = Math.max(pub.at, pay.at);
        if (!pub.r.accepted) s.error = `relay refused the event: ${pub.r.message}`;
        if (pay.r.status >= 300) s.error = `payment report ${pay.r.status}: ${pay.r.body.slice(0, 200)}`;
      } catch (err) {
        s.error = (err as Error).message;
        s.second_signal_at = now();
      }
    });
    return sent;
  }

  /** Waits until every sent settlement is processed (or `timeoutMs` passed); done_at = processed_at. */
  async awaitProcessed(sent: Sent[], timeoutMs: number): Promise<Done[]> {
    const hashes = sent.map((s) => s.payment_hash);
    const deadline = now() + timeoutMs;
    let rows: { payment_hash: string; processed_at: Date | null }[];
    for (;;) {
      rows = (
        await this.o.pool.query<{ payment_hash: string; processed_at: Date | null }>(
          `SELECT payment_hash, processed_at FROM satmachine.dca_settlements
            WHERE payment_hash = ANY($1) AND status = 'processed'`,
          [hashes],
        )
      ).rows;
      if (rows.length >= hashes.length || now() > deadline) break;
      await sleep(250);
    }
    const at = new Map(rows.map((r) => [r.payment_hash, r.processed_at?.getTime() ?? null]));
    return sent.map((s) => ({ ...s, done_at: at.get(s.payment_hash) ?? null }));
  }
}

/** The engine baseline's load: two signalWithStart per workflow at the scheduled time. */
export class EngineLoad {
  private n = 0;

  constructor(
    private readonly client: Client,
    private readonly taskQueue: string,
  ) {}

  async send(count: number, rate: number, shape: EngineShape): Promise<Sent[]> {
    const sent: Sent[] = [];
    const run = randomBytes(4).toString('hex');
    await openLoop(count, rate, async (_i, due) => {
      const id = `engine-${run}-${this.n++}`;
      const s: Sent = { payment_hash: id, scheduled_at: due, started_at: now(), second_signal_at: 0 };
      sent.push(s);
      const signal = (what: string) =>
        // by name: the workflow module is for the workflow bundle, not for this process
        this.client.workflow.signalWithStart('engineSettlement', {
          workflowId: id,
          taskQueue: this.taskQueue,
          args: [shape],
          signal: 'engineSignal',
          signalArgs: [what],
        });
      try {
        await Promise.all([signal('event'), signal('payment')]);
      } catch (err) {
        s.error = (err as Error).message;
      }
      s.second_signal_at = now();
    });
    return sent;
  }

  /** Waits for every workflow to close; done_at = its close time on the server. */
  async awaitClosed(sent: Sent[], timeoutMs: number): Promise<Done[]> {
    const deadline = now() + timeoutMs;
    const out: Done[] = [];
    for (let i = 0; i < sent.length; i += 50) {
      out.push(
        ...(await Promise.all(
          sent.slice(i, i + 50).map(async (s) => {
            const h = this.client.workflow.getHandle(s.payment_hash);
            for (;;) {
              const d = await h.describe();
              if (d.closeTime) return { ...s, done_at: d.closeTime.getTime() };
              if (now() > deadline) return { ...s, done_at: null };
              await sleep(250);
            }
          }),
        )),
      );
    }
    return out;
  }
}
