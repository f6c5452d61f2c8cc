// Runs before `npm start`, `npm test` and `npm run bench` (npm's pre-scripts), with
// nothing but Node's own modules, so it works on a fresh clone:
//   1. `npm ci` when node_modules is missing or older than package-lock.json, then the
//      Temporal SDK patch (scripts/patch-temporal-sdk.mjs; npm also runs it after installs);
//   2. the temporal CLI into .tools/ (scripts/install-temporal.sh), unless present;
//   3. for `npm test` only (argument `test`, or npm's pretest): LNbits into
//      .tools/lnbits-venv (scripts/install-lnbits.sh), for the LNbits backend's tests;
//   4. for `npm test` only: Debian's chromium (scripts/install-chromium.sh), for the
//      console's browser tests;
//   5. for `npm test` only: nostr-rs-relay into .tools/nostr-rs-relay
//      (scripts/install-stock-relay.sh, a cargo build: 15-30 minutes cold, seconds
//      when the binary is there), for the tests against a stock relay.
// Quick when everything is already there.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const log = (msg) => process.stderr.write(`[bootstrap] ${msg}\n`);

function needsInstall() {
  const marker = join(root, 'node_modules', '.package-lock.json');
  if (!existsSync(marker)) return true;
  return statSync(join(root, 'package-lock.json')).mtimeMs > statSync(marker).mtimeMs;
}

if (needsInstall()) {
  log('installing npm dependencies (npm ci)…');
  const r = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    log('npm ci failed: check network access to the npm registry, then run `npm ci` by hand.');
    process.exit(r.status ?? 1);
  }
}

// the Temporal SDK patch (scripts/temporalSdkPatch.cjs): npm applies it after every install;
// this covers a node_modules installed before the patch existed (idempotent, quick)
{
  const r = spawnSync(process.execPath, [join(root, 'scripts', 'patch-temporal-sdk.mjs')], {
    cwd: root,
    stdio: 'inherit',
  });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

try {
  const out = execFileSync('bash', [join(root, 'scripts', 'install-temporal.sh')], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'inherit'],
    encoding: 'utf8',
  });
  const path = out.trim().split('\n').pop();
  mkdirSync(join(root, '.tools'), { recursive: true });
  writeFileSync(join(root, '.tools', 'temporal-path'), `${path}\n`);
} catch {
  log('the temporal CLI is missing and could not be installed (see the message above).');
  process.exit(1);
}

const forTests = process.argv.includes('test') || process.env.npm_lifecycle_event === 'pretest';
if (forTests) {
  const r = spawnSync('bash', [join(root, 'scripts', 'install-lnbits.sh')], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  if (r.status !== 0) {
    log('LNbits could not be installed (see the message above): the LNbits backend tests cannot run.');
    process.exit(r.status ?? 1);
  }
  const chromium = spawnSync('bash', [join(root, 'scripts', 'install-chromium.sh')], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  if (chromium.status !== 0) {
    log('chromium could not be installed (see the message above): the console browser tests cannot run.');
    process.exit(chromium.status ?? 1);
  }
  const stockRelay = spawnSync('bash', [join(root, 'scripts', 'install-stock-relay.sh')], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  if (stockRelay.status !== 0) {
    log('nostr-rs-relay could not be built (see the message above): the stock-relay tests cannot run.');
    process.exit(stockRelay.status ?? 1);
  }
}

// 5. for `npm test` (its real-server part) and `TEMPORAL_MODE=server npm start`: the real Temporal
//    server, its SQL schema tool and the UI server, built once from the Go module proxy into
//    .tools/temporal-server (scripts/install-temporal-server.sh; minutes the first time, then
//    instant). `npm run bench -- --temporal server` builds it on first use the same way.
if (forTests || process.env.TEMPORAL_MODE === 'server') {
  const r = spawnSync('bash', [join(root, 'scripts', 'install-temporal-server.sh')], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  if (r.status !== 0) {
    log(
      'the Temporal server could not be built (see the message above): TEMPORAL_MODE=server and its tests cannot run.',
    );
    process.exit(r.status ?? 1);
  }
}
