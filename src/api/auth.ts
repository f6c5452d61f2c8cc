import { createHash } from 'node:crypto';
import type { Request, RequestHandler } from 'express';
import type { Pool } from '../db/pool';
import { claimNip98Event, getUserByPubkey, type Role, type UserRow } from '../db/users';
import { verifySignature } from '../nostr/codec';
import type { SignedEvent } from '../contract';
import type { ApiKeyCache } from './apiKeyCache';
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

/**
 * The absolute URL a NIP-98 `u` tag must name: the configured public base URL (PUBLIC_URL) +
 * the path and query of the request. Never the Host header nor X-Forwarded-*: a client sends
 * those, so a token a user signed for another site (`u=https://evil.example/…`) would pass.
 */
function expectedUrl(req: Request, publicUrl: string): string {
  return `${publicUrl.replace(/\/$/, '')}${req.originalUrl}`;
}

/** Same URL once normalised (scheme and host case, default port); false when either is not a URL. */
function sameUrl(a: string, b: string): boolean {
  try {
    return new URL(a).href === new URL(b).href;
  } catch {
    return false;
  }
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
  const values = (name: string) =>
    event.tags.filter((t) => Array.isArray(t) && t[0] === name).map((t) => String(t[1] ?? ''));
  const one = (name: string): string | undefined => {
    const found = values(name);
    if (found.length > 1) throw unauthorized(`NIP-98: the event has ${found.length} ${name} tags, sign one`);
    return found[0];
  };
  const u = one('u');
  const expected = expectedUrl(req, publicUrl);
  if (!u || !sameUrl(u, expected)) {
    throw unauthorized(
      `NIP-98: the u tag must be this server's URL for the request, ${expected} (the base is PUBLIC_URL)`,
    );
  }
  if ((one('method') ?? '').toUpperCase() !== req.method)
    throw unauthorized('NIP-98: the method tag does not match');
  // a body must be signed (payload = its sha256); a payload tag binds the body even when empty
  const raw = (req as Request & { rawBody?: Buffer }).rawBody ?? Buffer.alloc(0);
  const payload = one('payload');
  if (raw.length > 0 || payload !== undefined) {
    const hash = createHash('sha256').update(raw).digest('hex');
    if (!payload || payload.toLowerCase() !== hash)
      throw unauthorized('NIP-98: the payload tag must be the sha256 (hex) of the request body');
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
 * A role that may not use a route gets 404: the route does not exist for it. API keys are
 * looked up through `apiKeys` (cached briefly in process, see ApiKeyCache).
 */
export function authenticator(pool: Pool, publicUrl: string, apiKeys: ApiKeyCache) {
  return (roles: readonly Role[] | 'public' | 'any'): RequestHandler =>
    async (req, res, next) => {
      if (roles === 'public') return next();
      try {
        const header = req.get('authorization') ?? '';
        const [scheme, token] = header.split(/\s+/, 2);
        let user: (UserRow & { api_key_id?: string }) | null = null;
        if (scheme?.toLowerCase() === 'bearer' && token) {
          user = await apiKeys.find(hashApiKey(token));
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
