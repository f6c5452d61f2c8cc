/**
 * Bundles the workflow code once (webpack) into a file the worker loads with
 * WORKFLOW_BUNDLE_PATH, so `satmachine worker` starts without the bundling step.
 * The Dockerfile runs it at build time:
 *
 *   node --import tsx scripts/build-workflow-bundle.ts [out]   (default dist/workflow-bundle.js)
 *
 * A bundle belongs to the source it was built from: rebuild it with every change
 * of src/workflows (the image does so on every build).
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { bundleWorkflows } from '../src/worker/worker';

async function main(): Promise<void> {
  const out = resolve(process.argv[2] ?? 'dist/workflow-bundle.js');
  const started = Date.now();
  const { code } = await bundleWorkflows();
  mkdirSync(dirname(out), { recursive: true });
  // written beside and renamed: a worker never reads a half-written bundle
  const tmp = `${out}.${process.pid}.tmp`;
  writeFileSync(tmp, code);
  renameSync(tmp, out);
  process.stdout.write(`workflow bundle: ${out} (${code.length} bytes, ${Date.now() - started} ms)\n`);
}

main().catch((err: Error) => {
  process.stderr.write(`build-workflow-bundle: ${err.message}\n`);
  process.exit(1);
});
