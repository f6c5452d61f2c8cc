import { z } from 'zod';
import { getUser, insertApiKey, listApiKeys, revokeApiKey, type ApiKeyRow } from '../../db/users';
import { generateApiKey } from '../apiKeys';
import type { ApiDeps } from '../deps';
import { conflict, notFound } from '../errors';
import type { RouteRegistry } from '../routeRegistry';
import { id, idParams } from '../schemas';

const keyShape = z
  .object({
    id: z.string(),
    prefix: z.string().describe('the first characters of the key, to tell keys apart'),
    created_at: z.string(),
    last_used_at: z.string().nullable().describe('to the minute'),
    revoked_at: z.string().nullable(),
    current: z.boolean().describe('the key this request was made with'),
  })
  .meta({ id: 'ApiKey' });
const newKeyShape = keyShape.omit({ current: true }).extend({
  api_key: z.string().describe('the key itself: shown this once, stored only as its hash'),
});

const view = (k: ApiKeyRow, currentId: string | null) => ({
  id: k.id,
  prefix: k.key_prefix,
  created_at: k.created_at.toISOString(),
  last_used_at: k.last_used_at ? k.last_used_at.toISOString() : null,
  revoked_at: k.revoked_at ? k.revoked_at.toISOString() : null,
  current: k.id === currentId,
});

/**
 * API keys: every user lists, creates and revokes its own (rotation: create a new
 * key, switch to it, revoke the old one); the platform issues a key to a user who
 * lost theirs and revokes any key of a compromised account.
 */
export function apiKeyRoutes(r: RouteRegistry, deps: ApiDeps): void {
  const issue = async (userId: string) => {
    const key = generateApiKey();
    const row = await insertApiKey(deps.pool, userId, key.hash, key.prefix);
    const { current: _current, ...rest } = view(row, null);
    return { ...rest, api_key: key.key };
  };
  const userOf = async (userId: string) => {
    const u = await getUser(deps.pool, userId);
    if (!u) throw notFound(`user ${userId}`);
    return u;
  };

  r.add(
    {
      method: 'get',
      path: '/me/api-keys',
      operationId: 'listMyApiKeys',
      summary: 'Your API keys (never the keys themselves), newest first',
      tag: 'users',
      auth: 'any',
      response: z.array(keyShape),
    },
    async ({ user }) => (await listApiKeys(deps.pool, user.id)).map((k) => view(k, user.api_key_id)),
  );

  r.add(
    {
      method: 'post',
      path: '/me/api-keys',
      operationId: 'createMyApiKey',
      summary: 'A new API key for you, shown once (to rotate: create, switch, revoke the old one)',
      tag: 'users',
      auth: 'any',
      status: 201,
      response: newKeyShape,
    },
    async ({ user }) => issue(user.id),
  );

  r.add(
    {
      method: 'delete',
      path: '/me/api-keys/:id',
      operationId: 'deleteMyApiKey',
      summary: 'Revoke one of your API keys (not your last active one)',
      tag: 'users',
      auth: 'any',
      params: idParams,
      status: 204,
    },
    async ({ params, user }) => {
      const outcome = await revokeApiKey(deps.pool, user.id, params.id, false);
      if (outcome === 'revoked') deps.apiKeyCache?.invalidate();
      if (outcome === 'not_found') throw notFound(`active API key ${params.id}`);
      if (outcome === 'last_key') {
        throw conflict(
          'this is your last active API key: create another one first (POST /api/v1/me/api-keys)',
        );
      }
      return undefined;
    },
  );

  const userParams = z.object({ id });
  r.add(
    {
      method: 'get',
      path: '/super/users/:id/api-keys',
      operationId: 'listUserApiKeys',
      summary: "A user's API keys (never the keys themselves)",
      tag: 'super',
      auth: ['super'],
      params: userParams,
      response: z.array(keyShape),
    },
    async ({ params, user }) => {
      await userOf(params.id);
      return (await listApiKeys(deps.pool, params.id)).map((k) => view(k, user.api_key_id));
    },
  );

  r.add(
    {
      method: 'post',
      path: '/super/users/:id/api-keys',
      operationId: 'createUserApiKey',
      summary: 'Issue a new API key to a user (one who lost theirs), shown once',
      tag: 'super',
      auth: ['super'],
      params: userParams,
      status: 201,
      response: newKeyShape,
    },
    async ({ params }) => {
      await userOf(params.id);
      return issue(params.id);
    },
  );

  r.add(
    {
      method: 'delete',
      path: '/super/users/:id/api-keys/:keyId',
      operationId: 'deleteUserApiKey',
      summary: "Revoke a user's API key, even its last one (a compromised account)",
      tag: 'super',
      auth: ['super'],
      params: z.object({ id, keyId: id }),
      status: 204,
    },
    async ({ params }) => {
      await userOf(params.id);
      const outcome = await revokeApiKey(deps.pool, params.id, params.keyId, true);
      if (outcome === 'revoked') deps.apiKeyCache?.invalidate();
      if (outcome === 'not_found') throw notFound(`active API key ${params.keyId}`);
      return undefined;
    },
  );
}
