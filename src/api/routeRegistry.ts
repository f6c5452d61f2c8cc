import type { NextFunction, Request, RequestHandler, Response, Router } from 'express';
import { type z } from 'zod';
import { fieldErrors, unprocessable, badRequest } from './errors';
import type { AuthedUser } from './auth';
import type { Role } from '../db/users';

export type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';

export interface RouteSpec<P extends z.ZodType, Q extends z.ZodType, B extends z.ZodType> {
  method: Method;
  /** express path, e.g. /machines/:id */
  path: string;
  /**
   * The OpenAPI operationId: stable, unique, camelCase (verb + noun, e.g. listMachines).
   * Generated clients name their methods after it, so renaming one breaks integrators.
   */
  operationId: string;
  summary: string;
  tag: string;
  /** roles allowed; 'public' for no auth */
  auth: readonly Role[] | 'public' | 'any';
  params?: P;
  query?: Q;
  body?: B;
  /** documentation of the success response */
  response?: z.ZodType;
  status?: number;
  produces?: string;
}

export interface Ctx<P, Q, B> {
  params: P;
  query: Q;
  body: B;
  user: AuthedUser;
  req: Request;
  res: Response;
}

export interface DocumentedRoute {
  spec: RouteSpec<z.ZodType, z.ZodType, z.ZodType>;
}

/**
 * Declares a route once: the same zod schemas validate the request and generate
 * the OpenAPI document. The handler's return value is sent as JSON (undefined →
 * nothing sent: the handler answered itself).
 */
export class RouteRegistry {
  readonly routes: DocumentedRoute[] = [];

  constructor(
    private readonly router: Router,
    private readonly authenticate: (
      roles: RouteSpec<z.ZodType, z.ZodType, z.ZodType>['auth'],
    ) => RequestHandler,
    private readonly prefix: string,
  ) {}

  add<
    P extends z.ZodType = z.ZodObject<{}>,
    Q extends z.ZodType = z.ZodObject<{}>,
    B extends z.ZodType = z.ZodUnknown,
  >(
    spec: RouteSpec<P, Q, B>,
    handler: (ctx: Ctx<z.output<P>, z.output<Q>, z.output<B>>) => Promise<unknown>,
  ): void {
    this.routes.push({ spec: spec });
    const run = async (req: Request, res: Response, next: NextFunction) => {
      try {
        const params = spec.params ? parse(spec.params, req.params, 'params') : {};
        const query = spec.query ? parse(spec.query, req.query, 'query') : {};
        let body: unknown = undefined;
        if (spec.body) {
          if (req.body === undefined) {
            // no body at all: accepted only where the route declares its body optional (an action
            // like retry); a body that was sent but is not JSON is always refused
            const sent =
              Number(req.get('content-length') ?? 0) > 0 || req.get('transfer-encoding') !== undefined;
            const none = sent ? null : spec.body.safeParse(undefined);
            if (!none?.success) throw badRequest('a JSON body is required (Content-Type: application/json)');
            body = none.data;
          } else body = parse(spec.body, req.body, 'body');
        }
        const result = await handler({
          params: params as z.output<P>,
          query: query as z.output<Q>,
          body: body as z.output<B>,
          user: res.locals.user as AuthedUser,
          req,
          res,
        });
        // a handler may choose another success status through res.locals.status
        const status = (res.locals.status as number | undefined) ?? spec.status;
        if (result !== undefined && !res.headersSent) res.status(status ?? 200).json(result);
        else if (!res.headersSent) res.status(status ?? 204).end();
      } catch (err) {
        next(err);
      }
    };
    this.router[spec.method](spec.path, this.authenticate(spec.auth), run);
  }

  get basePath(): string {
    return this.prefix;
  }
}

/** Path of the first string holding a NUL character (PostgreSQL text cannot store it), or null. */
function nulPath(value: unknown, path: (string | number)[] = [], depth = 0): (string | number)[] | null {
  if (typeof value === 'string') return value.includes('\u0000') ? path : null;
  if (depth > 64 || value === null || typeof value !== 'object') return null;
  for (const [k, v] of Object.entries(value)) {
    if (k.includes('\u0000')) return [...path, k];
    const found = nulPath(v, [...path, Array.isArray(value) ? Number(k) : k], depth + 1);
    if (found) return found;
  }
  return null;
}

function parse<T extends z.ZodType>(
  schema: T,
  value: unknown,
  where: 'body' | 'query' | 'params',
): z.output<T> {
  const nul = nulPath(value);
  if (nul) {
    const field = [where, ...nul].join('.');
    throw unprocessable(`invalid ${where}: ${field}: must not contain NUL characters`, [
      { field, message: 'must not contain NUL characters' },
    ]);
  }
  const r = schema.safeParse(value);
  if (!r.success) {
    const details = fieldErrors(r.error, where);
    throw unprocessable(
      `invalid ${where}: ${details.map((d) => `${d.field}: ${d.message}`).join('; ')}`,
      details,
    );
  }
  return r.data;
}
