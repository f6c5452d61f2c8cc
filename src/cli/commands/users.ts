import type { Config } from '../../config';
import { createUserWithKey } from '../../api/userAccounts';
import { generateApiKey } from '../../api/apiKeys';
import { getUser, insertApiKey } from '../../db/users';
import type { Role } from '../../db/users';
import { flagString, type ParsedArgs } from '../args';
import { loadSecretBox, openPool } from '../runtime';

const ROLES: readonly Role[] = ['super', 'operator', 'lp'];

const USAGE =
  'usage: satmachine users create --role super|operator|lp --name NAME [--pubkey KEY] [--json]\n' +
  '       satmachine users key --user USER_ID [--json]   (a new API key for a user who lost theirs)';

/**
 * `satmachine users create --role super|operator|lp --name NAME [--pubkey HEX|NPUB] [--json]`
 * `satmachine users key --user USER_ID [--json]`
 */
export async function usersCommand(config: Config, args: ParsedArgs): Promise<void> {
  const [, sub] = args.positional;
  if (sub === 'key') return issueKey(config, args);
  if (sub !== 'create') throw new Error(USAGE);
  const role = flagString(args, 'role') as Role | undefined;
  const name = flagString(args, 'name');
  if (!role || !ROLES.includes(role)) throw new Error('--role must be one of super, operator, lp');
  if (!name) throw new Error('--name is required');
  const pool = openPool(config, 'satmachine-cli', 2);
  try {
    const out = await createUserWithKey(pool, loadSecretBox(config), {
      role,
      name,
      pubkey: flagString(args, 'pubkey'),
    });
    if (args.flags.has('json')) process.stdout.write(JSON.stringify(out) + '\n');
    else {
      process.stdout.write(
        `created ${out.user.role} "${out.user.name}" (id ${out.user.id})\n` +
          (out.user.nostr_pubkey ? `nostr pubkey: ${out.user.nostr_pubkey}\n` : '') +
          `API key (shown once, keep it safe): ${out.api_key}\n`,
      );
    }
  } finally {
    await pool.end();
  }
}

async function issueKey(config: Config, args: ParsedArgs): Promise<void> {
  const userId = flagString(args, 'user');
  if (!userId) throw new Error(`--user is required\n${USAGE}`);
  const pool = openPool(config, 'satmachine-cli', 2);
  try {
    const user = await getUser(pool, userId);
    if (!user) throw new Error(`no user ${userId} (the platform lists users at GET /api/v1/super/users)`);
    const key = generateApiKey();
    const row = await insertApiKey(pool, user.id, key.hash, key.prefix);
    if (args.flags.has('json')) {
      process.stdout.write(JSON.stringify({ user_id: user.id, key_id: row.id, api_key: key.key }) + '\n');
    } else {
      process.stdout.write(
        `new API key for ${user.role} "${user.name}" (key id ${row.id}); shown once, keep it safe: ${key.key}\n`,
      );
    }
  } finally {
    await pool.end();
  }
}
