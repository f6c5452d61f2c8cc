import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');

/**
 * The console's API types (web/src/api/schema.d.ts) are generated from the OpenAPI
 * document of the routes (web/src/api/openapi.json). Both are committed; when a route's
 * zod schemas change, this fails until they are regenerated, so the UI types cannot
 * drift from the API.
 */
describe('web/src/api/openapi.json and schema.d.ts', () => {
  it('match what the API routes generate (else: node --import tsx scripts/export-openapi.ts)', () => {
    const r = spawnSync(
      process.execPath,
      ['--import', 'tsx', join(ROOT, 'scripts', 'export-openapi.ts'), '--check'],
      {
        cwd: ROOT,
        encoding: 'utf8',
        timeout: 60_000,
      },
    );
    if (r.status !== 0) {
      throw new Error(`the committed OpenAPI document or its types are stale:\n${r.stderr}${r.stdout}`);
    }
    expect(r.stdout).toContain('match the API routes');
  });
});
