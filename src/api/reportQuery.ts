import { z } from 'zod';
import type { Pool } from '../db/pool';
import {
  enrolmentInScope,
  lpInScope,
  machineInScope,
  operatorExists,
  type KeysetPosition,
  type ReportScope,
} from '../db/reports';
import type { AuthedUser } from './auth';
import { badRequest, invalidField, notFound, unprocessable } from './errors';

/** Query parameters shared by the reports: a UTC date range and, for the platform, an operator. */

const DAY_MS = 86_400_000;
const EARLIEST = Date.UTC(2009, 0, 1);
const LATEST = Date.UTC(2100, 0, 1);
export const DEFAULT_SPAN_DAYS = 30;

/** A calendar date or an instant with its zone; never a local time. */
export const utcInstant = z
  .string()
  .max(40)
  .transform((v, ctx) => {
    const m =
      /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?(Z|[+-]\d{2}:\d{2}))?$/.exec(
        v,
      );
    if (!m) {
      ctx.addIssue({
        code: 'custom',
        message: /T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(v)
          ? 'needs its time zone: add Z for UTC (e.g. 2026-12-01T00:00:00Z)'
          : 'must be a UTC date YYYY-MM-DD or an ISO 8601 instant with a zone (e.g. 2026-12-01T00:00:00Z)',
      });
      return z.NEVER;
    }
    const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
    const calendar = new Date(Date.UTC(year, month - 1, day));
    if (calendar.getUTCMonth() !== month - 1 || calendar.getUTCDate() !== day) {
      ctx.addIssue({ code: 'custom', message: `${m[1]}-${m[2]}-${m[3]} is not a calendar date` });
      return z.NEVER;
    }
    const at = m[4] === undefined ? calendar : new Date(v);
    if (
      Number.isNaN(at.getTime()) ||
      Number(m[4] ?? 0) > 23 ||
      Number(m[5] ?? 0) > 59 ||
      Number(m[6] ?? 0) > 59
    ) {
      ctx.addIssue({ code: 'custom', message: 'is not a valid time' });
      return z.NEVER;
    }
    if (at.getTime() < EARLIEST || at.getTime() > LATEST) {
      ctx.addIssue({ code: 'custom', message: 'must be between 2009-01-01 and 2100-01-01' });
      return z.NEVER;
    }
    return at;
  })
  .describe('UTC date YYYY-MM-DD (midnight UTC) or ISO 8601 instant with a zone');

export const rangeQuery = {
  from: utcInstant
    .optional()
    .describe(`start, inclusive (UTC); default: ${DEFAULT_SPAN_DAYS} days before \`to\``),
  to: utcInstant.optional().describe('end, exclusive (UTC); default: now'),
};

export interface ResolvedRange {
  from: Date;
  to: Date;
}

/** The range a report covers: defaults filled, from < to, at most `maxDays` long when given. */
export function resolveRange(q: { from?: Date; to?: Date }, maxDays?: number): ResolvedRange {
  const to = q.to ?? new Date();
  const from = q.from ?? new Date(to.getTime() - DEFAULT_SPAN_DAYS * DAY_MS);
  if (from.getTime() >= to.getTime()) {
    throw invalidField(
      'query.to',
      `to (${to.toISOString()}) must be after from (${from.toISOString()}): the range is [from, to) in UTC`,
    );
  }
  if (maxDays !== undefined && to.getTime() - from.getTime() > maxDays * DAY_MS) {
    throw invalidField(
      'query.from',
      `the range is longer than ${maxDays} days; narrow it, or ask for period=month`,
    );
  }
  return { from, to };
}

/** Keyset cursor of a report page: base64url of [created_at with microseconds, id]. */
export function encodeReportCursor(p: KeysetPosition): string {
  return Buffer.from(JSON.stringify([p.at, p.id])).toString('base64url');
}

export function decodeReportCursor(cursor: string | undefined): KeysetPosition | undefined {
  if (!cursor) return undefined;
  try {
    const [at, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown[];
    if (typeof at !== 'string' || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/.test(at))
      throw new Error();
    if (typeof id !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(id)) throw new Error();
    return { at, id };
  } catch {
    throw badRequest('cursor is not one this API returned; start again without it');
  }
}

/**
 * Whose rows a report reads: an operator its own (asking for another operator is a
 * 404, like any other tenant's resource); the platform every operator, or one.
 */
export async function reportScope(pool: Pool, user: AuthedUser, operatorId?: string): Promise<ReportScope> {
  if (user.role === 'super') {
    if (operatorId === undefined) return { operatorId: null };
    if (!(await operatorExists(pool, operatorId))) throw notFound(`operator ${operatorId}`);
    return { operatorId };
  }
  if (user.role !== 'operator') throw unprocessable('reports are for operator and platform accounts');
  if (operatorId !== undefined && operatorId !== user.id) throw notFound(`operator ${operatorId}`);
  return { operatorId: user.id };
}

/** 404 for a machine, enrolment or LP outside the scope (another tenant's). */
export async function checkInScope(
  pool: Pool,
  scope: ReportScope,
  q: { machine_id?: string; client_id?: string; lp_user_id?: string },
): Promise<void> {
  if (q.machine_id !== undefined && !(await machineInScope(pool, scope, q.machine_id)))
    throw notFound(`machine ${q.machine_id}`);
  if (q.client_id !== undefined && !(await enrolmentInScope(pool, scope, q.client_id)))
    throw notFound(`enrolment ${q.client_id}`);
  if (q.lp_user_id !== undefined && !(await lpInScope(pool, scope, q.lp_user_id)))
    throw notFound(`LP ${q.lp_user_id}`);
}

/** The UTC period starts covering [from, to): days or months. */
export function periodStarts(range: ResolvedRange, period: 'day' | 'month'): Date[] {
  const out: Date[] = [];
  const f = range.from;
  let at =
    period === 'day'
      ? new Date(Date.UTC(f.getUTCFullYear(), f.getUTCMonth(), f.getUTCDate()))
      : new Date(Date.UTC(f.getUTCFullYear(), f.getUTCMonth(), 1));
  while (at.getTime() < range.to.getTime()) {
    out.push(at);
    at =
      period === 'day'
        ? new Date(at.getTime() + DAY_MS)
        : new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth() + 1, 1));
  }
  return out;
}

/** Longest range per period kind, in days (a bounded number of buckets per answer). */
export const MAX_SPAN_DAYS = { day: 400, month: 3700 } as const;
