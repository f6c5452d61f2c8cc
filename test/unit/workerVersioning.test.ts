import {
  DEFAULT_DEPLOYMENT_NAME,
  defaultBuildId,
  workerDeploymentFromEnv,
} from '../../src/worker/versioning';

const pkgVersion = (require('../../package.json') as { version: string }).version;

describe('Worker Versioning from the environment', () => {
  it('is off unless WORKER_VERSIONING is set: the worker polls unversioned, as before', () => {
    expect(workerDeploymentFromEnv({})).toBeNull();
    expect(workerDeploymentFromEnv({ WORKER_VERSIONING: '0' })).toBeNull();
    expect(workerDeploymentFromEnv({ WORKER_VERSIONING: '' })).toBeNull();
  });

  it('uses the deployment `satmachine` and SATMACHINE_BUILD_ID, promoting on start by default', () => {
    expect(workerDeploymentFromEnv({ WORKER_VERSIONING: '1', SATMACHINE_BUILD_ID: '1.2.3+abc1234' })).toEqual(
      {
        deploymentName: DEFAULT_DEPLOYMENT_NAME,
        buildId: '1.2.3+abc1234',
        promote: true,
      },
    );
    expect(
      workerDeploymentFromEnv({
        WORKER_VERSIONING: 'on',
        SATMACHINE_BUILD_ID: 'b7',
        SATMACHINE_DEPLOYMENT_NAME: 'atm-eu',
        WORKER_VERSIONING_PROMOTE: 'false',
      }),
    ).toEqual({ deploymentName: 'atm-eu', buildId: 'b7', promote: false });
  });

  it('falls back to <package version>+<git short sha> (or +dev outside git)', () => {
    expect(defaultBuildId()).toMatch(
      new RegExp(`^${pkgVersion.replace(/\./g, '\\.')}\\+([0-9a-f]{4,40}|dev)$`),
    );
    expect(workerDeploymentFromEnv({ WORKER_VERSIONING: 'true' })!.buildId).toBe(defaultBuildId());
  });

  it('refuses names the server would misread, with the variable to fix', () => {
    expect(() => workerDeploymentFromEnv({ WORKER_VERSIONING: 'yes please' })).toThrow(
      /WORKER_VERSIONING must be/,
    );
    expect(() =>
      workerDeploymentFromEnv({ WORKER_VERSIONING: '1', SATMACHINE_DEPLOYMENT_NAME: 'a.b' }),
    ).toThrow(/SATMACHINE_DEPLOYMENT_NAME must be/);
    expect(() => workerDeploymentFromEnv({ WORKER_VERSIONING: '1', SATMACHINE_BUILD_ID: 'x y' })).toThrow(
      /SATMACHINE_BUILD_ID must be/,
    );
    expect(() =>
      workerDeploymentFromEnv({ WORKER_VERSIONING: '1', SATMACHINE_BUILD_ID: 'a'.repeat(101) }),
    ).toThrow(/SATMACHINE_BUILD_ID must be/);
    expect(() =>
      workerDeploymentFromEnv({
        WORKER_VERSIONING: '1',
        SATMACHINE_BUILD_ID: 'b',
        WORKER_VERSIONING_PROMOTE: '2',
      }),
    ).toThrow(/WORKER_VERSIONING_PROMOTE must be/);
  });
});
