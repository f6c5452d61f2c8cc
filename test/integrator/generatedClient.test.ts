import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSecretKey, getPublicKey } from 'nostr-tools/pure';
import { createUserWithKey } from '../../src/api/userAccounts';
import { type TestApi } from '../helpers/api';
import { secretBox } from '../helpers/fixtures';
import { startApiStack, type ApiStack } from '../helpers/testStack';
import { apiClient, createOperator, machineById, registerMachine } from './client';

const ROOT = join(__dirname, '..', '..');
const CLIENT_TS = join(__dirname, 'client.ts');

function run(args: string[], cwd = ROOT) {
  const r = spawnSync(process.execPath, args, { cwd, encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

/** tsc on `source` (client.ts, or a variant of it) against types generated into `dir`. */
function typecheck(dir: string, source: string) {
  writeFileSync(join(dir, 'client.ts'), source.replace("'../../web/src/api/schema'", "'./api'"));
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        module: 'esnext',
        moduleResolution: 'bundler',
        strict: true,
        noEmit: true,
        skipLibCheck: true,
        lib: ['ES2022', 'DOM'],
        types: [],
        paths: { 'openapi-fetch': [join(ROOT, 'node_modules', 'openapi-fetch', 'dist', 'index.d.mts')] },
      },
      files: ['client.ts'],
    }),
  );
  return run([join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(dir, 'tsconfig.json')]);
}

/**
 * Issue 19 item 8: an integrator generates a client from the published OpenAPI
 * document (openapi-typescript CLI, default options) and calls the API with
 * openapi-fetch. test/integrator/client.ts must type-check against those freshly
 * generated types, and its three calls (createUser, createMachine, getMachine) work
 * against a real API on a fresh database.
 */
describe('a client generated from the OpenAPI document', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'satmachine-integrator-'));
    const gen = run([
      join(ROOT, 'node_modules', 'openapi-typescript', 'bin', 'cli.js'),
      join(ROOT, 'web', 'src', 'api', 'openapi.json'),
      '-o',
      join(dir, 'api.d.ts'),
    ]);
    if (gen.status !== 0) throw new Error(`openapi-typescript failed:\n${gen.out}`);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('names operations and schemas: operations.listMachines, components.schemas.Machine', () => {
    const dts = readFileSync(join(dir, 'api.d.ts'), 'utf8');
    expect(dts).toMatch(/\blistMachines: \{/);
    expect(dts).toMatch(/\bMachine: \{/);
    expect(dts).toContain('components["schemas"]["Machine"]');
  });

  it('type-checks test/integrator/client.ts', () => {
    const r = typecheck(dir, readFileSync(CLIENT_TS, 'utf8'));
    expect(r.out).toBe('');
    expect(r.status).toBe(0);
  });

  it('and the types have teeth: a wrong body or an unknown path does not type-check', () => {
    const source = readFileSync(CLIENT_TS, 'utf8');
    const wrongBody = source.replace("fiat_code: 'EUR'", 'fiat_code: 978');
    expect(wrongBody).not.toBe(source);
    const r1 = typecheck(dir, wrongBody);
    expect(r1.status).not.toBe(0);
    expect(r1.out).toContain("Type 'number' is not assignable to type 'string'");
    const wrongPath = source.replace("'/api/v1/machines/{id}'", "'/api/v1/machine/{id}'");
    expect(wrongPath).not.toBe(source);
    const r2 = typecheck(dir, wrongPath);
    expect(r2.status).not.toBe(0);
    expect(r2.out).toContain('/api/v1/machine/{id}');
  });

  describe('against a real API', () => {
    let stack: ApiStack;
    let db: ApiStack['db'];
    let api: TestApi;
    beforeAll(async () => {
      stack = await startApiStack();
      ({ db, api } = stack);
    });
    afterAll(async () => {
      await stack.stop();
    });

    it('createUser, createMachine and getMachine answer what the types say; tenants stay isolated', async () => {
      const superKey = (await createUserWithKey(db.pool, secretBox, { role: 'super', name: 'root' })).api_key;
      const root = apiClient(api.url, superKey);
      const op = await createOperator(root, 'integrator');
      expect(op.apiKey).toMatch(/^sm_/);
      const other = await createOperator(root, 'someone else');

      const pubkey = getPublicKey(generateSecretKey());
      const mine = apiClient(api.url, op.apiKey);
      const machine = await registerMachine(mine, pubkey);
      expect(machine).toMatchObject({
        operator_user_id: op.id,
        machine_pubkey_hex: pubkey,
        fiat_code: 'EUR',
        key_state: 'unverified',
      });
      expect(await machineById(mine, machine.id)).toEqual(machine);
      // another operator's machine is a 404, which the client reports as null
      expect(await machineById(apiClient(api.url, other.apiKey), machine.id)).toBeNull();
      // a bad key: the typed error path
      await expect(createOperator(apiClient(api.url, 'sm_not-a-key'), 'x')).rejects.toThrow(
        /createUser failed \(401\)/,
      );
    });
  });
});
