// The console's API client: openapi-fetch typed by schema.d.ts, which is generated
// from the API's own OpenAPI document (scripts/export-openapi.ts), so a route change
// the console does not follow fails the type-check.
import createClient, { type Middleware } from 'openapi-fetch';
import { apiKey } from '../session';
import type { paths } from './schema';

export type { paths };

type JsonOf<R> = R extends { content: { 'application/json': infer T } } ? T : never;
type Success<Op> = Op extends { responses: infer Rs } ? JsonOf<Rs[Extract<keyof Rs, 200 | 201>]> : never;
type BodyOf<Op> = Op extends { requestBody?: { content: { 'application/json': infer B } } } ? B : never;

/** What a GET of this path answers. */
export type GetResult<P extends keyof paths> = paths[P] extends { get: infer Op } ? Success<Op> : never;
/** What a POST / PUT / PATCH of this path answers. */
export type PostResult<P extends keyof paths> = paths[P] extends { post: infer Op } ? Success<Op> : never;
export type PutBody<P extends keyof paths> = paths[P] extends { put: infer Op } ? BodyOf<Op> : never;
export type PatchBody<P extends keyof paths> = paths[P] extends { patch: infer Op } ? BodyOf<Op> : never;

export type Me = GetResult<'/api/v1/me'>;
export type Role = Me['role'];
export type Machine = GetResult<'/api/v1/machines'>[number];
export type Settlement = GetResult<'/api/v1/settlements'>['items'][number];
export type SettlementDetail = GetResult<'/api/v1/settlements/{id}'>;
export type Leg = SettlementDetail['legs'][number];
export type Worklist = GetResult<'/api/v1/settlements/worklist'>;
export type ActionAnswer = PostResult<'/api/v1/settlements/{id}/retry'>;
export type Client = GetResult<'/api/v1/clients'>[number];
export type Balance = GetResult<'/api/v1/clients/{id}/balance'>;
export type Deposit = GetResult<'/api/v1/deposits'>[number];
export type MachineBody = NonNullable<
  paths['/api/v1/machines']['post']['requestBody']
>['content']['application/json'];
export type MachinePatch = PatchBody<'/api/v1/machines/{id}'>;
export type Splits = GetResult<'/api/v1/commission-splits'>;
export type SplitLegInput = PutBody<'/api/v1/commission-splits'>['legs'][number];
export type Cassettes = GetResult<'/api/v1/machines/{id}/cassettes'>;
export type Cassette = Cassettes['positions'][number];
export type PublishAnswer = PostResult<'/api/v1/machines/{id}/cassettes/publish'>;
export type Telemetry = GetResult<'/api/v1/machines/{id}/telemetry'>;
export type LpBalance = GetResult<'/api/v1/lp/balances'>[number];
export type LpEnrolment = GetResult<'/api/v1/lp/enrolments'>[number];
export type LpSummary = GetResult<'/api/v1/lp/summary'>;
export type Payout = GetResult<'/api/v1/lp/payments'>['items'][number];
export type Preferences = GetResult<'/api/v1/lp/preferences'>;
export type PreferencesBody = PutBody<'/api/v1/lp/preferences'>;
export type SuperConfig = GetResult<'/api/v1/super/config'>;
export type SuperConfigBody = PatchBody<'/api/v1/super/config'>;
export type User = GetResult<'/api/v1/super/users'>[number];
export type NewUser = PostResult<'/api/v1/super/users'>;

/** An API answer that is not a success, in the API's own words (`{"error": {code, message, details}}`). */
export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: unknown = null,
  ) {
    super(message);
    this.name = 'ApiFailure';
  }

  /** Field errors of a 422, keyed by field name without the `body.` / `query.` prefix. */
  fieldErrors(): Record<string, string> {
    const out: Record<string, string> = {};
    if (!Array.isArray(this.details)) return out;
    for (const d of this.details as { field?: unknown; message?: unknown }[]) {
      if (typeof d?.field !== 'string' || typeof d.message !== 'string') continue;
      const key = d.field.replace(/^(body|query|params)\.?/, '');
      const message = fieldMessage(d.message);
      out[key] = out[key] ? `${out[key]}; ${message}` : message;
    }
    return out;
  }
}

/**
 * A field message as the API words it, without a doubled leading word: some API
 * messages already start with the field's noun and get it prefixed again
 * ("fraction fraction must be a decimal number" → "fraction must be a decimal number").
 */
export function fieldMessage(message: string): string {
  return message.replace(/^(\w+) \1\b/i, '$1');
}

type Listener = (failure: ApiFailure) => void;
const unauthorizedListeners = new Set<Listener>();

/** Called when the API refuses the session's key (401): the session ends. */
export function onUnauthorized(listener: Listener): () => void {
  unauthorizedListeners.add(listener);
  return () => unauthorizedListeners.delete(listener);
}

const auth: Middleware = {
  onRequest({ request }) {
    // an explicit Authorization (the sign-in check) wins; otherwise the session's key
    if (request.headers.has('authorization')) return request;
    const key = apiKey();
    if (key) request.headers.set('authorization', `Bearer ${key}`);
    return request;
  },
};

export const api = createClient<paths>({ baseUrl: '' });
api.use(auth);

interface Answer<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

/** Reads an openapi-fetch answer: its data, or an ApiFailure saying why not. */
export async function ok<T>(request: Promise<Answer<T>>): Promise<T> {
  let answer: Answer<T>;
  try {
    answer = await request;
  } catch (err) {
    if ((err as { name?: string }).name === 'AbortError') throw err;
    throw new ApiFailure(0, 'network', 'The API cannot be reached. Check your connection and try again.');
  }
  const { data, error, response } = answer;
  if (response.ok) return data as T;
  const body = (error ?? {}) as { error?: { code?: string; message?: string; details?: unknown } };
  const failure = new ApiFailure(
    response.status,
    body.error?.code ?? `http_${response.status}`,
    body.error?.message ?? `The API answered ${response.status} ${response.statusText}`.trim(),
    body.error?.details ?? null,
  );
  if (response.status === 401) for (const l of unauthorizedListeners) l(failure);
  throw failure;
}

export function failureOf(err: unknown): ApiFailure {
  if (err instanceof ApiFailure) return err;
  return new ApiFailure(0, 'client', err instanceof Error ? err.message : String(err));
}
