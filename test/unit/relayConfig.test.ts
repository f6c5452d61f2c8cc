import { loadConfig } from '../../src/config';

describe('relay configuration from the environment', () => {
  const names = [
    'RELAY_WRITE_POLICY',
    'RELAY_MAX_FILTERS',
    'RELAY_MAX_LIMIT',
    'RELAY_MAX_SUBSCRIPTIONS',
    'RELAY_MAX_CONNECTIONS_PER_IP',
    'RELAY_MAX_MESSAGE_BYTES',
  ];
  const saved = Object.fromEntries(names.map((n) => [n, process.env[n]]));
  afterEach(() => {
    for (const n of names) {
      if (saved[n] === undefined) delete process.env[n];
      else process.env[n] = saved[n];
    }
  });
  const unset = () => names.forEach((n) => delete process.env[n]);

  it('defaults: known writers, 10 filters, 5,000 per filter, 20 subscriptions and connections, 512 KiB', () => {
    unset();
    expect(loadConfig().relay).toEqual({
      writePolicy: 'known',
      maxFilters: 10,
      maxLimit: 5000,
      maxSubscriptions: 20,
      maxConnectionsPerIp: 20,
      maxMessageBytes: 524_288,
    });
  });

  it('reads every variable', () => {
    unset();
    Object.assign(process.env, {
      RELAY_WRITE_POLICY: 'open',
      RELAY_MAX_FILTERS: '3',
      RELAY_MAX_LIMIT: '1000',
      RELAY_MAX_SUBSCRIPTIONS: '4',
      RELAY_MAX_CONNECTIONS_PER_IP: '200',
      RELAY_MAX_MESSAGE_BYTES: '65536',
    });
    expect(loadConfig().relay).toEqual({
      writePolicy: 'open',
      maxFilters: 3,
      maxLimit: 1000,
      maxSubscriptions: 4,
      maxConnectionsPerIp: 200,
      maxMessageBytes: 65_536,
    });
  });

  it('refuses an unknown policy and limits that are not positive integers, naming the variable', () => {
    unset();
    process.env.RELAY_WRITE_POLICY = 'closed';
    expect(() => loadConfig()).toThrow('RELAY_WRITE_POLICY must be "known" or "open", got "closed"');
    unset();
    process.env.RELAY_MAX_LIMIT = '0';
    expect(() => loadConfig()).toThrow('RELAY_MAX_LIMIT must be at least 1');
    unset();
    process.env.RELAY_MAX_FILTERS = 'ten';
    expect(() => loadConfig()).toThrow('RELAY_MAX_FILTERS must be a non-negative integer');
  });
});
