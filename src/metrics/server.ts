import { createServer, type Server } from 'node:http';
import { METRICS_UNAUTHORIZED_MESSAGE, metricsAuthorized } from './auth';
import { registry } from './registry';

/**
 * `/metrics` (Prometheus) and `/healthz` for processes without the API (worker,
 * ingest), on their own port. With `token` (METRICS_TOKEN), /metrics needs
 * `Authorization: Bearer <token>`; /healthz stays open.
 */
export function startMetricsServer(port: number, host = '127.0.0.1', token?: string): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.url === '/metrics') {
      if (!metricsAuthorized(req.headers.authorization, token)) {
        res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Bearer' });
        res.end(
          JSON.stringify({
            error: { code: 'unauthorized', message: METRICS_UNAUTHORIZED_MESSAGE, details: null },
          }),
        );
        return;
      }
      registry
        .metrics()
        .then((text) => {
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
