import { existsSync } from 'node:fs';
import { extname, join } from 'node:path';
import express, { type Express, type RequestHandler, type Response } from 'express';

/** Where `vite build` puts the console (web/dist); SATMACHINE_CONSOLE_DIR overrides it. */
export const CONSOLE_DIR = process.env.SATMACHINE_CONSOLE_DIR ?? join(__dirname, '..', '..', 'web', 'dist');

/** Paths the API owns: the console never answers them, even when they are unknown. */
const API_OWNED = /^\/(api|healthz|readyz|metrics)(\/|$)/;

/**
 * The console is plain static files: it reaches the API with fetch only (same origin),
 * so everything else (scripts, frames, other origins) is refused.
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

function securityHeaders(res: Response): void {
  res.setHeader('content-security-policy', CONTENT_SECURITY_POLICY);
  res.setHeader('x-content-type-options', 'nosniff');
  res.setHeader('x-frame-options', 'DENY');
  res.setHeader('referrer-policy', 'no-referrer');
}

const NOT_BUILT = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>satmachine console</title></head>
<body><main><h1>The console is not built yet</h1>
<p>It is built on the first <code>npm start</code>; to build it by hand run
<code>npx vite build</code> in <code>web/</code>. The API is at <a href="/api/v1/openapi.json">/api/v1</a>.</p>
</main></body></html>
`;

/**
 * Serves the operator / LP console (web/dist) at `/`: its files, and index.html for
 * every other GET that asks for HTML (client-side routes such as /settlements/:id).
 * Mounted after the API, so /api/v1, /healthz, /readyz and /metrics keep precedence,
 * and an unknown path under them still gets the API's JSON 404.
 */
export function mountConsole(app: Express, dir: string = CONSOLE_DIR): void {
  const assets = join(dir, 'assets');
  const files = express.static(dir, {
    index: false,
    redirect: false,
    setHeaders: (res, path) => {
      securityHeaders(res);
      // Vite names built assets by content hash: they never change
      res.setHeader(
        'cache-control',
        path.startsWith(assets) ? 'public, max-age=31536000, immutable' : 'no-cache',
      );
    },
  });
  const staticFiles: RequestHandler = (req, res, next) => {
    if (API_OWNED.test(req.path)) return next();
    return files(req, res, next);
  };
  const indexFallback: RequestHandler = (req, res, next) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return next();
    if (API_OWNED.test(req.path)) return next();
    // a missing asset (/assets/x.js, /favicon.ico) is a 404, not the app
    if (extname(req.path) !== '' || !req.accepts('html')) return next();
    securityHeaders(res);
    res.setHeader('cache-control', 'no-cache');
    const index = join(dir, 'index.html');
    if (!existsSync(index)) {
      res.status(503).type('html').send(NOT_BUILT);
      return;
    }
    res.sendFile(index, (err) => {
      if (err && !res.headersSent) next(err);
    });
  };
  app.use(staticFiles);
  app.use(indexFallback);
}
