import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config';
import { LEGACY_PASSWORD } from '../db/embeddedPostgres';
import { createPool, type Pool } from '../db/pool';
import { SecretBox } from '../security/secretBox';
import type { TemporalTarget } from '../temporalClient';

/** Where `satmachine start` keeps the embedded PostgreSQL's password (beside secret.key). */
export function pgPasswordFile(config: Config): string {
  return join(config.dataDir, 'pg.password');
}

/**
 * The embedded PostgreSQL's password: <data dir>/pg.password (mode 0600), which
 * `satmachine start` generates on its first run. Without the file (a data directory
 * from before it, not started since) it is the old fixed one.
 */
export function loadPgPassword(config: Config, createIfMissing = false): string {
  const file = pgPasswordFile(config);
  if (!existsSync(file)) {
    if (!createIfMissing) return LEGACY_PASSWORD;
    mkdirSync(config.dataDir, { recursive: true });
    writeFileSync(file, randomBytes(32).toString('hex') + '\n', { mode: 0o600, flag: 'wx' });
  }
  // a copied or restored file may have come with a looser mode
  if (createIfMissing && (statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600);
  const password = readFileSync(file, 'utf8').trim();
  if (!password)
    throw new Error(`${file} is empty: restore it, or delete it together with ${join(config.dataDir, 'pg')}`);
  return password;
}

/** Defaults that point every sub-command at the stack `satmachine start` runs. */
export function embeddedDatabaseUrl(config: Config): string {
  return `postgres://satmachine:${encodeURIComponent(loadPgPassword(config))}@127.0.0.1:${config.embeddedPostgresPort}/satmachine`;
}

export function databaseUrl(config: Config): string {
  return config.databaseUrl ?? embeddedDatabaseUrl(config);
}

export function temporalAddress(config: Config): string {
  return config.temporal.address ?? '127.0.0.1:7233';
}

/** The configured Temporal: address, namespace and its TLS / API-key settings. */
export function temporalTarget(config: Config): TemporalTarget {
  return {
    address: temporalAddress(config),
    namespace: config.temporal.namespace,
    ...(config.temporal.tls ? { tls: config.temporal.tls } : {}),
    ...(config.temporal.apiKey ? { apiKey: config.temporal.apiKey } : {}),
  };
}

export function relayUrls(config: Config): string[] {
  return config.nostrRelays ?? [`ws://${config.relayHost}:${config.relayPort}`];
}

/**
 * The key that seals secrets at rest: SATMACHINE_SECRET_KEY, else the dev key file
 * under the data directory (`satmachine start` creates it on first run).
 */
export function loadSecretBox(config: Config, createIfMissing = false): SecretBox {
  if (config.secretKeyHex) return new SecretBox(config.secretKeyHex);
  const file = join(config.dataDir, 'secret.key');
  if (!existsSync(file)) {
    if (!createIfMissing) {
      throw new Error(
        `SATMACHINE_SECRET_KEY is not set and ${file} does not exist. ` +
          'Set SATMACHINE_SECRET_KEY (64 hex chars, e.g. `openssl rand -hex 32`), or run `satmachine start` once to create a dev key.',
      );
    }
    mkdirSync(config.dataDir, { recursive: true });
    writeFileSync(file, SecretBox.generateKeyHex() + '\n', { mode: 0o600 });
  }
  return new SecretBox(readFileSync(file, 'utf8').trim());
}

export function openPool(
  config: Config,
  applicationName: string,
  max?: number,
  limits: { idleInTransactionTimeoutMs?: number } = {},
): Pool {
  return createPool({ connectionString: databaseUrl(config), applicationName, max, ...limits });
}

/** Resolves on SIGINT/SIGTERM (once). */
export function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (s: NodeJS.Signals) => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      resolve(s);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}

/** A child of `satmachine start` exits when its supervisor is gone (even after SIGKILL). */
export function exitWithSupervisor(): void {
  const supervisor = Number(process.env.SATMACHINE_SUPERVISOR_PID ?? 0);
  if (!supervisor) return;
  const t = setInterval(() => {
    if (process.ppid !== supervisor) process.kill(process.pid, 'SIGTERM');
  }, 1000);
  t.unref();
}
