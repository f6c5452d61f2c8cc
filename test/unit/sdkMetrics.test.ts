import { createServer, type Server } from 'node:http';
import { registry } from '../../src/metrics/registry';
import { sdkMetricsReader, sdkScrapeErrors } from '../../src/metrics/sdk';
import { startMetricsServer } from '../../src/metrics/server';
import { freePort } from '../helpers/ports';

const SDK_TEXT =
  '# HELP temporal_sticky_cache_size Current number of cached workflows\n' +
  '# TYPE temporal_sticky_cache_size gauge\n' +
  'temporal_sticky_cache_size{task_queue="q"} 3';

function listen(server: Server, port: number): Promise<void> {
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve()));
}

/** The worker's /metrics: our registry, then the Temporal SDK exporter's text (real HTTP both sides). */
describe('SDK metrics appended to /metrics', () => {
  let sdk: Server;
  let sdkPort: number;
  let ours: Server;
  let oursPort: number;

  beforeAll(async () => {
    sdkPort = await freePort();
    sdk = createServer((req, res) => {
      if (req.url !== '/metrics') return res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(SDK_TEXT);
    });
    await listen(sdk, sdkPort);
    oursPort = await freePort();
    ours = await startMetricsServer(oursPort, '127.0.0.1', {
      append: sdkMetricsReader(`http://127.0.0.1:${sdkPort}/metrics`, 1000),
    });
  });
  afterAll(async () => {
    await new Promise((r) => ours.close(r));
    if (sdk.listening) await new Promise((r) => sdk.close(r));
  });

  it('serves ours and the SDK text in one scrape, in the Prometheus text format', async () => {
    const res = await fetch(`http://127.0.0.1:${oursPort}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(registry.contentType);
    const text = await res.text();
    expect(text).toContain('# TYPE satmachine_legs_total counter');
    expect(text).toContain('temporal_sticky_cache_size{task_queue="q"} 3\n');
    // ours first, each line intact: the SDK part starts on a line of its own
    expect(text.indexOf('satmachine_legs_total')).toBeLessThan(text.indexOf('temporal_sticky_cache_size'));
    expect(text).toMatch(/\n# HELP temporal_sticky_cache_size /);
  });

  it('still serves ours when the SDK exporter is gone, and counts the miss', async () => {
    const before = (await sdkScrapeErrors.get()).values[0]?.value ?? 0;
    await new Promise((r) => sdk.close(r));
    const res = await fetch(`http://127.0.0.1:${oursPort}/metrics`);
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toContain('# TYPE satmachine_legs_total counter');
    expect(text).not.toContain('temporal_sticky_cache_size{');
    expect(text).toMatch(/# Temporal SDK metrics unavailable \(http:\/\/127\.0\.0\.1:\d+\/metrics\): /);
    expect((await sdkScrapeErrors.get()).values[0]?.value).toBe(before + 1);
  });
});
