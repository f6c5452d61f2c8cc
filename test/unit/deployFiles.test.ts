import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { SEARCH_ATTRIBUTES } from '../../src/contract';
import { DEFAULT_DYNAMIC_CONFIG } from '../../src/cli/temporalServer';
import { parse } from 'yaml';
import {
  DEPLOY,
  ROOT,
  dockerfile,
  environmentReadByCode,
  execForm,
  interpolatedVariables,
  loadCompose,
  parseUnit,
  type ComposeService,
} from '../helpers/deployFiles';

/** The sub-commands src/cli/main.ts dispatches. */
const SUBCOMMANDS = new Set(
  [...readFileSync(join(ROOT, 'src', 'cli', 'main.ts'), 'utf8').matchAll(/case '([a-z]+)':/g)].map(
    (m) => m[1]!,
  ),
);
const IMAGE_COMMANDS = ['api', 'worker', 'ingest', 'migrate', 'relay'];
const ENV = environmentReadByCode();

describe('deploy/Dockerfile', () => {
  const { args, stages } = dockerfile();
  const runtime = stages[stages.length - 1]!;
  const of = (op: string, stage = runtime) => stage.instructions.filter((i) => i.op === op);

  it('builds in stages on a supported Node LTS, ending in the runtime stage', () => {
    expect(args.NODE_IMAGE).toBe('node:22-bookworm-slim');
    expect(stages.map((s) => s.name)).toEqual(['deps', 'build', 'prod-deps', 'runtime']);
    for (const s of stages) expect(['${NODE_IMAGE}', 'deps']).toContain(s.from);
  });

  it('runs as a non-root user', () => {
    const users = of('USER');
    expect(users).toHaveLength(1);
    expect(['root', '0', '0:0']).not.toContain(users[0]!.args.trim());
    // nothing runs after USER as root again
    const i = runtime.instructions.findIndex((x) => x.op === 'USER');
    expect(runtime.instructions.slice(i).filter((x) => x.op === 'RUN')).toEqual([]);
  });

  it('enters the CLI: the sub-commands api, worker, ingest, migrate and relay exist (api by default)', () => {
    const entry = execForm(of('ENTRYPOINT')[0]!.args);
    expect(entry).toEqual(['node', '--import', 'tsx', '/app/src/cli/main.ts']);
    expect(existsSync(join(ROOT, entry[3]!.replace(/^\/app\//, '')))).toBe(true);
    expect(execForm(of('CMD')[0]!.args)).toEqual(['api']);
    for (const c of IMAGE_COMMANDS) expect(SUBCOMMANDS).toContain(c);
  });

  it('copies only what exists: build-context sources in the repository, --from paths from earlier stages', () => {
    const names = stages.map((s) => s.name);
    stages.forEach((stage, index) => {
      for (const c of of('COPY', stage)) {
        const parts = c.args.split(/\s+/);
        const from = parts.find((p) => p.startsWith('--from='))?.slice('--from='.length);
        const paths = parts.filter((p) => !p.startsWith('--'));
        const sources = paths.slice(0, -1);
        expect(sources.length).toBeGreaterThan(0);
        if (from) {
          expect(names.slice(0, index)).toContain(from);
          // what the stage produced: its RUN lines name the path, or it is its npm ci
          const producer = stages.find((s) => s.name === from)!;
          const chain = [producer, ...stages.filter((s) => s.name === producer.from)];
          for (const src of sources) {
            const rel = src.replace(/^\/app\//, '');
            const made =
              rel === 'node_modules'
                ? chain.some((s) => of('RUN', s).some((r) => r.args.includes('npm ci')))
                : rel === 'web/dist'
                  ? chain.some((s) => of('RUN', s).some((r) => /cd web && .*vite\.js build/.test(r.args)))
                  : chain.some((s) => of('RUN', s).some((r) => r.args.includes(src)));
            expect({ src, made }).toEqual({ src, made: true });
          }
        } else {
          for (const src of sources)
            expect({ src, exists: existsSync(join(ROOT, src)) }).toEqual({ src, exists: true });
        }
      }
    });
  });

  it('runs scripts that exist: the workflow bundle script and vite', () => {
    const runs = stages.flatMap((s) => of('RUN', s).map((r) => r.args));
    const scripts = runs.flatMap((r) => [...r.matchAll(/\bscripts\/[\w.-]+/g)].map((m) => m[0]));
    expect(scripts).toContain('scripts/build-workflow-bundle.ts');
    for (const s of scripts) expect(existsSync(join(ROOT, s))).toBe(true);
    const vite = runs.find((r) => r.includes('vite.js build'))!;
    expect(vite).toMatch(/^cd web && /);
    expect(existsSync(join(ROOT, 'web', '..', 'node_modules', 'vite', 'bin', 'vite.js'))).toBe(true);
    // the runtime installs no dev dependency
    expect(
      of(
        'RUN',
        stages.find((s) => s.name === 'prod-deps'),
      )[0]!.args,
    ).toContain('--omit=dev');
  });

  it('sets only environment variables the code reads, the bundle where the build put it', () => {
    const env = of('ENV')
      .flatMap((e) => [...e.args.matchAll(/([A-Z_][A-Z0-9_]*)=(\S+)/g)])
      .map((m) => [m[1]!, m[2]!] as const);
    for (const [k] of env) expect({ k, read: ENV.has(k) }).toEqual({ k, read: true });
    expect(Object.fromEntries(env)).toMatchObject({
      NODE_ENV: 'production',
      WORKFLOW_BUNDLE_PATH: '/app/dist/workflow-bundle.js',
      SATMACHINE_CONSOLE_DIR: '/app/web/dist',
    });
  });

  it('has a .dockerignore that keeps local state and secrets out of the build context', () => {
    const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n');
    for (const p of ['node_modules', '.data', '.tools', '.git', '.env', 'deploy/.env'])
      expect(ignored).toContain(p);
  });
});

/** node -e "fetch('http://127.0.0.1:<port><path>' …": the URL a healthcheck asks. */
function healthUrl(s: ComposeService): URL {
  const cmd = s.healthcheck!.test;
  expect(cmd.slice(0, 3)).toEqual(['CMD', 'node', '-e']);
  return new URL(/fetch\('([^']+)'/.exec(cmd[3]!)![1]!);
}

describe('deploy/compose.yml', () => {
  const file = join(DEPLOY, 'compose.yml');
  const { services, text } = loadCompose(file);
  const ours = Object.entries(services).filter(([, s]) => s.build?.dockerfile === 'deploy/Dockerfile');

  it('has PostgreSQL, the Temporal server with one-shot set-ups and its UI, a relay and satmachine’s parts', () => {
    expect(Object.keys(services).sort()).toEqual(
      [
        'postgresql',
        'temporal-schema',
        'temporal',
        'temporal-setup',
        'temporal-ui',
        'migrate',
        'relay',
        'api',
        'worker',
        'ingest',
      ].sort(),
    );
    expect(services.temporal!.image).toMatch(/^temporalio\/server:/);
    expect(services['temporal-schema']!.image).toMatch(/^temporalio\/admin-tools:/);
    expect(services['temporal-setup']!.image).toMatch(/^temporalio\/admin-tools:/);
    expect(services['temporal-ui']!.image).toMatch(/^temporalio\/ui:/);
    expect(text).not.toContain('auto-setup');
  });

  it('runs every satmachine part from the one image, each as a sub-command of the CLI', () => {
    expect(ours.map(([n]) => n).sort()).toEqual(['api', 'ingest', 'migrate', 'relay', 'worker']);
    for (const [name, s] of ours) {
      expect(existsSync(resolve(dirname(file), s.build!.context, s.build!.dockerfile))).toBe(true);
      expect(s.command).toEqual([name]);
      expect(SUBCOMMANDS).toContain(name);
    }
  });

  it('orders start-up with depends_on conditions that the targets can meet', () => {
    for (const [name, s] of Object.entries(services)) {
      for (const [dep, { condition }] of Object.entries(s.depends_on ?? {})) {
        const target = services[dep];
        expect({ name, dep, exists: !!target }).toEqual({ name, dep, exists: true });
        if (condition === 'service_healthy')
          expect({ dep, healthcheck: !!target!.healthcheck }).toEqual({ dep, healthcheck: true });
        if (condition === 'service_completed_successfully')
          expect({ dep, oneShot: target!.restart }).toEqual({ dep, oneShot: 'no' });
      }
    }
    const cond = (svc: string, dep: string) => services[svc]!.depends_on?.[dep]?.condition;
    expect(cond('temporal-schema', 'postgresql')).toBe('service_healthy');
    expect(cond('temporal', 'temporal-schema')).toBe('service_completed_successfully');
    expect(cond('temporal-setup', 'temporal')).toBe('service_healthy');
    expect(cond('migrate', 'postgresql')).toBe('service_healthy');
    for (const svc of ['api', 'worker', 'ingest']) {
      expect(cond(svc, 'migrate')).toBe('service_completed_successfully');
      expect(cond(svc, 'temporal-setup')).toBe('service_completed_successfully');
    }
    expect(cond('relay', 'migrate')).toBe('service_completed_successfully');
    expect(cond('ingest', 'relay')).toBe('service_healthy');
  });

  it('health-checks the API on /readyz, worker and ingest on /healthz of their METRICS_PORT, the relay by NIP-11', () => {
    const api = healthUrl(services.api!);
    expect(api.pathname).toBe('/readyz');
    expect(api.port).toBe(String(services.api!.environment!.PORT));
    expect(services.api!.ports).toContain(`127.0.0.1:${api.port}:${api.port}`);
    for (const svc of ['worker', 'ingest']) {
      const u = healthUrl(services[svc]!);
      expect(u.pathname).toBe('/healthz');
      expect(u.port).toBe(String(services[svc]!.environment!.METRICS_PORT));
    }
    expect(services.worker!.environment!.METRICS_PORT).not.toBe(services.ingest!.environment!.METRICS_PORT);
    const relay = healthUrl(services.relay!);
    expect(relay.port).toBe(String(services.relay!.environment!.RELAY_PORT));
    expect(services.relay!.healthcheck!.test[3]).toContain('application/nostr+json');
    expect(services.relay!.ports).toContain(`${relay.port}:${relay.port}`);
    // the parts reach the relay and Temporal by service name on those ports
    expect(services.api!.environment!.NOSTR_RELAYS).toBe(`\${NOSTR_RELAYS:-ws://relay:${relay.port}}`);
    expect(services.api!.environment!.TEMPORAL_ADDRESS).toBe('temporal:7233');
    expect(services.postgresql!.healthcheck!.test.join(' ')).toContain('pg_isready');
  });

  it('gives satmachine only environment variables its code reads', () => {
    for (const [name, s] of ours)
      for (const k of Object.keys(s.environment ?? {}))
        expect({ name, k, read: ENV.has(k) }).toEqual({ name, k, read: true });
  });

  it('documents every variable it interpolates in deploy/.env.example, and requires the secrets', () => {
    const example = readFileSync(join(DEPLOY, '.env.example'), 'utf8');
    const documented = new Set([...example.matchAll(/^([A-Z_][A-Z0-9_]*)=/gm)].map((m) => m[1]!));
    for (const v of interpolatedVariables(text))
      expect({ v, documented: documented.has(v) }).toEqual({ v, documented: true });
    for (const secret of ['POSTGRES_PASSWORD', 'SATMACHINE_SECRET_KEY', 'PUBLIC_URL'])
      expect(text).toContain(`\${${secret}:?`);
  });

  it('mounts only files that exist; the set-up scripts register every search attribute', () => {
    for (const s of Object.values(services))
      for (const v of s.volumes ?? []) {
        if (!v.startsWith('.')) continue;
        expect({ v, exists: existsSync(resolve(dirname(file), v.split(':')[0]!)) }).toEqual({
          v,
          exists: true,
        });
      }
    const setup = readFileSync(join(DEPLOY, 'temporal', 'setup-namespace.sh'), 'utf8');
    for (const sa of SEARCH_ATTRIBUTES) expect(setup).toContain(sa.name);
    expect(setup).toContain('--type Keyword');
    const schema = readFileSync(join(DEPLOY, 'temporal', 'setup-schema.sh'), 'utf8');
    for (const step of ['create-database', 'setup-schema -v 0.0', 'update-schema'])
      expect(schema).toContain(step);
  });

  it('gives the Temporal server our dynamic config: eager activities, update-with-start', () => {
    const dyn = parse(readFileSync(join(DEPLOY, 'temporal', 'dynamicconfig.yaml'), 'utf8')) as Record<
      string,
      { value: unknown }[]
    >;
    for (const [k, v] of Object.entries(DEFAULT_DYNAMIC_CONFIG)) expect(dyn[k]).toEqual([{ value: v }]);
    expect(dyn['frontend.enableExecuteMultiOperation']).toEqual([{ value: true }]);
    const mount = services.temporal!.volumes!.find((v) => v.includes('dynamicconfig'))!;
    expect(mount.split(':')[1]).toBe(services.temporal!.environment!.DYNAMIC_CONFIG_FILE_PATH);
  });
});

describe('deploy/systemd', () => {
  const dir = join(DEPLOY, 'systemd');
  const units = Object.fromEntries(
    readdirSync(dir)
      .filter((f) => f.endsWith('.service'))
      .map((f) => [f.replace(/^satmachine-|\.service$/g, ''), parseUnit(readFileSync(join(dir, f), 'utf8'))]),
  );

  it('has a unit per part, each starting a sub-command of the CLI as a non-root user', () => {
    expect(Object.keys(units).sort()).toEqual(['api', 'ingest', 'migrate', 'relay', 'worker']);
    for (const [name, u] of Object.entries(units)) {
      const exec = u.Service!.ExecStart![0]!.split(/\s+/);
      expect(exec.slice(0, 3)).toEqual(['/usr/bin/node', '--import', 'tsx']);
      expect(exec[3]).toBe('/opt/satmachine/src/cli/main.ts');
      expect(existsSync(join(ROOT, exec[3]!.replace('/opt/satmachine/', '')))).toBe(true);
      expect(exec[4]).toBe(name);
      expect(SUBCOMMANDS).toContain(name);
      expect(u.Service!.User).toEqual(['satmachine']);
      expect(u.Service!.EnvironmentFile).toEqual(['/etc/satmachine/env']);
      expect(u.Service!.WorkingDirectory).toEqual(['/opt/satmachine']);
      for (const e of u.Service!.Environment ?? []) {
        const k = e.split('=')[0]!;
        expect({ name, k, read: ENV.has(k) }).toEqual({ name, k, read: true });
      }
    }
  });

  it('runs migrate once before the others, which restart on failure', () => {
    expect(units.migrate!.Service!.Type).toEqual(['oneshot']);
    expect(units.migrate!.Service!.RemainAfterExit).toEqual(['true']);
    for (const name of ['api', 'worker', 'ingest', 'relay']) {
      const u = units[name]!;
      expect(u.Service!.Restart).toEqual(['on-failure']);
      expect(u.Unit!.Requires).toContain('satmachine-migrate.service');
      expect(u.Unit!.After!.join(' ')).toContain('satmachine-migrate.service');
      expect(units.migrate!.Unit!.Before!.join(' ')).toContain(`satmachine-${name}.service`);
    }
    expect(units.worker!.Service!.Environment).toContain('METRICS_PORT=9464');
    expect(units.ingest!.Service!.Environment).toContain('METRICS_PORT=9465');
  });

  it('passes systemd-analyze verify (keys, ordering, executables)', () => {
    const r = spawnSync(
      'systemd-analyze',
      ['verify', ...readdirSync(dir).filter((f) => f.endsWith('.service'))],
      {
        cwd: dir,
        encoding: 'utf8',
        timeout: 60_000,
      },
    );
    if (r.error)
      throw new Error(`systemd-analyze: ${r.error.message} (Debian's systemd package provides it)`);
    expect({ status: r.status, stderr: r.stderr.trim() }).toEqual({ status: 0, stderr: '' });
  });

  it('ships an environment file example of variables the code reads', () => {
    const example = readFileSync(join(dir, 'env.example'), 'utf8');
    const keys = [...example.matchAll(/^([A-Z_][A-Z0-9_]*)=/gm)].map((m) => m[1]!);
    expect(keys).toEqual(
      expect.arrayContaining(['DATABASE_URL', 'TEMPORAL_ADDRESS', 'SATMACHINE_SECRET_KEY']),
    );
    // METRICS_PORT differs per unit: the file (which overrides Environment=) must not set it
    expect(keys).not.toContain('METRICS_PORT');
    for (const k of keys) expect({ k, read: ENV.has(k) }).toEqual({ k, read: true });
  });
});
