/**
 * The LNURL resolver against real local HTTP servers: the address policy (loopback refused
 * unless the test-only allowance is given, per call), no redirect followed, the answer's size
 * and time capped. Nothing here is paid: fetchPayParams / requestInvoice only.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  fetchPayParams,
  lightningAddressProblem,
  LNURL_MAX_BODY_BYTES,
  requestInvoice,
  type LnurlPayParams,
} from '../../src/payments/lnurl';

const ALLOW = { allowLoopback: true };

interface Local {
  server: Server;
  port: number;
  domain: string;
  requests: string[];
  close(): Promise<void>;
}

async function serve(
  handler: (req: IncomingMessage, res: ServerResponse, self: Local) => void,
): Promise<Local> {
  const self = { requests: [] as string[] } as unknown as Local;
  const sockets = new Set<import('node:net').Socket>();
  const server = createServer((req, res) => {
    self.requests.push(req.url ?? '');
    handler(req, res, self);
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  self.server = server;
  self.port = (server.address() as AddressInfo).port;
  self.domain = `127.0.0.1:${self.port}`;
  self.close = () =>
    new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    });
  return self;
}

const payRequest = (domain: string, callback = `http://${domain}/cb`) => ({
  tag: 'payRequest',
  callback,
  minSendable: 1000,
  maxSendable: 1_000_000,
  metadata: '[["text/plain","x"]]',
});

const json = (res: ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};

describe('LNURL resolution is guarded (SSRF)', () => {
  const servers: Local[] = [];
  const start = async (h: Parameters<typeof serve>[0]) => {
    const s = await serve(h);
    servers.push(s);
    return s;
  };
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.close()));
  });

  it('refuses an address on 127.0.0.1 without the test-only allowance (nothing is requested); fetches it with it', async () => {
    const ok = await start((_req, res, self) => json(res, 200, payRequest(self.domain)));
    await expect(fetchPayParams(`alice@${ok.domain}`)).rejects.toMatchObject({
      name: 'PaymentRefusedError',
      code: 'forbidden_address',
      message: expect.stringContaining('127.0.0.1 is a loopback address (127.0.0.0/8)'),
    });
    await expect(fetchPayParams(`alice@localhost:${ok.port}`)).rejects.toMatchObject({
      code: 'forbidden_address',
      message: expect.stringMatching(
        /localhost resolves to (127\.0\.0\.1|::1), which is a loopback|the loopback/,
      ),
    });
    expect(ok.requests).toEqual([]);
    const params = await fetchPayParams(`alice@${ok.domain}`, ALLOW);
    expect(params.minSendableMsat).toBe(1000n);
    expect(ok.requests).toEqual(['/.well-known/lnurlp/alice']);
    // a name goes through the connection's own lookup (every address checked, then connected to)
    await fetchPayParams(`alice@localhost:${ok.port}`, ALLOW);
    expect(ok.requests).toEqual(['/.well-known/lnurlp/alice', '/.well-known/lnurlp/alice']);
    expect(await lightningAddressProblem(`alice@${ok.domain}`)).toMatch(/loopback/);
    expect(await lightningAddressProblem(`alice@localhost:${ok.port}`)).toMatch(/loopback/);
    expect(await lightningAddressProblem(`alice@${ok.domain}`, ALLOW)).toBeNull();
    expect(await lightningAddressProblem('not an address')).toMatch(/is not a Lightning address/);
    // a domain DNS does not know cannot be judged now: not refused on save (paying checks again)
    expect(await lightningAddressProblem('alice@no-such-host.invalid')).toBeNull();
  });

  it('refuses a callback on a forbidden network, even with the loopback allowance', async () => {
    const s = await start((_req, res, self) => json(res, 200, payRequest(self.domain)));
    const params = await fetchPayParams(`bob@${s.domain}`, ALLOW);
    for (const callback of [
      'https://169.254.169.254/latest/meta-data',
      'https://10.0.0.1/cb',
      'https://[fd00::1]/cb',
      'https://[::ffff:a9fe:a9fe]/cb',
      'https://0.0.0.0/cb',
    ]) {
      const hostile: LnurlPayParams = { ...params, callback: new URL(callback) };
      await expect(requestInvoice(hostile, 5000n, '', ALLOW)).rejects.toMatchObject({
        code: 'forbidden_address',
      });
    }
  });

  it('follows no redirect: a redirect to 127.0.0.1 is refused and its target never asked', async () => {
    const target = await start((_req, res, self) => json(res, 200, payRequest(self.domain)));
    const redirecting = await start((_req, res) => {
      res.writeHead(302, { location: `http://${target.domain}/.well-known/lnurlp/carol` });
      res.end();
    });
    const err = await fetchPayParams(`carol@${redirecting.domain}`, ALLOW).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'PaymentRefusedError', code: 'lnurl_redirect' });
    expect((err as Error).message).toContain(`HTTP 302 to http://${target.domain}/`);
    expect(redirecting.requests).toEqual(['/.well-known/lnurlp/carol']);
    // the refusal came back after the redirect was answered: following it would have asked the target first
    expect(target.requests).toEqual([]);
    // the callback step likewise
    const params = await fetchPayParams(`carol@${target.domain}`, ALLOW);
    const viaRedirect: LnurlPayParams = { ...params, callback: new URL(`http://${redirecting.domain}/cb`) };
    await expect(requestInvoice(viaRedirect, 5000n, '', ALLOW)).rejects.toMatchObject({
      code: 'lnurl_redirect',
    });
    expect(target.requests).toEqual(['/.well-known/lnurlp/carol']);
  });

  it('refuses an answer over 64 KB, announced or streamed', async () => {
    const big = JSON.stringify({ ...payRequest('x'), padding: 'x'.repeat(LNURL_MAX_BODY_BYTES) });
    const announced = await start((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(big) });
      res.end(big);
    });
    const streamed = await start((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' }); // chunked: no length announced
      for (let i = 0; i < big.length; i += 4096) res.write(big.slice(i, i + 4096));
      res.end();
    });
    for (const s of [announced, streamed]) {
      await expect(fetchPayParams(`dave@${s.domain}`, ALLOW)).rejects.toMatchObject({
        name: 'PaymentRefusedError',
        code: 'lnurl_response_too_large',
        message: expect.stringContaining('answered more than 64 KB'),
      });
    }
    // just under the cap is read
    const fits = JSON.stringify(payRequest('x')).length;
    const under = await start((_req, res, self) => {
      const body = JSON.stringify({
        ...payRequest(self.domain),
        padding: 'x'.repeat(LNURL_MAX_BODY_BYTES - fits - 100),
      });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(body);
    });
    expect((await fetchPayParams(`dave@${under.domain}`, ALLOW)).maxSendableMsat).toBe(1_000_000n);
  });

  it('gives up on a server that does not answer, or answers too slowly, within the time cap (retryable)', async () => {
    const silent = await start(() => {
      /* never answers */
    });
    const trickle = await start((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{'); // then nothing more: the deadline covers the whole answer, not each byte
    });
    for (const s of [silent, trickle]) {
      await expect(fetchPayParams(`erin@${s.domain}`, { ...ALLOW, timeoutMs: 300 })).rejects.toMatchObject({
        name: 'LnurlUnavailableError',
        message: expect.stringContaining('no answer within 0.3 s'),
      });
    }
  });
});
