/**
 * LUD-16 Lightning addresses and LNURL-pay (LUD-06): name@domain →
 * https://domain/.well-known/lnurlp/name → bounds and metadata → callback?amount=
 * → a BOLT11 invoice, checked (amount, description hash, expiry) before anything
 * is paid. Plain http only for a local domain (localhost, 127.0.0.1, [::1]), so a
 * test can serve one.
 *
 * The URLs come from whoever typed the address (and the callback from its server), so every
 * request is guarded (SSRF): the host's addresses are resolved once and every one must be
 * public unicast (`addressPolicy.ts`; loopback only with the test-only allowLoopback), the
 * connection goes to a checked address, no redirect is followed, the answer is capped
 * (64 KB) and so is the time (10 s per request, connection to last byte).
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import { decode } from 'light-bolt11-decoder';
import { isLightningAddress, isPaymentHash } from '../domain/validation';
import { checkHost, ForbiddenAddressError, forbiddenAddressReason, guardedLookup } from './addressPolicy';
import { PaymentRefusedError } from './backend';

export interface LnurlOptions {
  /** 127.0.0.0/8 and ::1 may be reached: for tests only (LNURL_ALLOW_LOOPBACK) */
  allowLoopback?: boolean;
  /** the whole request, connection to last byte (default 10 s) */
  timeoutMs?: number;
  /** the largest answer read (default 64 KB) */
  maxBodyBytes?: number;
}

const DEFAULT_TIMEOUT_MS = 10_000;
export const LNURL_MAX_BODY_BYTES = 64 * 1024;

export interface LnurlPayParams {
  address: string;
  callback: URL;
  minSendableMsat: bigint;
  maxSendableMsat: bigint;
  /** the raw metadata string: its sha256 must be the invoice's description hash */
  metadata: string;
  commentAllowed: number;
}

export interface CheckedInvoice {
  bolt11: string;
  paymentHash: string;
  amountMsat: bigint;
  expiresAt: Date;
}

/** The LNURL server did not answer (or answered 5xx): nothing was paid, trying again may work. */
export class LnurlUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LnurlUnavailableError';
  }
}

const LOCAL_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

const refuse = (message: string, code: string) => new PaymentRefusedError(message, code);

export function formatSatsFromMsat(msat: bigint): string {
  return msat % 1000n === 0n ? `${msat / 1000n} sats` : `${msat} msat`;
}

/** The LNURL-pay endpoint of a Lightning address. */
export function lnurlpUrl(address: string): URL {
  const normalized = address.trim().toLowerCase();
  if (!isLightningAddress(normalized)) {
    throw refuse(`"${address}" is not a Lightning address (name@domain)`, 'invalid_address');
  }
  const at = normalized.lastIndexOf('@');
  const name = normalized.slice(0, at);
  const domain = normalized.slice(at + 1);
  const host = domain.replace(/:\d+$/, '');
  const scheme = LOCAL_HOSTS.has(host) ? 'http' : 'https';
  return new URL(`${scheme}://${domain}/.well-known/lnurlp/${encodeURIComponent(name)}`);
}

class BodyTooLargeError extends Error {}
class DeadlineError extends Error {}

/**
 * One guarded GET: the host checked (an IP literal here, a name in the connection's lookup),
 * no redirect followed (a 3xx is returned as it is), the body capped, one deadline for all.
 */
function guardedGet(
  url: URL,
  o: Required<LnurlOptions>,
): Promise<{ status: number; location: string | undefined; text: string }> {
  const policy = { allowLoopback: o.allowLoopback };
  const bare = url.hostname.replace(/^\[|\]$/g, '');
  // an IP literal never reaches a lookup: it is checked here; a name, in the connection's lookup
  const literal = isIP(bare) ? forbiddenAddressReason(bare, policy) : null;
  if (literal) return Promise.reject(new ForbiddenAddressError(bare, bare, literal));
  return new Promise((resolve, reject) => {
    let settled = false;
    const finish = (done: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      done();
    };
    const request = url.protocol === 'https:' ? https.request : http.request;
    const req = request(
      url,
      {
        method: 'GET',
        agent: false,
        lookup: guardedLookup(policy),
        headers: { accept: 'application/json', 'user-agent': 'satmachine' },
      },
      (res) => {
        const status = res.statusCode ?? 0;
        const location = typeof res.headers.location === 'string' ? res.headers.location : undefined;
        if (status >= 300 && status < 400) {
          finish(() => resolve({ status, location, text: '' }));
          req.destroy();
          return;
        }
        const declared = Number(res.headers['content-length'] ?? 0);
        if (declared > o.maxBodyBytes) {
          finish(() => reject(new BodyTooLargeError(`${declared} bytes announced`)));
          req.destroy();
          return;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > o.maxBodyBytes) {
            finish(() => reject(new BodyTooLargeError(`more than ${o.maxBodyBytes} bytes sent`)));
            req.destroy();
          } else chunks.push(chunk);
        });
        res.on('end', () =>
          finish(() => resolve({ status, location, text: Buffer.concat(chunks).toString('utf8') })),
        );
        res.on('error', (err) => finish(() => reject(err)));
        res.on('close', () =>
          finish(() => reject(new Error('the connection closed before the answer ended'))),
        );
      },
    );
    const timer = setTimeout(() => {
      finish(() => reject(new DeadlineError()));
      req.destroy();
    }, o.timeoutMs);
    req.on('error', (err) => finish(() => reject(err)));
    req.end();
  });
}

