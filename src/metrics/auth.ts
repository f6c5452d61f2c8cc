import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/**
 * Whether a `/metrics` request may read the metrics: always when no token is
 * configured (METRICS_TOKEN unset), else only with `Authorization: Bearer <token>`.
 * Compared in constant time (over SHA-256 digests, so the length leaks nothing either).
 */
export function metricsAuthorized(authorization: string | undefined, token: string | undefined): boolean {
  if (!token) return true;
  const m = /^Bearer (.+)$/i.exec(authorization?.trim() ?? '');
  const given = m ? m[1]!.trim() : '';
  // always one comparison, whether a header came or not
  return timingSafeEqual(digest(given), digest(token)) && given.length > 0;
}

export const METRICS_UNAUTHORIZED_MESSAGE =
  '/metrics needs the header "Authorization: Bearer <METRICS_TOKEN>" (configure your Prometheus scrape job with it)';
