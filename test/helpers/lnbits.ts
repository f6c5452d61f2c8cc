/**
 * A real LNbits for the LNbits backend's tests: installed by scripts/install-lnbits.sh
 * (pinned, from PyPI, into .tools/lnbits-venv), run with the FakeWallet funding source
 * on a free port with a throwaway data folder, first install finished through its API.
 * Users and wallets are made through its API, machine wallets funded the way an LNbits
 * admin does (its admin top-up). Also: a local LNURL-pay server standing in for a remote
 * Lightning address, and a proxy that loses LNbits' answers to payments.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LnbitsClient } from '../../src/payments/lnbitsClient';
import { runInstallScript } from './installScript';
import { freePort } from './ports';

/** Installs LNbits when needed; a failure fails the suite (never a silent skip). */
export function ensureLnbitsInstalled(): string {
  return runInstallScript(
    'install-lnbits.sh',
    'LNbits could not be installed, so the LNbits backend tests cannot run (they fail rather than skip).',
  );
}

export interface TestLnbitsWallet {
  id: string;
  name: string;
  adminKey: string;
  invoiceKey: string;
  /** the LNbits user's access token (to reset keys) */
  userToken: string;
}

async function json(res: Response, what: string): Promise<any> {
  const text = await res.text();
  if (!res.ok) throw new Error(`LNbits ${what}: HTTP ${res.status}: ${text.slice(0, 300)}`);
  return text ? JSON.parse(text) : null;
}

/** One LNbits server process; stop and start it again on the same port and data folder. */
export class TestLnbits {
  readonly url: string;
  readonly client: LnbitsClient;
  private proc: ChildProcess | null = null;
  private adminToken = '';
  private logTail: string[] = [];

  private constructor(
    private readonly venv: string,
    private readonly sitePackages: string,
    readonly port: number,
    readonly dataDir: string,
  ) {
    this.url = `http://127.0.0.1:${port}`;
    this.client = new LnbitsClient(this.url);
  }

  static async start(): Promise<TestLnbits> {
    const venv = ensureLnbitsInstalled();
    const lib = join(venv, 'lib');
    const py = readdirSync(lib).find((d) => d.startsWith('python3'));
    if (!py) throw new Error(`no python3.* under ${lib}`);
    const dataDir = mkdtempSync(join(process.env.SATMACHINE_TEST_DIR ?? tmpdir(), 'lnbits-'));
    const lnbits = new TestLnbits(venv, join(lib, py, 'site-packages'), await freePort(), dataDir);
    await lnbits.run();
    await lnbits.firstInstall();
    return lnbits;
  }

  get running(): boolean {
    return this.proc !== null;
  }