function withDefaults(opts: LnurlOptions): Required<LnurlOptions> {
  return {
    allowLoopback: opts.allowLoopback ?? false,
    timeoutMs: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    maxBodyBytes: opts.maxBodyBytes ?? LNURL_MAX_BODY_BYTES,
  };
}

async function getJson(url: URL, what: string, opts: LnurlOptions): Promise<Record<string, unknown>> {
  const o = withDefaults(opts);
  let res: Awaited<ReturnType<typeof guardedGet>>;
  try {
    res = await guardedGet(url, o);
  } catch (err) {
    if (err instanceof ForbiddenAddressError) throw refuse(`${what}: ${err.message}`, 'forbidden_address');
    if (err instanceof BodyTooLargeError) {
      throw refuse(
        `${what}: ${url.host} answered more than ${Math.round(o.maxBodyBytes / 1024)} KB (${err.message}); an LNURL answer is far smaller: not paid`,
        'lnurl_response_too_large',
      );
    }
    const e = err as Error & { code?: string };
    const why =
      err instanceof DeadlineError ? `no answer within ${o.timeoutMs / 1000} s` : (e.code ?? e.message);
    throw new LnurlUnavailableError(`${what}: ${url.host} is unreachable (${why})`, { cause: err });
  }
  if (res.status >= 300 && res.status < 400) {
    throw refuse(
      `${what}: ${url.host} answered a redirect (HTTP ${res.status}${res.location ? ` to ${res.location.slice(0, 200)}` : ''}); ` +
        'satmachine follows no redirects (the server of a Lightning address answers itself)',
      'lnurl_redirect',
    );
  }
  if (res.status >= 500) {
    throw new LnurlUnavailableError(`${what}: ${url.host} answered HTTP ${res.status}`);
  }
  let body: unknown;
  try {
    body = JSON.parse(res.text);
  } catch {
    body = null;
  }
  const obj =
    body && typeof body === 'object' && !Array.isArray(body) ? (body as Record<string, unknown>) : null;
  if (res.status === 404)
    throw refuse(`${what}: ${url.host} does not know this address (HTTP 404)`, 'unknown_address');
  if (obj && typeof obj.status === 'string' && obj.status.toUpperCase() === 'ERROR') {
    const reason = typeof obj.reason === 'string' ? obj.reason : 'no reason given';
    throw refuse(`${what}: ${url.host} refused: ${reason.slice(0, 300)}`, 'lnurl_error');
  }
  if (res.status >= 400) throw refuse(`${what}: ${url.host} answered HTTP ${res.status}`, 'lnurl_error');
  if (!obj) throw refuse(`${what}: ${url.host} did not answer LNURL JSON`, 'invalid_lnurl_response');
  return obj;
}

function msatField(obj: Record<string, unknown>, field: string, host: string): bigint {
  const v = obj[field];
  if (
    (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) ||
    (typeof v === 'string' && /^\d{1,20}$/.test(v))
  ) {
    return BigInt(v);
  }
  throw refuse(
    `LNURL-pay of ${host}: ${field} is missing or not a whole number of msat`,
    'invalid_lnurl_response',
  );
}

/**
 * Checked when a Lightning address is saved: what makes it unpayable from here — not
 * name@domain, or a domain that resolves to an address satmachine does not connect to —
 * or null. A domain DNS cannot answer now is not refused (it may be down for a while);
 * paying checks again, on the connection itself.
 */
export async function lightningAddressProblem(
  address: string,
  opts: LnurlOptions = {},
): Promise<string | null> {
  let url: URL;
  try {
    url = lnurlpUrl(address);
  } catch (err) {
    return (err as Error).message;
  }
  try {
    await checkHost(url.hostname, { allowLoopback: opts.allowLoopback ?? false });
  } catch (err) {
    if (err instanceof ForbiddenAddressError) return `Lightning address ${address}: ${err.message}`;
  }
  return null;
}

