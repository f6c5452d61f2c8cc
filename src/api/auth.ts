import { createHash } from 'node:crypto';
import type { Request, RequestHandler } from 'express';
import type { Pool } from '../db/pool';
import { claimNip98Event, findUserByApiKeyHash, getUserByPubkey, type Role, type UserRow } from '../db/users';
import { verifySignature } from '../nostr/codec';
import type { SignedEvent } from '../contract';
import { hashApiKey } from './apiKeys';
import { ApiError, unauthorized } from './errors';

export interface AuthedUser {
  id: string;
  role: Role;
  name: string;
  nostr_pubkey: string | null;
  /** the API key of this request (null when signed with NIP-98) */
  api_key_id: string | null;
}

const NIP98_KIND = 27235;
const NIP98_WINDOW_SECONDS = 60;

function toAuthed(u: UserRow & { api_key_id?: string }): AuthedUser {
  return {
    id: u.id,
    role: u.role,
    name: u.name,
    nostr_pubkey: u.nostr_pubkey,
    api_key_id: u.api_key_id ?? null,
  };
}

/** The absolute URL a NIP-98 `u` tag must name: the public base URL (or the Host header) + path and query. */
function requestUrls(req: Request, publicUrl: string): string[] {
  const path = req.originalUrl;
  const host = req.get('host');
  const urls = [`${publicUrl.replace(/\/$/, '')}${path}`];
  if (host) urls.push(`${req.protocol}://${host}${path}`);
  return urls;
}

async function nip98User(req: Request, token: string, pool: Pool, publicUrl: string): Promise<UserRow> {
  let event: SignedEvent;
  try {
    event = JSON.parse(Buffer.from(token, 'base64').toString('utf8')) as SignedEvent;
  } catch {
    throw unauthorized('NIP-98: the Nostr authorization is not base64-encoded JSON');
  }
  if (!event || typeof event !== 'object' || event.kind !== NIP98_KIND) {
    throw unauthorized(`NIP-98: the event must be of kind ${NIP98_KIND}`);
  }
  if (!Array.isArray(event.tags) || !verifySignature(event))
    throw unauthorized('NIP-98: the event signature is invalid');
  const now = Math.floor(Date.now() / 1000);
  if (Math.abs(now - event.created_at) > NIP98_WINDOW_SECONDS) {
    throw unauthorized(`NIP-98: created_at must be within ${NIP98_WINDOW_SECONDS} s of the server clock`);
  }
  const tag = (name: string) => event.tags.find((t) => t[0] === name)?.[1];
  const u = tag('u');
  if (!u || !requestUrls(req, publicUrl).includes(u))
    throw unauthorized('NIP-98: the u tag does not match the request URL');
  if ((tag('method') ?? '').toUpperCase() !== req.method)
    throw unauthorized('NIP-98: the method tag does not match');
  const raw = (req as Request & { rawBody?: Buffer }).rawBody;
  if (raw && raw.length > 0) {
    const payload = tag('payload');
    const hash = createHash('sha256').update(raw).digest('hex');
    if (!payload || payload.toLowerCase() !== hash)
      throw unauthorized('NIP-98: the payload tag must be the sha256 of the body');
  }
  const user = await getUserByPubkey(pool, event.pubkey);
  if (!user) throw unauthorized('NIP-98: no user has this public key');
  if (!(await claimNip98Event(pool, event.id, NIP98_WINDOW_SECONDS * 2 + 10))) {
    throw unauthorized('NIP-98: this authorization event was already used (replay)');
  }
  return user;
}

/**
 * `Authorization: Bearer <api key>` or `Authorization: Nostr <base64 kind-27235 event>`.
 * A role that may not use a route gets 404: the route does not exist for it.
 */
export function authenticator(pool: Pool, publicUrl: string) {
  return (roles: readonly Role[] | 'public' | 'any'): RequestHandler =>
    async (req, res, next) => {
      if (roles === 'public') return next();
      try {
        const header = req.get('authorization') ?? '';
        const [scheme, token] = header.split(/\s+/, 2);
        let user: (UserRow & { api_key_id?: string }) | null = null;
        if (scheme?.toLowerCase() === 'bearer' && token) {
          user = await findUserByApiKeyHash(pool, hashApiKey(token));
          if (!user) throw unauthorized('the API key is unknown or revoked');
        } else if (scheme?.toLowerCase() === 'nostr' && token) {
          user = await nip98User(req, token, pool, publicUrl);
        } else {
          throw unauthorized('send Authorization: Bearer <api key> (or a NIP-98 Nostr authorization)');
        }
        if (roles !== 'any' && !roles.includes(user.role)) {
          throw new ApiError(
            404,
            'not_found',
            `${req.method} ${req.baseUrl}${req.route?.path ?? ''} is not available to role ${user.role}`,
          );
        }
        res.locals.user = toAuthed(user);
        next();
      } catch (err) {
        next(err);
      }
    };
}
