/**
 * Alert webhooks are URLs an operator types: attacker input. The same outbound policy
 * as Lightning addresses (./addressPolicy): public unicast addresses only, checked on
 * the addresses DNS answers and used for the connection (no rebinding), no redirect
 * followed, a capped answer, one deadline. Loopback only with WEBHOOK_ALLOW_LOOPBACK
 * (tests).
 */
import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import {
  checkHost,
  ForbiddenAddressError,
  forbiddenAddressReason,
  guardedLookup,
  type AddressPolicy,
} from './addressPolicy';

export const WEBHOOK_MAX_URL_LENGTH = 2000;

/** Why this text is not an acceptable webhook URL (syntax only), or null. */
export function webhookUrlSyntaxProblem(raw: string): string | null {
  if (raw.length > WEBHOOK_MAX_URL_LENGTH) return `at most ${WEBHOOK_MAX_URL_LENGTH} characters`;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'not an absolute URL (e.g. https://hooks.example.com/satmachine)';
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return 'must be an http:// or https:// URL';
  if (url.username || url.password) return 'must not carry credentials (the signature authenticates us)';
  if (url.hash) return 'must not have a #fragment';
  return null;
}

/**
 * Why satmachine will not call this URL (syntax, or a host that is or resolves to a
 * forbidden address), or null. A name DNS cannot resolve is refused too: the operator
 * fixes it and adds the webhook again.
 */
export async function webhookUrlProblem(raw: string, policy: AddressPolicy): Promise<string | null> {
  const syntax = webhookUrlSyntaxProblem(raw);
  if (syntax) return syntax;
  const host = new URL(raw).hostname;
  try {
    await checkHost(host, policy);
    return null;
  } catch (err) {
    if (err instanceof ForbiddenAddressError)
      return `${err.message.replace('for Lightning addresses', 'for webhooks')}`;
    return `cannot resolve ${host} (${(err as { code?: string }).code ?? (err as Error).message}); check the host name`;
  }
}

export interface PostResult {
  status: number;
  /** the first bytes of the answer (diagnostics) */
  text: string;
}

/**
 * POSTs `body` once to `raw` under `policy`. Rejects with ForbiddenAddressError when
 * the host is (or resolves to) a forbidden address, with an Error on timeout or a
 * network failure; answers every HTTP status (a 3xx is not followed).
 */
export function guardedPost(
  raw: string,
  body: string,
  headers: Record<string, string>,
  policy: AddressPolicy,
  timeoutMs = 10_000,
  maxAnswerBytes = 4096,
): Promise<PostResult> {
  const url = new URL(raw);
  const bare = url.hostname.replace(/^\[|\]$/g, '');
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
    const send = url.protocol === 'https:' ? https.request : http.request;
    const req = send(
      url,
      {
        method: 'POST',
        agent: false,
        lookup: guardedLookup(policy),
        headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
      },
      (res) => {
        const status = res.statusCode ?? 0;
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          if (size < maxAnswerBytes) chunks.push(chunk);
          size += chunk.length;
          if (size > 64 * 1024) {
            finish(() =>
              resolve({ status, text: Buffer.concat(chunks).toString('utf8').slice(0, maxAnswerBytes) }),
            );
            req.destroy();
          }
        });
        res.on('end', () =>
          finish(() =>
            resolve({ status, text: Buffer.concat(chunks).toString('utf8').slice(0, maxAnswerBytes) }),
          ),
        );
        res.on('error', (err) => finish(() => reject(err)));
        res.on('close', () => finish(() => resolve({ status, text: '' })));
      },
    );
    const timer = setTimeout(() => {
      finish(() => reject(new Error(`no answer within ${timeoutMs / 1000} s`)));
      req.destroy();
    }, timeoutMs);
    req.on('error', (err) => finish(() => reject(err)));
    req.end(body);
  });
}
