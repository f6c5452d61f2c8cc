import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config';
import { temporalTarget } from '../../src/cli/runtime';
import { temporalConnectionOptions } from '../../src/temporalClient';

const VARS = [
  'TEMPORAL_ADDRESS',
  'TEMPORAL_TLS',
  'TEMPORAL_TLS_CERT',
  'TEMPORAL_TLS_KEY',
  'TEMPORAL_TLS_CA',
  'TEMPORAL_TLS_SERVER_NAME',
  'TEMPORAL_API_KEY',
] as const;

/** Runs fn with exactly these TEMPORAL_* variables set (the others unset), the environment restored after. */
function withEnv<T>(vars: Partial<Record<(typeof VARS)[number], string>>, fn: () => T): T {
  const saved = Object.fromEntries(VARS.map((k) => [k, process.env[k]]));
  for (const k of VARS) {
    if (vars[k] === undefined) delete process.env[k];
    else process.env[k] = vars[k];
  }
  try {
    return fn();
  } finally {
    for (const k of VARS) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
  }
}

const PEM = (label: string) => `-----BEGIN ${label}-----\nAAAA\n-----END ${label}-----\n`;

describe('config: TLS and API key of the Temporal cluster', () => {
  let dir: string;
  let cert: string;
  let key: string;
  let ca: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'satmachine-tlscfg-'));
    cert = join(dir, 'client.pem');
    key = join(dir, 'client.key');
    ca = join(dir, 'ca.pem');
    writeFileSync(cert, PEM('CERTIFICATE'));
    writeFileSync(key, PEM('PRIVATE KEY'));
    writeFileSync(ca, PEM('CERTIFICATE'));
    writeFileSync(join(dir, 'der.crt'), Buffer.from([0x30, 0x82, 0x01, 0x0a]));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const address = 'ns.acct.tmprl.cloud:7233';
  const options = () => temporalConnectionOptions(temporalTarget(loadConfig()));

  it('plaintext when nothing is set: no tls, no apiKey', () => {
    expect(withEnv({ TEMPORAL_ADDRESS: address }, options)).toEqual({ address });
    expect(withEnv({ TEMPORAL_ADDRESS: address, TEMPORAL_TLS: '0' }, options)).toEqual({ address });
  });

  it('mTLS: the client pair, the CA and the SNI override, read from the files', () => {
    const o = withEnv(
      {
        TEMPORAL_ADDRESS: address,
        TEMPORAL_TLS_CERT: cert,
        TEMPORAL_TLS_KEY: key,
        TEMPORAL_TLS_CA: ca,
        TEMPORAL_TLS_SERVER_NAME: 'temporal.internal',
      },
      options,
    );
    expect(o.address).toBe(address);
    expect(o.apiKey).toBeUndefined();
    expect(Buffer.from(o.tls!.clientCertPair!.crt).toString()).toBe(PEM('CERTIFICATE'));
    expect(Buffer.from(o.tls!.clientCertPair!.key).toString()).toBe(PEM('PRIVATE KEY'));
    expect(Buffer.from(o.tls!.serverRootCACertificate!).toString()).toBe(PEM('CERTIFICATE'));
    expect(o.tls!.serverNameOverride).toBe('temporal.internal');
  });

  it('TEMPORAL_TLS=1 alone: TLS with the system roots, no client certificate', () => {
    expect(withEnv({ TEMPORAL_ADDRESS: address, TEMPORAL_TLS: '1' }, options)).toEqual({ address, tls: {} });
  });

  it('TEMPORAL_API_KEY implies TLS and is passed on', () => {
    expect(withEnv({ TEMPORAL_ADDRESS: address, TEMPORAL_API_KEY: 'k-123' }, options)).toEqual({
      address,
      tls: {},
      apiKey: 'k-123',
    });
  });

  it('a certificate without its key, or a key without its certificate, names both variables', () => {
    expect(() => withEnv({ TEMPORAL_ADDRESS: address, TEMPORAL_TLS_CERT: cert }, loadConfig)).toThrow(
      /TEMPORAL_TLS_CERT is set but TEMPORAL_TLS_KEY is not/,
    );
    expect(() => withEnv({ TEMPORAL_ADDRESS: address, TEMPORAL_TLS_KEY: key }, loadConfig)).toThrow(
      /TEMPORAL_TLS_KEY is set but TEMPORAL_TLS_CERT is not/,
    );
  });

  it('a missing or non-PEM file is an error naming the variable and the path', () => {
    const missing = join(dir, 'nope.pem');
    expect(() =>
      withEnv({ TEMPORAL_ADDRESS: address, TEMPORAL_TLS_CERT: missing, TEMPORAL_TLS_KEY: key }, options),
    ).toThrow(`TEMPORAL_TLS_CERT=${missing} cannot be read (ENOENT)`);
    expect(() => withEnv({ TEMPORAL_ADDRESS: address, TEMPORAL_TLS_CA: dir }, options)).toThrow(
      `TEMPORAL_TLS_CA=${dir} cannot be read (EISDIR)`,
    );
    expect(() =>
      withEnv({ TEMPORAL_ADDRESS: address, TEMPORAL_TLS_CA: join(dir, 'der.crt') }, options),
    ).toThrow(/TEMPORAL_TLS_CA=.*der\.crt is not PEM/);
  });

  it('TLS settings without TEMPORAL_ADDRESS are refused (the embedded Temporal has no TLS)', () => {
    expect(() => withEnv({ TEMPORAL_TLS: '1' }, loadConfig)).toThrow(/set TEMPORAL_ADDRESS or unset them/);
    expect(() => withEnv({ TEMPORAL_API_KEY: 'k' }, loadConfig)).toThrow(/TEMPORAL_ADDRESS/);
  });

  it('TEMPORAL_TLS must be 1 or 0', () => {
    expect(() => withEnv({ TEMPORAL_ADDRESS: address, TEMPORAL_TLS: 'yes' }, loadConfig)).toThrow(
      'TEMPORAL_TLS must be 1 or 0, got "yes"',
    );
  });
});
