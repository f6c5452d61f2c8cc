import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { randomBytes } from 'node:crypto';
import { TEST_SECRET_KEY } from '../helpers/stack';

const run = promisify(execFile);
const MAIN = join(__dirname, '..', '..', 'src', 'cli', 'main.ts');

/** The CLI as an operator runs it: `migrate` (twice) and `users create` on an empty database. */
describe('satmachine CLI', () => {
  const name = `cli_${randomBytes(5).toString('hex')}`;
  const admin = process.env.SATMACHINE_TEST_PG_URL!;
  const url = admin.replace(/\/postgres$/, `/${name}`);
  const env = {
    ...process.env,
    DATABASE_URL: url,
    SATMACHINE_SECRET_KEY: TEST_SECRET_KEY,
    LOG_LEVEL: 'info',
    NODE_ENV: 'production',
  };
  const cli = (...args: string[]) => run(process.execPath, ['--import', 'tsx', MAIN, ...args], { env });

  beforeAll(async () => {
    const c = new pg.Client({ connectionString: admin });
    await c.connect();
    await c.query(`CREATE DATABASE ${name}`);
    await c.end();
  });
  afterAll(async () => {
    const c = new pg.Client({ connectionString: admin });
    await c.connect();
    await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await c.end();
  });

  it('migrate applies the schema, and a second run is a no-op', async () => {
    const first = await cli('migrate');
    expect(first.stdout).toContain('migrations applied');
    expect(first.stdout).toContain('0001_schema');
    const second = await cli('migrate');
    expect(second.stdout).toContain('schema up to date');
    expect(second.stdout).toContain('"applied":[]');
  });

  it('users create prints the API key once; --json prints one line {user, api_key}', async () => {
    const { stdout } = await cli('users', 'create', '--role', 'super', '--name', 'admin', '--json');
    const lines = stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const out = JSON.parse(lines[0]!);
    expect(out.user).toMatchObject({ role: 'super', name: 'admin' });
    expect(out.api_key).toMatch(/^sm_/);
    const human = await cli('users', 'create', '--role', 'operator', '--name', 'op one');
    expect(human.stdout).toMatch(/created operator "op one"/);
    expect(human.stdout).toMatch(/nostr pubkey: [0-9a-f]{64}/);
    expect(human.stdout).toMatch(/API key \(shown once, keep it safe\): sm_/);
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    const { rows } = await c.query(`SELECT nostr_secret_enc FROM satmachine.users WHERE name = 'op one'`);
    await c.end();
    expect(rows[0].nostr_secret_enc).toMatch(/^v2\./); // sealed at rest, bound to its row
  });

  it('users key issues another key to a user who lost theirs; unknown users are refused', async () => {
    const made = JSON.parse(
      (await cli('users', 'create', '--role', 'lp', '--name', 'forgetful', '--json')).stdout,
    );
    const out = JSON.parse((await cli('users', 'key', '--user', made.user.id, '--json')).stdout);
    expect(out).toMatchObject({ user_id: made.user.id, api_key: expect.stringMatching(/^sm_/) });
    expect(out.api_key).not.toBe(made.api_key);
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    const { rows } = await c.query(`SELECT count(*)::int AS n FROM satmachine.api_keys WHERE user_id = $1`, [
      made.user.id,
    ]);
    await c.end();
    expect(rows[0].n).toBe(2);
    await expect(cli('users', 'key', '--user', 'nobody')).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringContaining('no user nobody'),
    });
  });

  it('refuses bad arguments with a clear message and exit code 1', async () => {
    await expect(cli('users', 'create', '--role', 'king', '--name', 'x')).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringContaining('--role must be one of super, operator, lp'),
    });
    await expect(cli('frobnicate')).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringContaining('unknown command'),
    });
  });
});
