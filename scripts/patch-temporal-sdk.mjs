// Applies the Temporal SDK patch (scripts/temporalSdkPatch.cjs: what it changes and why) to
// this project's node_modules. Run by npm after every install (`postinstall`) and by
// scripts/bootstrap.mjs; idempotent. `--root DIR`: another project directory.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { patchTemporalSdk, SDK_VERSION } from './temporalSdkPatch.cjs';

const at = process.argv.indexOf('--root');
const root = at > 0 ? process.argv[at + 1] : join(dirname(fileURLToPath(import.meta.url)), '..');
try {
  const result = patchTemporalSdk(root);
  if (result === 'applied')
    process.stderr.write(`[patch-temporal-sdk] applied to @temporalio/worker ${SDK_VERSION}\n`);
} catch (err) {
  process.stderr.write(`[patch-temporal-sdk] ${err.message}\n`);
  process.exit(1);
}
