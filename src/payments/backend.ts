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
}

export interface PayAddressRequest {
  idempotencyKey: string;
  fromWalletId: string;
  /** LUD-16 name@domain */
  address: string;
  amountSats: number;
  comment: string;
}

export interface ObservedPayment {
  wallet_id: string;
  payment_hash: string;
  amount_sats: number;
  direction: 'incoming' | 'outgoing';
}

export interface PaymentObserver {
  stop(): Promise<void>;
}

export interface PaymentBackend {
  readonly name: string;
  payWallet(req: PayWalletRequest): Promise<PaymentResult>;
  payLightningAddress(req: PayAddressRequest): Promise<PaymentResult>;
  /** What became of the payment made under this key, if any (after an ambiguous failure). */
  lookupPayment(idempotencyKey: string): Promise<PaymentResult | null>;
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
