import { loadConfig } from '../../src/config';

/** Runs loadConfig with these variables set (undefined: unset), the environment restored after. */
function withEnv<T>(vars: Record<string, string | undefined>, fn: () => T): T {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  const apply = (v: Record<string, string | undefined>) => {
    for (const [k, val] of Object.entries(v)) {
      if (val === undefined) delete process.env[k];
      else process.env[k] = val;
    }
  };
  apply(vars);
  try {
    return fn();
  } finally {
    apply(saved);
  }
}

const base = { PUBLIC_URL: undefined, API_HOST: undefined, PORT: undefined, LNURL_ALLOW_LOOPBACK: undefined };

describe('config: PUBLIC_URL (what NIP-98 is checked against) and LNURL_ALLOW_LOOPBACK', () => {
  it('PUBLIC_URL defaults to the listen address and is normalised when set', () => {
    expect(withEnv({ ...base, PORT: '3100' }, loadConfig).api).toMatchObject({
      publicUrl: 'http://127.0.0.1:3100',
      publicUrlDefaulted: true,
    });
    expect(withEnv({ ...base, API_HOST: '::1', PORT: '3100' }, loadConfig).api.publicUrl).toBe(
      'http://[::1]:3100',
    );
    expect(withEnv({ ...base, PUBLIC_URL: 'HTTPS://ATM.Example.com:443/' }, loadConfig).api).toMatchObject({
      publicUrl: 'https://atm.example.com',
      publicUrlDefaulted: false,
    });
    expect(
      withEnv({ ...base, PUBLIC_URL: 'https://example.com/satmachine/' }, loadConfig).api.publicUrl,
    ).toBe('https://example.com/satmachine');
  });

  it('refuses a PUBLIC_URL that is not a plain http(s) base URL', () => {
    for (const bad of [
      'atm.example.com',
      'ftp://atm.example.com',
      'https://a.example/?x=1',
      'https://u:p@a.example',
      'https://a.example/#f',
    ])
      expect(() => withEnv({ ...base, PUBLIC_URL: bad }, loadConfig)).toThrow(/PUBLIC_URL must be/);
  });

  it('LNURL_ALLOW_LOOPBACK is off by default, 1 turns it on, and production refuses it', () => {
    expect(withEnv(base, loadConfig).lnurlAllowLoopback).toBe(false);
    expect(withEnv({ ...base, LNURL_ALLOW_LOOPBACK: '1' }, loadConfig).lnurlAllowLoopback).toBe(true);
    expect(() => withEnv({ ...base, LNURL_ALLOW_LOOPBACK: 'yes' }, loadConfig)).toThrow(/must be 1 or 0/);
    expect(() => withEnv({ ...base, LNURL_ALLOW_LOOPBACK: '1', NODE_ENV: 'production' }, loadConfig)).toThrow(
      /tests only/,
    );
  });

  it('alerts: WEBHOOK_ALLOW_LOOPBACK off by default and refused in production; SMTP_URL must be smtp(s)://', () => {
    const c = withEnv(base, loadConfig);
    expect(c.alerts).toEqual({
      webhookAllowLoopback: false,
      smtpUrl: undefined,
      smtpFrom: 'satmachine@localhost',
      evaluationSeconds: 60,
    });
    expect(withEnv({ ...base, WEBHOOK_ALLOW_LOOPBACK: '1' }, loadConfig).alerts.webhookAllowLoopback).toBe(
      true,
    );
    expect(() =>
      withEnv({ ...base, WEBHOOK_ALLOW_LOOPBACK: '1', NODE_ENV: 'production' }, loadConfig),
    ).toThrow(/tests only/);
    expect(withEnv({ ...base, SMTP_URL: 'smtps://u:p@mail.example.com' }, loadConfig).alerts.smtpUrl).toBe(
      'smtps://u:p@mail.example.com',
    );
    expect(() => withEnv({ ...base, SMTP_URL: 'mail.example.com:25' }, loadConfig)).toThrow(
      /SMTP_URL must be/,
    );
    expect(() => withEnv({ ...base, ALERT_EVALUATION_SECONDS: '0' }, loadConfig)).toThrow(/at least 1/);
  });

  it('API_HEAP_GROWING_PERCENT: 200 by default, 0 leaves V8 its own choice, bounded at 1000', () => {
    expect(withEnv({ ...base, API_HEAP_GROWING_PERCENT: undefined }, loadConfig).apiHeapGrowingPercent).toBe(
      200,
    );
    expect(withEnv({ ...base, API_HEAP_GROWING_PERCENT: '0' }, loadConfig).apiHeapGrowingPercent).toBe(0);
    expect(() => withEnv({ ...base, API_HEAP_GROWING_PERCENT: '5000' }, loadConfig)).toThrow(/at most 1000/);
    expect(() => withEnv({ ...base, API_HEAP_GROWING_PERCENT: 'lots' }, loadConfig)).toThrow(
      /non-negative integer/,
    );
  });

  it('SETTLEMENT_START_DELAY_MS: 1000 by default, 0 turns it off, at most a minute', () => {
    expect(
      withEnv({ ...base, SETTLEMENT_START_DELAY_MS: undefined }, loadConfig).settlementStartDelayMs,
    ).toBe(1000);
    expect(withEnv({ ...base, SETTLEMENT_START_DELAY_MS: '0' }, loadConfig).settlementStartDelayMs).toBe(0);
    expect(() => withEnv({ ...base, SETTLEMENT_START_DELAY_MS: '600000' }, loadConfig)).toThrow(
      /at most 60000/,
    );
  });
});