  /** Starts the server (again) and waits until it answers. */
  async run(): Promise<void> {
    if (this.proc) return;
    const started = Date.now();
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      LNBITS_DATA_FOLDER: this.dataDir,
      LNBITS_EXTENSIONS_PATH: join(this.dataDir, 'ext'),
      LNBITS_BACKEND_WALLET_CLASS: 'FakeWallet',
      LNBITS_ADMIN_UI: 'true',
      HOST: '127.0.0.1',
      PORT: String(this.port),
      LNBITS_BASEURL: `${this.url}/`,
      // the tests make many calls a minute
      LNBITS_RATE_LIMIT_NO: '1000000',
      // no API key cache: LNbits 1.6 caches a key's wallet for 10 minutes, and a request
      // racing a key reset (it clears the cache, then writes the new keys) caches the old
      // key again, which then keeps working for those 10 minutes (11 of 20 resets under a
      // poll loop here). The key-reset test would then wait on LNbits' cache, not on us.
      AUTH_AUTHENTICATION_CACHE_MINUTES: '0',
      // no outside calls: price feeds, extension manifests
      LNBITS_PRICE_AGGREGATOR_ENABLED: 'false',
      LNBITS_EXCHANGE_RATE_PROVIDERS: '[]',
      LNBITS_EXTENSIONS_MANIFESTS: '[]',
      LNBITS_WASM_EXTENSIONS_MANIFESTS: '[]',
      ENABLE_LOG_TO_FILE: 'false',
      DEBUG: 'false',
    };
    // uvicorn directly (the `lnbits` command forks a child that outlives a stop); LNbits
    // finds its static files relative to the working directory: site-packages
    const proc = spawn(
      join(this.venv, 'bin', 'python'),
      [
        '-m',
        'uvicorn',
        'lnbits.__main__:app',
        '--host',
        '127.0.0.1',
        '--port',
        String(this.port),
        '--log-level',
        'warning',
      ],
      { cwd: this.sitePackages, env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.proc = proc;
    // never outlive the test process, even when it dies without closing us
    const reap = () => proc.kill('SIGKILL');
    process.once('exit', reap);
    proc.once('exit', () => process.off('exit', reap));
    const keep = (chunk: Buffer) => {
      this.logTail.push(...chunk.toString().split('\n').filter(Boolean));
      if (this.logTail.length > 60) this.logTail.splice(0, this.logTail.length - 60);
    };
    proc.stdout.on('data', keep);
    proc.stderr.on('data', keep);
    let exited: string | null = null;
    proc.once('exit', (code, signal) => {
      exited = `exited (${code ?? signal})`;
      if (this.proc === proc) this.proc = null;
    });
    for (;;) {
      if (exited) throw new Error(`LNbits ${exited} while starting:\n${this.logTail.join('\n')}`);
      if (Date.now() - started > 90_000) {
        throw new Error(`LNbits did not answer within 90 s:\n${this.logTail.join('\n')}`);
      }
      try {
        const res = await fetch(`${this.url}/api/v1/health`, { redirect: 'manual' });
        await res.text();
        if (res.status < 500) break;
      } catch {
        /* not yet */
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    process.stderr.write(`[lnbits] ${this.url} up in ${Date.now() - started} ms\n`);
  }

  /** Stops the server: SIGKILL by default (a crash), SIGTERM for a clean stop. */
  async stop(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const proc = this.proc;
    if (!proc) return;
    this.proc = null;
    await new Promise<void>((resolve) => {
      if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
      proc.once('exit', () => resolve());
      proc.kill(signal);
    });
  }

  async close(): Promise<void> {
    await this.stop('SIGTERM');
    rmSync(this.dataDir, { recursive: true, force: true });
  }

  private async firstInstall(): Promise<void> {
    const res = await fetch(`${this.url}/api/v1/auth/first_install`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        username: 'admin',
        password: 'satmachine-admin',
        password_repeat: 'satmachine-admin',
      }),
    });
    this.adminToken = (await json(res, 'first install')).access_token as string;
  }

