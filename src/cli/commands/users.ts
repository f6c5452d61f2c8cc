import type { Config } from '../../config';
import { createUserWithKey } from '../../api/userAccounts';
import type { Role } from '../../db/users';
import { flagString, type ParsedArgs } from '../args';
import { loadSecretBox, openPool } from '../runtime';

const ROLES: readonly Role[] = ['super', 'operator', 'lp'];

/** `satmachine users create --role super|operator|lp --name NAME [--pubkey HEX|NPUB] [--json]` */
export async function usersCommand(config: Config, args: ParsedArgs): Promise<void> {
  const [, sub] = args.positional;
  if (sub !== 'create')
    throw new Error(
      'usage: satmachine users create --role super|operator|lp --name NAME [--pubkey KEY] [--json]',
    );
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
