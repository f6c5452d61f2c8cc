import { loadConfig } from '../config';
import { loadWasmSignatureVerifier } from '../nostr/eventSignature';
import { componentLogger, stderrComponentLogger } from '../logger';
import { parseArgs } from './args';
import { apiCommand } from './commands/api';
import { ingestCommand } from './commands/ingest';
import { migrateCommand } from './commands/migrate';
import { reconcileBalancesCommand } from './commands/reconcileBalances';
import { relayCommand } from './commands/relay';
import { SIMULATE_USAGE, simulateCommand } from './commands/simulate';
import { startCommand } from './commands/start';
import { usersCommand } from './commands/users';
import { workerCommand } from './commands/worker';

const HELP = `satmachine — back office for Lightning Bitcoin ATMs

  satmachine start [--demo]     the whole stack on embedded defaults (what npm start runs)
  satmachine api                the HTTP API
  satmachine worker             the Temporal worker (workflows and activities)
  satmachine ingest             Nostr relay subscriptions and the payment listener
  satmachine relay              the embedded Nostr relay
  satmachine migrate            apply database migrations (idempotent)
  satmachine reconcile-balances [--json] [--repair]   check every LP balance row against deposits and legs (exit 1 on a difference; --repair rebuilds them)
  satmachine users create --role super|operator|lp --name NAME [--pubkey KEY] [--json]
  satmachine users key --user USER_ID [--json]       a new API key for a user who lost theirs
  satmachine simulate [--demo] [--count N] [--rate N] …   act as an ATM

Environment: DATABASE_URL, TEMPORAL_ADDRESS, NOSTR_RELAYS, PAYMENT_BACKEND, SATMACHINE_SECRET_KEY, PORT (see README).`;

/** The commands whose processes verify Nostr signatures (relay, ingest, attribution, NIP-98). */
const VERIFYING_COMMANDS = new Set(['start', 'api', 'worker', 'ingest', 'relay']);

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const command = args.positional[0];
  if (command === 'simulate' && args.flags.has('help')) {
    process.stdout.write(SIMULATE_USAGE + '\n');
    return;
  }
  if (!command || command === 'help' || args.flags.has('help')) {
    process.stdout.write(HELP + '\n');
    return;
  }
  const config = loadConfig();
  const log = command === 'simulate' ? stderrComponentLogger(command) : componentLogger(command);
  // libsecp256k1 (WASM) for every signature a serving process checks (nostr-tools' JS until
  // then, or if it cannot load); the one-shot commands verify none and skip loading it
  if (VERIFYING_COMMANDS.has(command))
    log.debug({ signature_verifier: await loadWasmSignatureVerifier() }, 'Nostr signature verifier');
  switch (command) {
    case 'start':
      return startCommand(config, log, args);
    case 'api':
      return apiCommand(config, log);
    case 'worker':
      return workerCommand(config, log);
    case 'ingest':
      return ingestCommand(config, log);
    case 'relay':
      return relayCommand(config, log);
    case 'migrate':
      return migrateCommand(config, log);
    case 'reconcile-balances':
      return reconcileBalancesCommand(config, args);
    case 'users':
      return usersCommand(config, args);
    case 'simulate':
      return simulateCommand(config, log, args);
    default:
      throw new Error(`unknown command "${command}"\n\n${HELP}`);
  }
}

main().catch((err: Error) => {
  process.stderr.write(`satmachine: ${err.message}\n`);
  process.exit(1);
});
