import { generateSecretKey, getPublicKey } from 'nostr-tools/pure';
import { bytesToHex } from 'nostr-tools/utils';
import type { Pool } from '../db/pool';
import { withTransaction } from '../db/pool';
import { insertApiKey, insertUser, type Role, type UserRow } from '../db/users';
import { normalizePubkey } from '../domain/nostrKeys';
import { sealedColumns, type SecretBox } from '../security/secretBox';
import { newId } from '../db/ids';
import { generateApiKey } from './apiKeys';

export interface PublicUser {
  id: string;
  role: Role;
  name: string;
  nostr_pubkey: string | null;
  created_at: string;
}

export function publicUser(u: UserRow): PublicUser {
  return {
    id: u.id,
    role: u.role,
    name: u.name,
    nostr_pubkey: u.nostr_pubkey,
    created_at: u.created_at.toISOString(),
  };
}

/**
 * Creates a user and its first API key (returned once, stored hashed). An operator
 * gets a Nostr keypair generated here (the secret sealed at rest): machines encrypt
 * their events to it and cassette edits are signed with it. Others may bring a
 * public key for NIP-98 sign-in.
 */
export async function createUserWithKey(
  pool: Pool,
  secretBox: SecretBox,
  input: { role: Role; name: string; pubkey?: string | null },
): Promise<{ user: PublicUser; api_key: string }> {
  let pubkey: string | null = input.pubkey ? normalizePubkey(input.pubkey) : null;
  let sealed: string | null = null;
  // the id is chosen first: the sealed secret is bound to its row
  const id = newId();
  if (input.role === 'operator' && !pubkey) {
    const secret = generateSecretKey();
    pubkey = getPublicKey(secret);
    sealed = secretBox.seal(bytesToHex(secret), sealedColumns.operatorNostrSecret(id));
  }
  return withTransaction(pool, async (c) => {
    const user = await insertUser(c, {
      id,
      role: input.role,
      name: input.name,
      nostr_pubkey: pubkey,
      nostr_secret_enc: sealed,
    });
    const key = generateApiKey();
    await insertApiKey(c, user.id, key.hash, key.prefix);
    return { user: publicUser(user), api_key: key.key };
  });
}
