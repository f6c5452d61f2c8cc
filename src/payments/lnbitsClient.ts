/**
 * The LNbits REST API, as much of it as satmachine uses (checked against LNbits
 * 1.6): wallet details, invoices, payments, the payment list and the wallet
 * websocket. Keys travel in the X-Api-Key header only; they never appear in an
 * error message or a log line.
 */

/** One payment as LNbits reports it. Amounts are msat: > 0 incoming, < 0 outgoing. */
export interface LnbitsPayment {
  checking_id?: string;
  payment_hash: string;
  wallet_id: string;
  amount: number;
  fee: number;
  bolt11: string;
  status?: string;
  /** LNbits < 1.0: no `status`, a `pending` flag */
  pending?: boolean;
  memo?: string | null;
  time?: string | number;
  created_at?: string;
  updated_at?: string;
  expiry?: string | null;
  extra?: Record<string, unknown>;
}

export type LnbitsPaymentState = 'success' | 'pending' | 'failed';

export function paymentState(p: LnbitsPayment): LnbitsPaymentState {
  if (p.status === 'success' || p.status === 'pending' || p.status === 'failed') return p.status;
  return p.pending === false ? 'success' : 'pending';
}

/** LNbits timestamps: ISO strings (with or without a zone: UTC) or unix seconds. */
export function lnbitsTime(v: string | number | null | undefined): Date | null {
  if (v === null || v === undefined || v === '') return null;
  if (typeof v === 'number') return new Date(v * 1000);
  const iso = /[zZ]|[+-]\d\d:?\d\d$/.test(v) ? v : `${v}Z`;
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? null : d;
}

/** When LNbits last changed this payment (paid, failed, …). */
export function paymentUpdatedAt(p: LnbitsPayment): Date | null {
  return lnbitsTime(p.updated_at) ?? lnbitsTime(p.time) ?? lnbitsTime(p.created_at);
}

/**
 * LNbits did not answer, or answered with a server error (5xx other than 520): the
 * request may or may not have been carried out.
 */
export class LnbitsUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LnbitsUnavailableError';
  }
}

/**
 * LNbits answered with an error: 4xx, or 520 (its "payment or invoice error", with
 * `status` "failed" when nothing was paid, "pending" when the outcome is open).
 */
export class LnbitsRequestError extends Error {
  constructor(
    readonly status: number,
    readonly detail: string,
    readonly paymentStatus: string | null,
    what: string,
  ) {
    super(`LNbits ${what}: HTTP ${status}: ${detail}`);
    this.name = 'LnbitsRequestError';
  }

  /** LNbits does not know this key (revoked, reset, wrong instance) or it is not strong enough. */
  get isKeyRejected(): boolean {
    return (
      this.status === 401 ||
      this.status === 403 ||
      (this.status === 404 && /wallet not found|no api key|invalid (admin)?key/i.test(this.detail))
    );
  }
}

export interface LnbitsClientOptions {
  /** per request; a payment gets `payTimeoutMs` */
  timeoutMs?: number;
  payTimeoutMs?: number;
}

function detailOf(body: unknown, text: string): string {
  const d = (body as { detail?: unknown } | null)?.detail;
  if (typeof d === 'string') return d.slice(0, 500);
  if (d !== undefined) return JSON.stringify(d).slice(0, 500);
  return text.slice(0, 200) || '(empty body)';
}

export class LnbitsClient {
  readonly baseUrl: string;
  private readonly timeoutMs: number;
  private readonly payTimeoutMs: number;

