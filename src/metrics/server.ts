import { createServer, type Server } from 'node:http';
import { METRICS_UNAUTHORIZED_MESSAGE, metricsAuthorized } from './auth';
import { registry } from './registry';

/**
 * `/metrics` (Prometheus) and `/healthz` for processes without the API (worker,
 * ingest), on their own port. With `token` (METRICS_TOKEN), /metrics needs
 * `Authorization: Bearer <token>`; /healthz stays open. `append` adds more exposition
 * text after ours (the worker: the Temporal SDK's metrics, ./sdk.ts).
 */
export function startMetricsServer(
  port: number,
  host = '127.0.0.1',
  opts: { token?: string; append?: () => Promise<string> } = {},
): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.url === '/metrics') {
      if (!metricsAuthorized(req.headers.authorization, opts.token)) {
        res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Bearer' });
        res.end(
          JSON.stringify({
            error: { code: 'unauthorized', message: METRICS_UNAUTHORIZED_MESSAGE, details: null },
          }),
        );
        return;
      }
      Promise.all([registry.metrics(), opts.append ? opts.append() : ''])
        .then(([ours, more]) => {
          const text = more ? `${ours.endsWith('\n') ? ours : `${ours}\n`}${more}` : ours;
          res.writeHead(200, { 'content-type': registry.contentType });
          res.end(text);
        })
        .catch(() => {
          res.writeHead(500);
          res.end();
        });
      return;
    }
    if (req.url === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"status":"ok"}');
      return;
    }
    res.writeHead(404);
    res.end();
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}
