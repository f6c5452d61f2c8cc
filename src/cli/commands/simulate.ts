import { existsSync, readFileSync } from 'node:fs';
import type { Config } from '../../config';
import type { Logger } from '../../logger';
import { flagNumber, flagString, type ParsedArgs } from '../args';
import { demoFilePath, type DemoFile } from '../demo';
import { startMachineHeartbeat } from '../demoMachine';
import { demoScenario } from '../demoScenario';
import { runSimulation } from '../simulate';
import { relayUrls } from '../runtime';
import { normalizePubkey } from '../../domain/nostrKeys';

export const SIMULATE_USAGE = `usage: satmachine simulate [--demo] [--machine-secret HEX --operator-pubkey KEY --wallet ID --api-key SUPER_KEY]
       [--count N] [--rate PER_SECOND] [--tx cash_out|cash_in|mixed] [--fiat AMOUNT] [--fiat-code USD]
       [--sats-per-unit N] [--fee-fraction F] [--order event-first|payment-first|together]
       [--api URL] [--relays ws://…,ws://…]

Acts as an ATM: for each settlement it reports the Lightning payment to the embedded
ledger (POST /api/v1/ledger/payments with a super API key, so PAYMENT_BACKEND=ledger
only) and publishes the machine-signed, NIP-44 encrypted kind-21000 event to the relays.
--demo takes the machines, keys and wallets from the data dir's demo.json (npm start -- --demo)
and plays the demo's day unless --tx is given: mostly cash-outs paid in whole bills from
the cassettes, every fourth a cash-in, every sixth at the Airport ATM (a 90 s hold, then
an LP's unpayable autoforward: errored, for the worklist); the machines beacon meanwhile.
  --count N            settlements to send (10)         --rate N        per second (2)
  --tx                 cash_out (default), cash_in or mixed
  --fiat AMOUNT        fiat per settlement, varied up to 1.5× (20)   --fiat-code  the machine's currency (USD)
  --sats-per-unit N    exchange rate (1500)             --fee-fraction F  ATM fee (0.05)
  --order              which of event and payment goes first (together)`;
const USAGE = SIMULATE_USAGE;

/** `satmachine simulate`: an ATM for demos and benchmarks (see src/cli/simulate.ts). */
export async function simulateCommand(config: Config, log: Logger, args: ParsedArgs): Promise<void> {
  let demo: Partial<DemoFile> = {};
  if (args.flags.has('demo')) {
    const file = demoFilePath(config.dataDir);
    if (!existsSync(file)) throw new Error(`${file} not found: run \`npm start -- --demo\` first`);
    demo = JSON.parse(readFileSync(file, 'utf8')) as DemoFile;
  }
  const machineSecret = flagString(args, 'machine-secret') ?? demo.machine_secret;
  const operatorPubkey = flagString(args, 'operator-pubkey') ?? demo.operator_pubkey;
  const wallet = flagString(args, 'wallet') ?? demo.machine_wallet_id;
  const apiKey = flagString(args, 'api-key') ?? demo.super_api_key;
  if (!machineSecret || !operatorPubkey || !wallet || !apiKey)
    throw new Error(`missing machine details\n${USAGE}`);
  const count = flagNumber(args, 'count', 10);
  const rate = flagNumber(args, 'rate', 2);
  const fiat = Math.round(flagNumber(args, 'fiat', 20) * 100);
  const tx = (flagString(args, 'tx') ?? 'cash_out') as 'cash_out' | 'cash_in' | 'mixed';
  const order = (flagString(args, 'order') ?? 'together') as 'event-first' | 'payment-first' | 'together';
  const relays = flagString(args, 'relays')?.split(',') ?? relayUrls(config);
  const apiUrl = flagString(args, 'api') ?? config.api.publicUrl;
  const every = Math.max(1, Math.round(count / 10));
  const fiatCents: [number, number] = [fiat, fiat + Math.round(fiat / 2)];
  // the demo's day: its fleet, cassettes and failures (not with an explicit --tx or machine)
  const scenario =
    args.flags.has('demo') && !flagString(args, 'tx') && !flagString(args, 'machine-secret')
      ? await demoScenario(demo as DemoFile, { apiUrl, fiatCents, log })
      : null;
  const heartbeat = scenario ? startMachineHeartbeat(scenario.machines, relays, log, 20_000) : null;
  const result = await runSimulation({
    apiUrl,
    apiKey,
    relays,
    machineSecretHex: machineSecret,
    operatorPubkeyHex: normalizePubkey(operatorPubkey),
    machineWalletId: wallet,
    count,
    rate,
    txType: tx,
    fiatCode: flagString(args, 'fiat-code') ?? 'USD',
    fiatCents,
    ...(scenario ? { plan: scenario.plan } : {}),
    satsPerUnit: flagNumber(args, 'sats-per-unit', 1500),
    feeFraction: flagNumber(args, 'fee-fraction', 0.05),
    order,
    logger: log,
    onProgress: (done, total) => {
      if (done % every === 0 || done === total)
        process.stderr.write(`simulate: ${done}/${total} settlements sent\n`);
    },
  });
  if (heartbeat) {
    await heartbeat.beat();
    heartbeat.stop();
  }
  process.stdout.write(
    JSON.stringify({
      sent: result.settlements.length,
      errors: result.errors,
      elapsed_ms: result.elapsed_ms,
      payment_hashes: result.settlements.map((s) => s.payment_hash),
    }) + '\n',
  );
  if (result.errors.length) process.exitCode = 1;
}