  /** A new LNbits user (username and password) with one wallet. */
  async createWallet(name: string): Promise<TestLnbitsWallet> {
    const username = `u${randomBytes(6).toString('hex')}`;
    const reg = await json(
      await fetch(`${this.url}/api/v1/auth/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username, password: 'satmachine-test', password_repeat: 'satmachine-test' }),
      }),
      'register',
    );
    const token = reg.access_token as string;
    const w = await json(
      await fetch(`${this.url}/api/v1/wallet`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ name }),
      }),
      'create wallet',
    );
    return { id: w.id, name, adminKey: w.adminkey, invoiceKey: w.inkey, userToken: token };
  }

  /** The admin's top-up (Users → wallet → balance in the LNbits admin UI). */
  async topUp(walletId: string, sats: number): Promise<void> {
    await json(
      await fetch(`${this.url}/users/api/v1/balance`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${this.adminToken}` },
        body: JSON.stringify({ id: walletId, amount: sats }),
      }),
      'top-up',
    );
  }

  /** "Reset keys" of a wallet in LNbits: the old keys stop working. */
  async resetKeys(w: TestLnbitsWallet): Promise<TestLnbitsWallet> {
    const r = await json(
      await fetch(`${this.url}/api/v1/wallet/reset/${w.id}`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${w.userToken}` },
      }),
      'reset keys',
    );
    return { ...w, adminKey: r.adminkey, invoiceKey: r.inkey };
  }

  async balanceSats(w: TestLnbitsWallet): Promise<number> {
    const b = await this.client.wallet(w.invoiceKey);
    if (b.balance % 1000 !== 0) throw new Error(`balance of ${w.name} is ${b.balance} msat: not whole sats`);
    return b.balance / 1000;
  }

  /** Settled outgoing payments of a wallet (what it really paid). */
  async outgoingPayments(w: TestLnbitsWallet): Promise<{ payment_hash: string; amount_sats: number }[]> {
    const list = await this.client.settledPayments(w.invoiceKey, { limit: 1000, offset: 0 });
    return list
      .filter((p) => p.amount < 0)
      .map((p) => ({ payment_hash: p.payment_hash, amount_sats: -p.amount / 1000 }));
  }

  /** An invoice of `to` (as an ATM would create on its machine wallet), paid from `from`. */
  async pay(from: TestLnbitsWallet, to: TestLnbitsWallet, sats: number, memo = 'test'): Promise<string> {
    const inv = await this.client.createInvoice(to.invoiceKey, { amountSats: sats, memo });
    const paid = await this.client.payInvoice(from.adminKey, inv.bolt11);
    if (paid.status !== 'success') throw new Error(`payment of ${sats} sats is ${paid.status}`);
    return inv.payment_hash;
  }

  logs(): string {
    return this.logTail.join('\n');
  }

  /**
   * Runs SQL on LNbits' own SQLite database (its payments table: `apipayments`), with
   * LNbits' Python; the rows as objects. For evidence and for faults LNbits' API cannot make.
   */
  sql<R = Record<string, unknown>>(query: string): R[] {
    const script = [
      'import json, sqlite3, sys',
      'c = sqlite3.connect(sys.argv[1], timeout=30)',
      'c.row_factory = sqlite3.Row',
      'rows = [dict(r) for r in c.execute(sys.argv[2]).fetchall()]',
      'c.commit()',
      'print(json.dumps(rows))',
    ].join('\n');
    const out = execFileSync(
      join(this.venv, 'bin', 'python'),
      ['-c', script, join(this.dataDir, 'database.sqlite3'), query],
      { encoding: 'utf8' },
    );
    return JSON.parse(out) as R[];
  }
}

export type LnurlMode = 'ok' | 'wrong_amount' | 'wrong_description_hash';

/**
 * A Lightning address server (LUD-16 / LNURL-pay) on 127.0.0.1: each name is an
 * LNbits wallet; the callback creates the invoice in that wallet (so the payment
 * really lands), or a wrong one on purpose.
 */
export class TestLnurlServer {
  private readonly names = new Map<string, { wallet: TestLnbitsWallet; mode: LnurlMode }>();
  readonly requests: string[] = [];

  private constructor(
    private readonly server: Server,
    private readonly lnbits: TestLnbits,
  ) {}

  static async start(lnbits: TestLnbits): Promise<TestLnurlServer> {
    let self: TestLnurlServer | null = null;
    const server = createServer((req, res) => {
      void self!.handle(req).then(
        ({ status, body }) => {
          res.writeHead(status, { 'content-type': 'application/json' });
          res.end(JSON.stringify(body));
        },
        (err: Error) => {
          res.writeHead(500, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ status: 'ERROR', reason: err.message }));
        },
      );
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    self = new TestLnurlServer(server, lnbits);
    return self;
  }

  get domain(): string {
    return `127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** A Lightning address name@127.0.0.1:port whose payments land in `wallet`. */
  address(name: string, wallet: TestLnbitsWallet, mode: LnurlMode = 'ok'): string {
    this.names.set(name, { wallet, mode });
    return `${name}@${this.domain}`;
  }

  setMode(name: string, mode: LnurlMode): void {
    this.names.get(name)!.mode = mode;
  }

  private metadata(name: string): string {
    return JSON.stringify([
      ['text/plain', `satmachine test payment to ${name}`],
      ['text/identifier', `${name}@${this.domain}`],
    ]);
  }

  private async handle(req: IncomingMessage): Promise<{ status: number; body: unknown }> {
    const url = new URL(req.url ?? '/', `http://${this.domain}`);
    this.requests.push(url.pathname + url.search);
    const wellKnown = /^\/\.well-known\/lnurlp\/([^/]+)$/.exec(url.pathname);
    const callback = /^\/lnurlp\/callback\/([^/]+)$/.exec(url.pathname);
    const name = decodeURIComponent((wellKnown ?? callback)?.[1] ?? '');
    const entry = this.names.get(name);
    if (!entry) return { status: 404, body: { status: 'ERROR', reason: `no such user ${name}` } };
    if (wellKnown) {
      return {
        status: 200,
        body: {
          tag: 'payRequest',
          callback: `http://${this.domain}/lnurlp/callback/${encodeURIComponent(name)}`,
          minSendable: 1_000,
          maxSendable: 100_000_000,
          metadata: this.metadata(name),
          commentAllowed: 100,
        },
      };
    }
    const msat = Number(url.searchParams.get('amount'));
    if (!Number.isSafeInteger(msat) || msat % 1000 !== 0) {
      return { status: 200, body: { status: 'ERROR', reason: 'amount must be whole sats' } };
    }
    const sats = msat / 1000 + (entry.mode === 'wrong_amount' ? 1 : 0);
    const metadata =
      entry.mode === 'wrong_description_hash' ? `${this.metadata(name)} ` : this.metadata(name);
    const inv = await this.lnbits.client.createInvoice(entry.wallet.invoiceKey, {
      amountSats: sats,
      memo: `lnurl ${name}`,
      unhashedDescriptionHex: Buffer.from(metadata, 'utf8').toString('hex'),
    });
    return { status: 200, body: { pr: inv.bolt11, routes: [] } };
  }

  close(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }
}

/**
 * An HTTP proxy in front of LNbits that can lose the answer to a payment after
 * LNbits carried it out (a connection reset at the worst moment), and run a hook
 * then (e.g. stop LNbits). Everything else passes through; LNbits down → 502.
 */
export class LossyProxy {
  /** pay requests seen (POST /api/v1/payments with out: true) */
  payRequests = 0;
  /** lose the answer of these pay requests (1-based) */
  readonly loseAnswerOf = new Set<number>();
  onLostAnswer: ((n: number) => Promise<void>) | null = null;

  private constructor(
    private readonly server: Server,
    private readonly target: URL,
  ) {}

  static async start(targetUrl: string): Promise<LossyProxy> {
    let self: LossyProxy | null = null;
    const server = createServer((req, res) => self!.handle(req, res));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    self = new LossyProxy(server, new URL(targetUrl));
    return self;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  private handle(req: IncomingMessage, res: import('node:http').ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      let n = 0;
      if (req.method === 'POST' && req.url?.startsWith('/api/v1/payments')) {
        try {
          if ((JSON.parse(body.toString()) as { out?: boolean }).out === true) n = ++this.payRequests;
        } catch {
          /* not JSON */
        }
      }
      const up = httpRequest(
        {
          host: this.target.hostname,
          port: this.target.port,
          method: req.method,
          path: req.url,
          headers: { ...req.headers, host: this.target.host },
        },
        (upRes) => {
          const parts: Buffer[] = [];
          upRes.on('data', (c: Buffer) => parts.push(c));
          upRes.on('end', () => {
            if (n && this.loseAnswerOf.has(n)) {
              // LNbits answered; the caller never hears it
              void (this.onLostAnswer?.(n) ?? Promise.resolve()).finally(() => req.socket.destroy());
              return;
            }
            res.writeHead(upRes.statusCode ?? 502, upRes.headers);
            res.end(Buffer.concat(parts));
          });
        },
      );
      up.on('error', (err) => {
        if (res.headersSent) return req.socket.destroy();
        res.writeHead(502, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ detail: `proxy: LNbits unreachable (${err.message})` }));
      });
      up.end(body);
    });
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }
}
