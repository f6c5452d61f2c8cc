import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

export const ROOT = join(__dirname, '..', '..');
export const DEPLOY = join(ROOT, 'deploy');

// ---------------------------------------------------------------- Dockerfile

export interface DockerInstruction {
  op: string;
  args: string;
}
export interface DockerStage {
  from: string;
  name: string | undefined;
  instructions: DockerInstruction[];
}

/** deploy/Dockerfile as stages of instructions (comments dropped, `\` continuations joined). */
export function parseDockerfile(text: string): { args: Record<string, string>; stages: DockerStage[] } {
  const logical: string[] = [];
  let current = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!current && (line === '' || line.startsWith('#'))) continue;
    if (line.endsWith('\\')) {
      current += line.slice(0, -1) + ' ';
      continue;
    }
    logical.push((current + line).trim());
    current = '';
  }
  const args: Record<string, string> = {};
  const stages: DockerStage[] = [];
  for (const l of logical) {
    const m = /^([A-Za-z]+)\s+(.*)$/s.exec(l);
    if (!m) throw new Error(`not an instruction: ${l}`);
    const op = m[1]!.toUpperCase();
    const rest = m[2]!;
    if (op === 'FROM') {
      const f = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(rest);
      if (!f) throw new Error(`bad FROM: ${rest}`);
      stages.push({ from: f[1]!, name: f[2], instructions: [] });
    } else if (stages.length === 0) {
      if (op !== 'ARG') throw new Error(`${op} before the first FROM`);
      const [k, v] = rest.split('=');
      args[k!] = v ?? '';
    } else {
      stages[stages.length - 1]!.instructions.push({ op, args: rest });
    }
  }
  return { args, stages };
}

/** The exec form of ENTRYPOINT / CMD (a JSON array). */
export function execForm(args: string): string[] {
  const v = JSON.parse(args) as unknown;
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string'))
    throw new Error(`not the exec form: ${args}`);
  return v;
}

export function dockerfile() {
  return parseDockerfile(readFileSync(join(DEPLOY, 'Dockerfile'), 'utf8'));
}

// ---------------------------------------------------------------- compose

export interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile: string };
  command?: string[];
  entrypoint?: string[];
  environment?: Record<string, string | number>;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  ports?: string[];
  volumes?: string[];
  restart?: string;
}

export function loadCompose(file: string): { services: Record<string, ComposeService>; text: string } {
  const text = readFileSync(file, 'utf8');
  const doc = parse(text, { merge: true }) as { services: Record<string, ComposeService> };
  return { services: doc.services, text };
}

/** `${NAME}`, `${NAME:-default}`, `${NAME:?message}` interpolations of a compose file. */
export function interpolatedVariables(text: string): string[] {
  return [
    ...new Set([...text.matchAll(/(?<!\$)\$\{([A-Z_][A-Z0-9_]*)(?::?[-?][^}]*)?\}/g)].map((m) => m[1]!)),
  ];
}

// ---------------------------------------------------------------- the code's environment

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? tsFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/**
 * Every environment variable src/ reads: `process.env.X`, `env.X`, `process.env['X']`
 * and the typed readers of src/config.ts (`str('X')`, `int('X', …)`, `positive`, `flag`).
 */
export function environmentReadByCode(): Set<string> {
  const names = new Set<string>();
  const patterns = [
    /\benv\.([A-Z][A-Z0-9_]*)/g,
    /\benv\[['"]([A-Z][A-Z0-9_]*)['"]\]/g,
    /\b(?:str|int|positive|flag)\(\s*'([A-Z][A-Z0-9_]*)'/g,
  ];
  for (const f of tsFiles(join(ROOT, 'src'))) {
    const text = readFileSync(f, 'utf8');
    for (const p of patterns) for (const m of text.matchAll(p)) names.add(m[1]!);
  }
  return names;
}

// ---------------------------------------------------------------- systemd

/** A unit file as section → key → values (repeated keys kept in order). */
export function parseUnit(text: string): Record<string, Record<string, string[]>> {
  const out: Record<string, Record<string, string[]>> = {};
  let section: Record<string, string[]> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const s = /^\[([A-Za-z]+)\]$/.exec(line);
    if (s) {
      section = out[s[1]!] = {};
      continue;
    }
    const kv = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (!kv || !section) throw new Error(`not a unit file line: ${line}`);
    (section[kv[1]!] ??= []).push(kv[2]!);
  }
  return out;
}
