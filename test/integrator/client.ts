/**
 * What an integrator writes: a client typed by the OpenAPI document alone
 * (openapi-typescript → `paths`, openapi-fetch → calls), addressing routes by path
 * and method with the request and response types the document names. Type-checked
 * by `npm run typecheck` against the committed types, and by
 * test/integrator/generatedClient.test.ts against types freshly generated from
 * web/src/api/openapi.json by the openapi-typescript CLI (which rewrites the import
 * below), then run against a real API.
 */
import createClient from 'openapi-fetch';
import type { components, paths } from '../../web/src/api/schema';

export type Machine = components['schemas']['Machine'];

export function apiClient(baseUrl: string, apiKey: string) {
  return createClient<paths>({ baseUrl, headers: { authorization: `Bearer ${apiKey}` } });
}

type ApiClient = ReturnType<typeof apiClient>;

function fail(what: string, status: number, error: unknown): never {
  throw new Error(`${what} failed (${status}): ${JSON.stringify(error)}`);
}

/** createUser: POST /api/v1/super/users (a super user's key). */
export async function createOperator(api: ApiClient, name: string): Promise<{ id: string; apiKey: string }> {
  const { data, error, response } = await api.POST('/api/v1/super/users', {
    body: { role: 'operator', name },
  });
  if (!data) fail('createUser', response.status, error);
  return { id: data.user.id, apiKey: data.api_key };
}

/** createMachine: POST /api/v1/machines (an operator's key). */
export async function registerMachine(api: ApiClient, machinePubkeyHex: string): Promise<Machine> {
  const { data, error, response } = await api.POST('/api/v1/machines', {
    body: { machine_npub: machinePubkeyHex, name: 'integrator ATM', fiat_code: 'EUR' },
  });
  if (!data) fail('createMachine', response.status, error);
  return data;
}

/** getMachine: GET /api/v1/machines/{id}; null when the API answers 404. */
export async function machineById(api: ApiClient, id: string): Promise<Machine | null> {
  const { data, error, response } = await api.GET('/api/v1/machines/{id}', { params: { path: { id } } });
  if (response.status === 404) return null;
  if (!data) fail('getMachine', response.status, error);
  return data;
}
