import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports';

const ROOT = join(__dirname, '..', '..');

/** Where scripts/install-stock-relay.sh puts nostr-rs-relay (NOSTR_RS_RELAY_BIN overrides). */
export function stockRelayBinary(): string {
  const bin =
    process.env.NOSTR_RS_RELAY_BIN ?? join(ROOT, '.tools', 'nostr-rs-relay', 'bin', 'nostr-rs-relay');
  if (!existsSync(bin))
    throw new Error(
      `nostr-rs-relay is not built (${bin} is missing): run \`bash scripts/install-stock-relay.sh\` ` +
        '(`npm test` does it through scripts/bootstrap.mjs), or set NOSTR_RS_RELAY_BIN.',
    );
  return bin;
}

const CONFIG_MARKER = '# nostr-rs-relay production config';

/** The production `config.toml` of docs/deploy.md: the ```toml block that starts with the marker line. */
export function productionRelayConfig(): string {
  const doc = readFileSync(join(ROOT, 'docs', 'deploy.md'), 'utf8');
  const start = doc.indexOf('```toml\n' + CONFIG_MARKER);
  if (start < 0) throw new Error(`docs/deploy.md has no \`\`\`toml block starting with "${CONFIG_MARKER}"`);
  const body = doc.slice(start + '```toml\n'.length);
  return body.slice(0, body.indexOf('```'));
}

function replaceOnce(config: string, pattern: RegExp, by: string, what: string): string {
  if (!pattern.test(config)) throw new Error(`the relay config has no ${what} to replace`);
  return config.replace(pattern, by);
}

/**
 * The production config with this test's port, data directory and whitelist swapped
 * in (nothing else changes). `whitelist: null` removes it: a relay open to any key.
 */
export function localConfig(
  config: string,
  o: { port: number; dataDir: string; whitelist: string[] | null },
): string {
  let c = replaceOnce(config, /^port = .*$/m, `port = ${o.port}`, 'port');
  c = replaceOnce(c, /^address = .*$/m, 'address = "127.0.0.1"', 'address');
  c = replaceOnce(
    c,
    /^data_directory = .*$/m,
    `data_directory = ${JSON.stringify(o.dataDir)}`,
    'data_directory',
  );
  c = replaceOnce(
    c,
    /^pubkey_whitelist = \[[^\]]*\]/m,
    o.whitelist ? `pubkey_whitelist = ${JSON.stringify(o.whitelist)}` : '',
    'pubkey_whitelist',
  );
  return c;
}

export interface StockRelay {
  url: string;
  httpUrl: string;
  port: number;
  dataDir: string;
  /** what the relay printed so far */
  output(): string;
  /** stops the process and starts it again on the same port and data, with a new whitelist */
  restart(whitelist: string[] | null): Promise<void>;
  stop(): Promise<void>;
}

/** The relay's NIP-11 document (GET with `Accept: application/nostr+json`). */
export async function relayInfo(httpUrl: string): Promise<Record<string, unknown>> {
  const res = await fetch(httpUrl, { headers: { accept: 'application/nostr+json' } });
  if (!res.ok) throw new Error(`NIP-11 request answered ${res.status}`);
  return (await res.json()) as Record<string, unknown>;
}

/**
 * A real nostr-rs-relay process on a free 127.0.0.1 port with a temporary data
 * directory, configured by docs/deploy.md's production config.
 */
export async function startStockRelay(o: { whitelist: string[] | null }): Promise<StockRelay> {
  const bin = stockRelayBinary();
  const port = await freePort();
  const dir = mkdtempSync(join(process.env.SATMACHINE_TEST_DIR ?? tmpdir(), 'nostr-rs-relay-'));
  const dataDir = join(dir, 'data');
  const configPath = join(dir, 'config.toml');
  const httpUrl = `http://127.0.0.1:${port}`;
  let out = '';
  let proc: ChildProcess | null = null;

  const launch = async (whitelist: string[] | null) => {
    writeFileSync(configPath, localConfig(productionRelayConfig(), { port, dataDir, whitelist }));
    mkdirSync(dataDir, { recursive: true });
    const p = spawn(bin, ['--config', configPath], {
      cwd: dir,
      env: { ...process.env, RUST_LOG: process.env.NOSTR_RS_RELAY_LOG ?? 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    proc = p;
    p.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    p.stderr.on('data', (d: Buffer) => (out += d.toString('utf8')));
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (p.exitCode !== null || p.signalCode !== null)
        throw new Error(`nostr-rs-relay exited (${p.exitCode ?? p.signalCode}):\n${out.slice(-3000)}`);
      try {
        await relayInfo(httpUrl);
        return;
      } catch {
        /* not listening yet */
      }
      if (Date.now() > deadline)
        throw new Error(`nostr-rs-relay did not answer on ${httpUrl}:\n${out.slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  const halt = async () => {
    const p = proc;
    proc = null;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise<void>((r) => p.once('exit', () => r()));
    p.kill('SIGINT');
    const timer = setTimeout(() => p.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };

  await launch(o.whitelist);
  return {
    url: `ws://127.0.0.1:${port}`,
    httpUrl,
    port,
    dataDir,
    output: () => out,
    restart: async (whitelist) => {
      await halt();
      await launch(whitelist);
    },
    stop: async () => {
      await halt();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