  constructor(baseUrl: string, opts: LnbitsClientOptions = {}) {
    let url: URL;
    try {
      url = new URL(baseUrl);
    } catch {
      throw new Error(`LNBITS_URL is not a URL: "${baseUrl}"`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new Error(`LNBITS_URL must be http(s)://…, got "${baseUrl}"`);
    }
    this.baseUrl = url.toString().replace(/\/+$/, '');
    this.timeoutMs = opts.timeoutMs ?? 15_000;
    this.payTimeoutMs = opts.payTimeoutMs ?? 45_000;
  }

  /** The websocket LNbits pushes a wallet's payments to (keyed by its invoice key). */
  websocketUrl(invoiceKey: string): string {
    return `${this.baseUrl.replace(/^http/, 'ws')}/api/v1/ws/${encodeURIComponent(invoiceKey)}`;
  }

  private async request<T>(
    what: string,
    method: 'GET' | 'POST',
    path: string,
    key: string,
    body?: unknown,
    timeoutMs = this.timeoutMs,
  ): Promise<T> {
    let res: Response;
    let text: string;
    try {
      res = await fetch(`${this.baseUrl}${path}`, {
        method,
        headers: {
          'X-Api-Key': key,
          accept: 'application/json',
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        redirect: 'manual',
        signal: AbortSignal.timeout(timeoutMs),
      });
      text = await res.text();
    } catch (err) {
      const e = err as Error & { cause?: { code?: string; message?: string } };
      const why =
        e.name === 'TimeoutError' ? `no answer within ${timeoutMs / 1000} s` : (e.cause?.code ?? e.message);
      throw new LnbitsUnavailableError(`LNbits ${what}: ${this.baseUrl} is unreachable (${why})`, {
        cause: err,
      });
    }
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      parsed = null;
    }
    if (res.status >= 200 && res.status < 300) return parsed as T;
    if (res.status >= 300 && res.status < 400) {
      // a fresh LNbits redirects everything to its first-install page
      throw new LnbitsUnavailableError(
        `LNbits ${what}: HTTP ${res.status} redirect to ${res.headers.get('location') ?? '?'} (is its first install finished?)`,
      );
    }
    if (res.status >= 500 && res.status !== 520) {
      throw new LnbitsUnavailableError(`LNbits ${what}: HTTP ${res.status}: ${detailOf(parsed, text)}`);
    }
    const status = (parsed as { status?: unknown } | null)?.status;
    throw new LnbitsRequestError(
      res.status,
      detailOf(parsed, text),
      typeof status === 'string' ? status : null,
      what,
    );
  }

  /** `{id, name, balance}` for an admin key; `{name, balance}` (no id) for an invoice key. Balance in msat. */
  wallet(key: string): Promise<{ id?: string; name: string; balance: number }> {
    return this.request('wallet details', 'GET', '/api/v1/wallet', key);
  }

  createInvoice(
    invoiceKey: string,
    inv: {
      amountSats: number;
      memo: string;
      expirySeconds?: number;
      /** hex of the text whose sha256 becomes the description hash (LNURL-pay) */
      unhashedDescriptionHex?: string;
      extra?: Record<string, unknown>;
    },
  ): Promise<LnbitsPayment> {
    return this.request('create invoice', 'POST', '/api/v1/payments', invoiceKey, {
      out: false,
      amount: inv.amountSats,
      unit: 'sat',
      memo: inv.memo,
      ...(inv.expirySeconds ? { expiry: inv.expirySeconds } : {}),
      ...(inv.unhashedDescriptionHex ? { unhashed_description: inv.unhashedDescriptionHex } : {}),
      ...(inv.extra ? { extra: inv.extra } : {}),
    });
  }

  payInvoice(adminKey: string, bolt11: string, extra?: Record<string, unknown>): Promise<LnbitsPayment> {
    return this.request(
      'pay invoice',
      'POST',
      '/api/v1/payments',
      adminKey,
      { out: true, bolt11, ...(extra ? { extra } : {}) },
      this.payTimeoutMs,
    );
  }

  /** This wallet's payments with this hash (LNbits filters by the key's wallet). */
  async paymentsByHash(key: string, paymentHash: string): Promise<LnbitsPayment[]> {
    const q = new URLSearchParams({ payment_hash: paymentHash, limit: '20' });
    const list = await this.request<LnbitsPayment[]>('payment lookup', 'GET', `/api/v1/payments?${q}`, key);
    // an LNbits that ignores the filter still answers a list: keep only this hash
    return (Array.isArray(list) ? list : []).filter((p) => p.payment_hash === paymentHash);
  }

  /**
   * One payment of the key's wallet by hash, whatever its status (the list above
   * leaves failed ones out). Null when the wallet has none with this hash.
   * LNbits checks no key here: a key it does not know yields an answer without details.
   */
  async paymentDetails(key: string, paymentHash: string): Promise<LnbitsPayment | null> {
    try {
      const r = await this.request<{ details?: LnbitsPayment }>(
        'payment lookup',
        'GET',
        `/api/v1/payments/${encodeURIComponent(paymentHash)}`,
        key,
      );
      return r?.details ?? null;
    } catch (err) {
      if (err instanceof LnbitsRequestError && err.status === 404) return null;
      throw err;
    }
  }

  /** Settled payments of the key's wallet, most recently updated first. */
  async settledPayments(key: string, page: { limit: number; offset: number }): Promise<LnbitsPayment[]> {
    const q = new URLSearchParams({
      status: 'success',
      sortby: 'updated_at',
      direction: 'desc',
      limit: String(page.limit),
      offset: String(page.offset),
    });
    const list = await this.request<LnbitsPayment[]>('payment list', 'GET', `/api/v1/payments?${q}`, key);
    return Array.isArray(list) ? list : [];
  }

  /** The newest payments of the key's wallet, any status. */
  async latestPayments(key: string, limit: number): Promise<LnbitsPayment[]> {
    const q = new URLSearchParams({ limit: String(limit) });
    const list = await this.request<LnbitsPayment[]>('payment list', 'GET', `/api/v1/payments?${q}`, key);
    return Array.isArray(list) ? list : [];
  }
}
