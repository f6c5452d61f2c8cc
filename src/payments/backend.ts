/**
 * The payment backend: how satmachine moves sats and learns about payments on
 * machine wallets. Two implementations: `ledger` (embedded, PostgreSQL) and
 * `lnbits` (a real LNbits over REST). Nothing outside src/payments branches on which.
 */

export interface PaymentResult {
  /** the Lightning payment hash (internal transfers get a deterministic one) */
  paymentHash: string;
  amountSats: number;
  /** routing fee paid on top, in sats */
  feeSats: number;
}

export interface PayWalletRequest {
  /** exactly-once key: the same key never pays twice */
  idempotencyKey: string;
  fromWalletId: string;
  toWalletId: string;
  amountSats: number;
  memo: string;
  /** see {@link PaymentContext} */
  db?: PaymentContext;
}

export interface PayAddressRequest {
  idempotencyKey: string;
  fromWalletId: string;
  /** LUD-16 name@domain */
  address: string;
  amountSats: number;
  comment: string;
  /** see {@link PaymentContext} */
  db?: PaymentContext;
}

/**
 * The caller's database connection, inside its open transaction (the one holding
 * the leg lock). A backend that keeps its books in the same database (the ledger)
 * does its work on it: the payment commits or rolls back with the leg, and the
 * caller never waits for a second connection while holding one. A backend that
 * pays an outside system (LNbits) must commit its records before paying, so it
 * ignores it.
 */
export type PaymentContext = import('../db/pool').PoolClient;

export interface ObservedPayment {
  wallet_id: string;
  payment_hash: string;
  amount_sats: number;
  direction: 'incoming' | 'outgoing';
}

export interface PaymentObserver {
  stop(): Promise<void>;
}

/** What a leg pays to: a wallet of the backend, or a Lightning address (LUD-16). */
export type DestinationKind = 'wallet' | 'lightning_address';

/**
 * Where paying a destination happens. `database`: one short transaction on the
 * caller's connection, no network (the embedded ledger) — idempotent, quick, safe to
 * run again after a crash. `network`: an outside system is called (LNbits' REST API,
 * LNURL-pay to a Lightning address): it can take seconds to minutes and needs
 * heartbeats. The worker decides from this, in one place, how a leg's payment
 * activity runs (src/activities/legExecution.ts).
 */
export type PaymentVenue = 'database' | 'network';

/** What became of a leg paid in one statement ({@link PaymentBackend.payLegInDatabase}). */
export type LegPaymentOutcome =
  | { kind: 'missing' }
  /** the leg was not pending: nothing was done */
  | {
      kind: 'settled';
      legType: string;
      status: 'completed' | 'failed' | 'voided' | 'skipped';
      paymentHash?: string;
    }
  /** paid now, or found paid under its key, and completed */
  | { kind: 'paid'; legType: string; paymentHash: string }
  /** refused: the leg is untouched and still pending */
  | { kind: 'refused'; legType: string; error: PaymentRefusedError };

export interface PaymentBackend {
  readonly name: string;
  /** Where this backend pays a destination of `kind` (see {@link PaymentVenue}). */
  venueOf(kind: DestinationKind): PaymentVenue;
  payWallet(req: PayWalletRequest): Promise<PaymentResult>;
  payLightningAddress(req: PayAddressRequest): Promise<PaymentResult>;
  /**
   * Optional, for a backend whose books are this PostgreSQL (the ledger): pays a leg
   * whole — lock, checks, transfer under the leg id as key, completion — in one
   * statement, one round trip. payLeg uses it when present; the leg's rules are the same.
   */
  payLegInDatabase?(legId: string): Promise<LegPaymentOutcome>;
  /** What became of the payment made under this key, if any (after an ambiguous failure). */
  /** `db`: the caller's connection, when it holds one (the ledger reads on it instead of taking another) */
  lookupPayment(idempotencyKey: string, db?: import('../db/pool').Queryable): Promise<PaymentResult | null>;
  /**
   * Reports every Lightning payment seen on any wallet, at least once, in order of
   * arrival; `handler` must be idempotent. A payment whose handler throws is retried.
   */
  observePayments(handler: (p: ObservedPayment) => Promise<void>): PaymentObserver;
  close(): Promise<void>;
}

/**
 * The destination refused or can never accept this payment (insufficient funds,
 * unknown wallet, invalid address, amount out of bounds). Retrying the same
 * payment cannot help: the leg fails at once.
 */
export class PaymentRefusedError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
    this.name = 'PaymentRefusedError';
  }
}

/** The outcome is unknown (timeout, connection reset, 5xx): look the payment up before paying again. */
export class PaymentAmbiguousError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PaymentAmbiguousError';
  }
}

/** A leg with no wallet or Lightning address to pay (the same words for every backend). */
export function noDestinationRefusal(legType: string): PaymentRefusedError {
  return new PaymentRefusedError(
    legType === 'super_fee'
      ? 'no destination: the platform has no super_wallet_id configured (set it in the super config, then retry)'
      : 'no destination wallet or Lightning address on this leg',
    'no_destination',
  );
}

/** A leg of 0 sats: nothing can pay it. */
export function zeroAmountRefusal(): PaymentRefusedError {
  return new PaymentRefusedError('a leg of 0 sats cannot be paid', 'zero_amount');
}
