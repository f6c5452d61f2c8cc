import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NativeConnection } from '@temporalio/worker';

/**
 * Worker Versioning (Temporal Worker Deployments): every worker of one build polls as
 * the version `<deploymentName>.<buildId>`; the server routes each workflow task to the
 * deployment's *current* version. Settlements use AUTO_UPGRADE: they wait days for
 * signals, so pinning them to the build that started them would keep every old build
 * running until its last settlement closes. An in-flight settlement moves to the new
 * build at its next workflow task and replays its history there, which is why every
 * change to the commands a workflow emits goes behind `patched()` (docs/settlement.md,
 * "Deploying workflow changes").
 */
export interface WorkerDeployment {
  deploymentName: string;
  buildId: string;
  /** make this version current once its pollers are registered (single-box / all-at-once deploys) */
  promote: boolean;
}

export const DEFAULT_DEPLOYMENT_NAME = 'satmachine';

const ROOT = join(__dirname, '..', '..');

function flag(name: string, raw: string | undefined, fallback: boolean): boolean {
  if (raw === undefined || raw.trim() === '') return fallback;
  const v = raw.trim().toLowerCase();
  if (['1', 'true', 'on', 'yes'].includes(v)) return true;
  if (['0', 'false', 'off', 'no'].includes(v)) return false;
  throw new Error(`${name} must be 1/true/on or 0/false/off, got "${raw}"`);
}

/** `<package version>+<git short sha>`, or `<package version>+dev` outside a git checkout. */
export function defaultBuildId(root = ROOT): string {
  const version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string })
    .version;
  let sha = 'dev';
  try {
    sha = execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
      cwd: root,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: 5000,
    }).trim();
  } catch {
    /* not a git checkout (a container image): SATMACHINE_BUILD_ID should be set at build time */
  }
  return `${version}+${sha || 'dev'}`;
}

/** A name part: what the server accepts in a deployment name or build id, and no more. */
function checkPart(name: string, value: string, allowDot: boolean): string {
  const re = allowDot ? /^[A-Za-z0-9][A-Za-z0-9._+-]{0,99}$/ : /^[A-Za-z0-9][A-Za-z0-9_+-]{0,99}$/;
  if (!re.test(value))
    throw new Error(
      `${name} must be 1-100 letters, digits${allowDot ? ', dots' : ''}, "_", "+" or "-", got "${value}"`,
    );
  return value;
}

/**
 * Reads WORKER_VERSIONING (off by default: the worker polls unversioned, as before),
 * SATMACHINE_DEPLOYMENT_NAME (default `satmachine`), SATMACHINE_BUILD_ID (default
 * {@link defaultBuildId}) and WORKER_VERSIONING_PROMOTE (default on).
 */
export function workerDeploymentFromEnv(env: NodeJS.ProcessEnv = process.env): WorkerDeployment | null {
  if (!flag('WORKER_VERSIONING', env.WORKER_VERSIONING, false)) return null;
  const name = env.SATMACHINE_DEPLOYMENT_NAME?.trim() || DEFAULT_DEPLOYMENT_NAME;
  const buildId = env.SATMACHINE_BUILD_ID?.trim() || defaultBuildId();
  return {
    // the server joins them as `<name>.<buildId>`: a dot in the name would be ambiguous
    deploymentName: checkPart('SATMACHINE_DEPLOYMENT_NAME', name, false),
    buildId: checkPart('SATMACHINE_BUILD_ID', buildId, true),
    promote: flag('WORKER_VERSIONING_PROMOTE', env.WORKER_VERSIONING_PROMOTE, true),
  };
}

/** gRPC NOT_FOUND / FAILED_PRECONDITION: the version's pollers are not registered yet. */
function notYetRegistered(err: unknown): boolean {
  const code = (err as { code?: number }).code;
  return code === 5 || code === 9;
}

/**
 * Makes `<deploymentName>.<buildId>` the deployment's current version, so new and
 * AUTO_UPGRADE workflows go to it. The server knows a version only once one of its
 * workers has polled: call it after the worker started, it retries until then.
 * Returns the version that was current before.
 */
export async function setCurrentVersion(
  connection: Pick<NativeConnection, 'workflowService'>,
  namespace: string,
  d: Pick<WorkerDeployment, 'deploymentName' | 'buildId'>,
  opts: { identity?: string; timeoutMs?: number } = {},
): Promise<string | null> {
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  for (;;) {
    try {
      const res = await connection.workflowService.setWorkerDeploymentCurrentVersion({
        namespace,
        deploymentName: d.deploymentName,
        buildId: d.buildId,
        identity: opts.identity ?? 'satmachine-worker',
      });
      const prev = res.previousDeploymentVersion;
      return prev?.buildId ? `${prev.deploymentName}.${prev.buildId}` : null;
    } catch (err) {
      if (!notYetRegistered(err) || Date.now() > deadline)
        throw new Error(
          `could not make ${d.deploymentName}.${d.buildId} the current worker deployment version: ` +
            `${(err as Error).message}; run \`temporal worker deployment set-current-version ` +
            `--deployment-name ${d.deploymentName} --build-id ${d.buildId}\` once its workers poll`,
          { cause: err },
        );
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}
