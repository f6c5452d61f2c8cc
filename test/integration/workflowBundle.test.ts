import { readFileSync } from 'node:fs';

/**
 * The workflow bundle the worker runs (built once by the tests' global setup with
 * `bundleWorkflows`): what the sandbox loads besides the workflows (docs/performance.md).
 */
describe('the workflow bundle', () => {
  const code = readFileSync(process.env.SATMACHINE_TEST_BUNDLE!, 'utf8');
  const modules = [...code.matchAll(/^\/\*\*\*\/ "([^"]+)"$/gm)].map((m) => m[1]!);

  it('carries the sandbox preload (no stack frames recorded: src/worker/workflowStackTraces.ts)', () => {
    expect(modules).toContain('./src/worker/workflowSandbox.ts');
    expect(modules).toContain('./src/worker/workflowStackTraces.ts');
  });

  it('holds no zod: the reusable context would evaluate it again for every workflow', () => {
    expect(modules.length).toBeGreaterThan(20);
    expect(modules.filter((m) => m.includes('node_modules/zod'))).toEqual([]);
  });
});