/** Step 1: the address's pay parameters. */
export async function fetchPayParams(address: string, opts: LnurlOptions = {}): Promise<LnurlPayParams> {
  const url = lnurlpUrl(address);
  const obj = await getJson(url, `Lightning address ${address}`, opts);
  const host = url.host;
  if (obj.tag !== 'payRequest') {
    throw refuse(
      `Lightning address ${address}: ${host} answered no LNURL payRequest`,
      'invalid_lnurl_response',
    );
  }
  let callback: URL;
  try {
    callback = new URL(String(obj.callback));
  } catch {
    throw refuse(`Lightning address ${address}: the callback is not a URL`, 'invalid_lnurl_response');
  }
  const local = LOCAL_HOSTS.has(url.hostname);
  if (
    callback.protocol !== 'https:' &&
    !(local && callback.protocol === 'http:' && LOCAL_HOSTS.has(callback.hostname))
  ) {
    throw refuse(
      `Lightning address ${address}: the callback must be https (got ${callback.protocol})`,
      'invalid_lnurl_response',
    );
  }
  if (typeof obj.metadata !== 'string' || !obj.metadata) {
    throw refuse(`Lightning address ${address}: no metadata`, 'invalid_lnurl_response');
  }
  const min = msatField(obj, 'minSendable', host);
  const max = msatField(obj, 'maxSendable', host);
  if (min > max)
    throw refuse(`Lightning address ${address}: minSendable > maxSendable`, 'invalid_lnurl_response');
  const commentAllowed =
    typeof obj.commentAllowed === 'number' && obj.commentAllowed > 0 ? Math.floor(obj.commentAllowed) : 0;
  return {
    address,
    callback,
    minSendableMsat: min,
    maxSendableMsat: max,
    metadata: obj.metadata,
    commentAllowed,
  };
}

/** Refuses an amount outside the address's bounds (before asking for an invoice). */
export function checkBounds(params: LnurlPayParams, amountMsat: bigint): void {
  if (amountMsat < params.minSendableMsat || amountMsat > params.maxSendableMsat) {
    throw refuse(
      `Lightning address ${params.address} accepts ${formatSatsFromMsat(params.minSendableMsat)} to ` +
        `${formatSatsFromMsat(params.maxSendableMsat)}, not ${formatSatsFromMsat(amountMsat)}`,
      'amount_out_of_bounds',
    );
  }
}

/** Step 2: the callback's invoice for this amount (unchecked). */
export async function requestInvoice(
  params: LnurlPayParams,
  amountMsat: bigint,
  comment: string,
  opts: LnurlOptions = {},
): Promise<string> {
  const url = new URL(params.callback);
  url.searchParams.set('amount', amountMsat.toString());
  if (params.commentAllowed > 0 && comment)
    url.searchParams.set('comment', comment.slice(0, params.commentAllowed));
  const obj = await getJson(url, `LNURL-pay callback of ${params.address}`, opts);
  if (typeof obj.pr !== 'string' || !obj.pr) {
    throw refuse(
      `LNURL-pay callback of ${params.address} returned no invoice (pr)`,
      'invalid_lnurl_response',
    );
  }
  return obj.pr.trim();
}

/**
 * Step 3, before paying: the invoice is for exactly the amount asked, commits to the
 * address's metadata (description hash = sha256(metadata)) and has not expired.
 */
export function checkInvoice(
  params: LnurlPayParams,
  bolt11: string,
  amountMsat: bigint,
  now = new Date(),
): CheckedInvoice {
  const who = `the invoice from ${params.address}`;
  let sections: { name: string; value?: unknown }[];
  try {
    sections = decode(bolt11).sections;
  } catch (err) {
    throw refuse(`${who} is not a valid BOLT11 invoice (${(err as Error).message})`, 'invalid_invoice');
  }
  const get = (name: string) => sections.find((s) => s.name === name)?.value;
  const amount = get('amount');
  if (typeof amount !== 'string' || !/^\d+$/.test(amount)) {
    throw refuse(`${who} has no amount`, 'wrong_invoice_amount');
  }
  const invoiceMsat = BigInt(amount);
  if (invoiceMsat !== amountMsat) {
    throw refuse(
      `${who} is for ${formatSatsFromMsat(invoiceMsat)}, not the ${formatSatsFromMsat(amountMsat)} asked: not paid`,
      'wrong_invoice_amount',
    );
  }
  const expected = createHash('sha256').update(params.metadata, 'utf8').digest('hex');
  const descriptionHash = get('description_hash');
  if (typeof descriptionHash !== 'string' || descriptionHash.toLowerCase() !== expected) {
    throw refuse(
      `${who} does not commit to the address's metadata (description hash ${typeof descriptionHash === 'string' ? descriptionHash.slice(0, 16) + '…' : 'missing'}, expected ${expected.slice(0, 16)}…): not paid`,
      'wrong_description_hash',
    );
  }
  const paymentHash = get('payment_hash');
  if (typeof paymentHash !== 'string' || !isPaymentHash(paymentHash)) {
    throw refuse(`${who} has no valid payment hash`, 'invalid_invoice');
  }
  const timestamp = get('timestamp');
  const expiry = get('expiry');
  const seconds =
    (typeof timestamp === 'number' ? timestamp : 0) + (typeof expiry === 'number' ? expiry : 3600);
  const expiresAt = new Date(seconds * 1000);
  if (expiresAt.getTime() <= now.getTime()) {
    throw refuse(`${who} has already expired`, 'invoice_expired');
  }
  return { bolt11, paymentHash, amountMsat: invoiceMsat, expiresAt };
}
