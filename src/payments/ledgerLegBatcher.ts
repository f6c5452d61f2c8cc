/**
 * Pays the ledger legs a worker has ready at the same moment together: what waits while
 * a payment is in flight goes in the next one, as one statement and one commit
 * (`satmachine.pay_ledger_legs`, migration 0020). Each leg keeps its own payment, its own
 * idempotency key (the leg id) and its own outcome; the legs share a transaction.
 *
 * Nothing waits on a timer: a leg that finds a free slot is paid at once, alone. Only legs
 * that would have queued for the machine wallet's row lock anyway (every leg of a
 * settlement pays from that one row) are gathered, so a fan-out pays one commit per batch,
 * not one per leg.
 *
 * A batch that fails as a whole (one of its legs raised, PostgreSQL went away) is paid
 * again leg by leg, each alone, one after another in its order and within its slot: every
 * leg then gets its own answer or its own error, never a neighbour's.
 */
export interface LegBatchPayer<R> {
  /** pays one leg in its own transaction */
  one(legId: string): Promise<R>;
  /** pays these legs in one transaction: one answer per leg, in order; throws if any raised */
  many(legIds: readonly string[]): Promise<R[]>;
}

export interface LegBatcherOptions {
  /** the most legs in one transaction (its locks are held until its commit) */
  maxBatch: number;
  /** payments (single legs or batches) in flight at once */
  maxInFlight: number;
  /** a batch failed as a whole and is being paid leg by leg */
  onBatchFailed?: (legs: number, err: unknown) => void;
}

interface Waiting<R> {
  legId: string;
  resolve: (r: R) => void;
  reject: (e: unknown) => void;
}

export class LedgerLegBatcher<R> {
  private readonly waiting: Waiting<R>[] = [];
  private inFlight = 0;

  constructor(
    private readonly payer: LegBatchPayer<R>,
    private readonly opts: LegBatcherOptions,
  ) {
    if (!(opts.maxBatch >= 1) || !(opts.maxInFlight >= 1)) {
      throw new Error(`leg batcher needs maxBatch ≥ 1 and maxInFlight ≥ 1, got ${JSON.stringify(opts)}`);
    }
  }

  /** Pays the leg (alone or with others waiting at the same time) and answers its outcome. */
  pay(legId: string): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.waiting.push({ legId, resolve, reject });
      this.startNext();
    });
  }

  /** legs waiting for a slot now (for tests and metrics) */
  get queued(): number {
    return this.waiting.length;
  }

  private startNext(): void {
    while (this.inFlight < this.opts.maxInFlight && this.waiting.length > 0) {
      const batch = this.waiting.splice(0, this.opts.maxBatch);
      this.inFlight++;
      void this.payBatch(batch).finally(() => {
        this.inFlight--;
        this.startNext();
      });
    }
  }

  private async payBatch(batch: Waiting<R>[]): Promise<void> {
    if (batch.length === 1) {
      await this.payAlone(batch[0]!);
      return;
    }
    let rows: R[];
    try {
      rows = await this.payer.many(batch.map((w) => w.legId));
    } catch (err) {
      this.opts.onBatchFailed?.(batch.length, err);
      // one after another, in the batch's order, within this payment's slot
      for (const w of batch) await this.payAlone(w);
      return;
    }
    batch.forEach((w, i) => w.resolve(rows[i]!));
  }

  private async payAlone(w: Waiting<R>): Promise<void> {
    try {
      w.resolve(await this.payer.one(w.legId));
    } catch (err) {
      w.reject(err);
    }
  }
}
