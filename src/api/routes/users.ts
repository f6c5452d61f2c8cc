import { z } from 'zod';
import { getUser, listUsers } from '../../db/users';
import type { ApiDeps } from '../deps';
import type { RouteRegistry } from '../routeRegistry';
import { createUserWithKey, publicUser } from '../userAccounts';
import { pubkey } from '../schemas';
import { conflict } from '../errors';

const userShape = z
  .object({
    id: z.string(),
    role: z.enum(['super', 'operator', 'lp']),
    name: z.string(),
    nostr_pubkey: z.string().nullable(),
    created_at: z.string(),
  })
  .meta({ id: 'User' });

export function userRoutes(r: RouteRegistry, deps: ApiDeps): void {
  r.add(
    {
      method: 'get',
      path: '/me',
      operationId: 'getMe',
      summary: 'The calling user',
      tag: 'users',
      auth: 'any',
      response: userShape.pick({ id: true, role: true, name: true, nostr_pubkey: true }),
    },
    async ({ user }) => {
      const u = await getUser(deps.pool, user.id);
      return { id: u!.id, role: u!.role, name: u!.name, nostr_pubkey: u!.nostr_pubkey };
    },
  );

  r.add(
    {
      method: 'post',
      path: '/super/users',
      operationId: 'createUser',
      summary: 'Create a user; the API key is shown once',
      tag: 'super',
      auth: ['super'],
      status: 201,
      body: z.object({
        role: z.enum(['super', 'operator', 'lp']),
        name: z.string().trim().min(1).max(200),
        pubkey: pubkey.optional(),
      }),
      response: z.object({ user: userShape, api_key: z.string() }),
    },
    async ({ body }) => {
      try {
        return await createUserWithKey(deps.pool, deps.secretBox, body);
      } catch (err) {
        if ((err as { code?: string }).code === '23505')
          throw conflict('a user with this public key already exists');
        throw err;
      }
    },
  );

  r.add(
    {
      method: 'get',
      path: '/super/users',
      operationId: 'listUsers',
      summary: 'All users',
      tag: 'super',
      auth: ['super'],
      response: z.array(userShape),
    },
    async () => (await listUsers(deps.pool)).map(publicUser),
  );
}
