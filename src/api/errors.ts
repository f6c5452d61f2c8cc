import type { ErrorRequestHandler } from 'express';
import type { z } from 'zod';
import type { Logger } from '../logger';

export interface ErrorBody {
  error: { code: string; message: string; details?: unknown };
}

/** An error the API answers as `{"error": {code, message, details}}` with its HTTP status. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export const notFound = (what: string) => new ApiError(404, 'not_found', `${what} not found`);
export const conflict = (message: string, details?: unknown) =>
  new ApiError(409, 'conflict', message, details);
export const unauthorized = (message: string) => new ApiError(401, 'unauthorized', message);
export const badRequest = (message: string, details?: unknown) =>
  new ApiError(400, 'bad_request', message, details);
export const unprocessable = (message: string, details?: unknown) =>
  new ApiError(422, 'validation_failed', message, details);

/** A 422 about one field, its message the whole answer. */
export const invalidField = (field: string, message: string) => unprocessable(message, [{ field, message }]);

export function fieldErrors(error: z.ZodError, prefix: 'body' | 'query' | 'params') {
  return error.issues.map((i) => ({ field: [prefix, ...i.path].join('.'), message: i.message }));
}

export function errorHandler(log: Logger): ErrorRequestHandler {
  return (err, req, res, _next) => {
    if (err instanceof ApiError) {
      res
        .status(err.status)
        .json({ error: { code: err.code, message: err.message, details: err.details ?? null } });
      return;
    }
    const e = err as { type?: string; status?: number; expose?: boolean; message?: string };
    if (e.type === 'entity.parse.failed') {
      res
        .status(400)
        .json({ error: { code: 'bad_json', message: 'the request body is not valid JSON', details: null } });
      return;
    }
    if (e.type === 'entity.too.large') {
      res
        .status(413)
        .json({ error: { code: 'too_large', message: 'the request body is too large', details: null } });
      return;
    }
    // PostgreSQL refusing a value (SQLSTATE class 22: data exception) is bad input, not a server fault
    const sqlstate = (err as { code?: unknown }).code;
    if (typeof sqlstate === 'string' && /^22[0-9A-Z]{3}$/.test(sqlstate)) {
      // the database's own text names columns, types and values: it stays in the server log
      log.warn(
        { sqlstate, db_message: (err as Error).message, method: req.method, url: req.originalUrl },
        'a value was refused by the database',
      );
      res.status(422).json({
        error: {
          code: 'validation_failed',
          message:
            'a value in the request is out of range or malformed for this field; check the values against the API schema (/api/v1/openapi.json) and send them again',
          details: null,
        },
      });
      return;
    }
    if (e.status && e.status >= 400 && e.status < 500 && e.expose) {
      res
        .status(e.status)
        .json({ error: { code: 'bad_request', message: e.message ?? 'bad request', details: null } });
      return;
    }
    log.error({ err, method: req.method, url: req.originalUrl }, 'unhandled API error');
    res.status(500).json({
      error: {
        code: 'internal',
        message: 'internal error; the details are in the server log',
        details: null,
      },
    });
  };
}
