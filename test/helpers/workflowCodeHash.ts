import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const ROOT = resolve(__dirname, '..', '..');

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? filesUnder(p) : /\.ts$/.test(name) ? [p] : [];
  });
}

function resolveImport(from: string, spec: string): string | null {
  const base = resolve(dirname(from), spec);
  for (const p of [`${base}.ts`, join(base, 'index.ts'), base])
    if (existsSync(p) && statSync(p).isFile()) return p;
  return null;
}

/**
 * The source files the workflow bundle is built from: everything under src/workflows
 * plus every file of src/ they import (transitively) for code, as the bundler follows
 * them. `import type` lines are skipped: they vanish from the bundle.
 */
export function workflowCodeFiles(): string[] {
  const seen = new Set<string>();
  const queue = filesUnder(join(ROOT, 'src', 'workflows'));
  while (queue.length) {
    const f = queue.pop()!;
    if (seen.has(f)) continue;
    seen.add(f);
    const text = readFileSync(f, 'utf8');
    for (const m of text.matchAll(/^\s*(import|export)\s+(type\s+)?[^;]*?from\s+'(\.[^']+)'/gms)) {
      if (m[2]) continue;
      const target = resolveImport(f, m[3]!);
      if (target && target.startsWith(join(ROOT, 'src'))) queue.push(target);
    }
  }
  return [...seen].map((f) => relative(ROOT, f).split('\\').join('/')).sort();
}

/**
 * sha256 over the workflow bundle's sources (path and content of each, sorted by
 * path, line endings normalised): test/histories/WORKFLOW_CODE_HASH records it for the
 * code the histories were recorded on.
 */
export function workflowCodeHash(): { hash: string; files: string[] } {
  const files = workflowCodeFiles();
  const h = createHash('sha256');
  for (const f of files) {
    h.update(`${f}\0`);
    h.update(readFileSync(join(ROOT, f), 'utf8').replace(/\r\n/g, '\n'));
    h.update('\0');
  }
  return { hash: h.digest('hex'), files };
}
