import { readFileSync } from 'node:fs';
import { Client, Connection, type TLSConfig } from '@temporalio/client';

/** TLS to Temporal: PEM paths and the SNI override (config's TemporalTlsConfig). */
export interface TemporalTlsFiles {
  clientCertFile?: string;
  clientKeyFile?: string;
  caFile?: string;
  serverName?: string;
}

export interface TemporalTarget {
  address: string;
  namespace: string;
  /** undefined = plaintext (the embedded servers) */
  tls?: TemporalTlsFiles;
  /** Temporal Cloud API key (implies TLS) */
  apiKey?: string;
}

/**
 * What both `Connection.connect` / `Connection.lazy` (@temporalio/client) and
 * `NativeConnection.connect` (@temporalio/worker) take to reach the configured Temporal.
 */
export interface TemporalConnectionOptions {
  address: string;
  tls?: TLSConfig;
  apiKey?: string;
}

/** A PEM file, read now: a missing, unreadable or non-PEM file is an error naming its variable. */
function pem(variable: string, path: string): Buffer {
  let data: Buffer;
  try {
    data = readFileSync(path);
  } catch (err) {
    throw new Error(
      `${variable}=${path} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): point it at a readable PEM file`,
      { cause: err },
    );
  }
  if (!data.includes('-----BEGIN ')) {
    throw new Error(`${variable}=${path} is not PEM (no "-----BEGIN" line): give the PEM form of the file`);
  }
  return data;
}

/**
 * The one place the connection options of the configured Temporal are built (the API,
 * the ingest, the worker and the readiness check all use them). Reads the certificate
 * files now, so a wrong path fails at start-up and not at the first workflow.
 */
export function temporalConnectionOptions(t: Omit<TemporalTarget, 'namespace'>): TemporalConnectionOptions {
  if (!t.tls && !t.apiKey) return { address: t.address };
  const f = t.tls ?? {};
  if (!f.clientCertFile !== !f.clientKeyFile) {
    throw new Error(
      'TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY go together: mTLS needs both the client certificate and its private key',
    );
  }
  const tls: TLSConfig = {
    ...(f.clientCertFile && f.clientKeyFile
      ? {
          clientCertPair: {
            crt: pem('TEMPORAL_TLS_CERT', f.clientCertFile),
            key: pem('TEMPORAL_TLS_KEY', f.clientKeyFile),
          },
        }
      : {}),
    ...(f.caFile ? { serverRootCACertificate: pem('TEMPORAL_TLS_CA', f.caFile) } : {}),
    ...(f.serverName ? { serverNameOverride: f.serverName } : {}),
  };
  return { address: t.address, tls, ...(t.apiKey ? { apiKey: t.apiKey } : {}) };
}

/**
 * A client whose connection is made on first use and re-made by the SDK after a
 * server restart, so a process can start before Temporal is up.
 */
export function lazyTemporalClient(t: TemporalTarget): Client {
  const connection = Connection.lazy(temporalConnectionOptions(t));
  return new Client({ connection, namespace: t.namespace });
}

/** Whether the Temporal frontend answers within `timeoutMs`. */
export async function temporalReachable(client: Client, timeoutMs = 2000): Promise<boolean> {
  try {
    await client.connection.withDeadline(Date.now() + timeoutMs, () =>
      client.workflowService.getSystemInfo({}),
    );
    return true;
  } catch {
    return false;
  }
}
