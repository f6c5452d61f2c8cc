import type { LookupAddress } from 'node:dns';
import {
  checkHost,
  ForbiddenAddressError,
  forbiddenAddressReason,
  guardedLookup,
  STRICT_POLICY,
  type Resolver,
} from '../../src/payments/addressPolicy';

const LOOPBACK_OK = { allowLoopback: true };

describe('forbiddenAddressReason: only public unicast addresses are reached', () => {
  const forbidden: [string, RegExp][] = [
    // IPv4
    ['0.0.0.0', /this network/],
    ['0.1.2.3', /this network/],
    ['10.0.0.1', /private.*10\.0\.0\.0\/8/],
    ['10.255.255.255', /private/],
    ['100.64.0.1', /carrier-grade NAT/],
    ['100.127.255.254', /carrier-grade NAT/],
    ['127.0.0.1', /loopback/],
    ['127.255.255.254', /loopback/],
    ['169.254.169.254', /link-local/],
    ['169.254.0.1', /link-local/],
    ['172.16.0.1', /private.*172\.16\.0\.0\/12/],
    ['172.31.255.255', /private/],
    ['192.0.0.8', /IETF protocol/],
    ['192.0.2.10', /documentation/],
    ['192.88.99.1', /6to4 relay/],
    ['192.168.1.1', /private.*192\.168/],
    ['198.18.0.1', /benchmarking/],
    ['198.19.255.255', /benchmarking/],
    ['198.51.100.7', /documentation/],
    ['203.0.113.9', /documentation/],
    ['224.0.0.1', /multicast/],
    ['239.255.255.250', /multicast/],
    ['240.0.0.1', /reserved/],
    ['255.255.255.255', /reserved or broadcast/],
    // IPv6
    ['::', /unspecified/],
    ['::1', /loopback/],
    ['[::1]', /loopback/],
    ['0:0:0:0:0:0:0:1', /loopback/],
    ['::ffff:127.0.0.1', /IPv4-mapped.*loopback/],
    ['::ffff:7f00:1', /IPv4-mapped.*loopback/],
    ['::ffff:10.1.2.3', /IPv4-mapped.*private/],
    ['::ffff:169.254.169.254', /IPv4-mapped.*link-local/],
    ['::ffff:0.0.0.0', /IPv4-mapped.*this network/],
    ['::127.0.0.1', /IPv4-compatible/],
    ['64:ff9b::7f00:1', /NAT64.*loopback/],
    ['64:ff9b::192.168.0.1', /NAT64.*private/],
    ['64:ff9b:1::1', /local-use NAT64/],
    ['2002:7f00:1::', /6to4.*loopback/],
    ['2002:c0a8:101::1', /6to4.*private/],
    ['100::1', /discard-only/],
    ['2001::1', /Teredo/],
    ['2001:db8::1', /documentation/],
    ['2001:10::1', /ORCHID/],
    ['3fff::1', /documentation/],
    ['fc00::1', /unique-local/],
    ['fd12:3456:789a::1', /unique-local/],
    ['fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', /unique-local/],
    ['fe80::1', /link-local/],
    ['fe80::1%eth0', /link-local/],
    ['febf:ffff::1', /link-local/],
    ['fec0::1', /site-local/],
    ['ff02::1', /multicast/],
    ['ff0e::1', /multicast/],
    ['fbff:ffff::1', /reserved IPv6/],
    ['fe7f::1', /reserved IPv6/],
    ['4000::1', /reserved IPv6/],
    ['1fff:ffff::1', /reserved IPv6/],
    // not an address
    ['localhost', /not an IP address/],
    ['', /not an IP address/],
    ['127.1', /not an IP address/],
    ['2130706433', /not an IP address/],
  ];
  it.each(forbidden)('%s is refused (%s)', (ip, reason) => {
    expect(forbiddenAddressReason(ip)).toMatch(reason);
  });

  const allowed = [
    '1.1.1.1',
    '8.8.8.8',
    '9.255.255.255',
    '11.0.0.0',
    '100.63.255.255',
    '100.128.0.0',
    '126.255.255.255',
    '128.0.0.0',
    '169.253.255.255',
    '169.255.0.0',
    '172.15.255.255',
    '172.32.0.0',
    '192.0.1.1',
    '192.167.255.255',
    '192.169.0.0',
    '198.17.255.255',
    '198.20.0.0',
    '223.255.255.255',
    '2606:4700:4700::1111',
    '2a00:1450:4001:80b::200e',
    '2001:4860:4860::8888',
    '::ffff:8.8.8.8',
    '64:ff9b::808:808',
    '2002:808:808::1',
  ];
  it.each(allowed)('%s is public', (ip) => {
    expect(forbiddenAddressReason(ip)).toBeNull();
  });

  it('the test-only allowance opens loopback, and nothing else', () => {
    for (const ip of ['127.0.0.1', '127.9.9.9', '::1', '::ffff:127.0.0.1', '64:ff9b::7f00:1'])
      expect({ ip, why: forbiddenAddressReason(ip, LOOPBACK_OK) }).toEqual({ ip, why: null });
    for (const ip of [
      '0.0.0.0',
      '::',
      '10.0.0.1',
      '169.254.169.254',
      'fe80::1',
      'fd00::1',
      '::ffff:10.0.0.1',
    ])
      expect(forbiddenAddressReason(ip, LOOPBACK_OK)).not.toBeNull();
  });
});

describe('checkHost: every resolved address is checked', () => {
  it('refuses an IP literal and a name that resolves to loopback; allows them with the test-only policy', async () => {
    await expect(checkHost('127.0.0.1', STRICT_POLICY)).rejects.toBeInstanceOf(ForbiddenAddressError);
    await expect(checkHost('[::1]', STRICT_POLICY)).rejects.toThrow(/loopback/);
    const err = await checkHost('localhost', STRICT_POLICY).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ForbiddenAddressError);
    expect((err as ForbiddenAddressError).message).toMatch(
      /^localhost resolves to (127\.0\.0\.1|::1), which is/,
    );
    expect(await checkHost('127.0.0.1', LOOPBACK_OK)).toEqual(['127.0.0.1']);
    expect((await checkHost('localhost', LOOPBACK_OK)).length).toBeGreaterThan(0);
  });

  it('a name DNS does not know is a DNS error, not a refusal', async () => {
    const err = await checkHost('no-such-host.invalid', STRICT_POLICY).catch((e: unknown) => e);
    expect(err).not.toBeInstanceOf(ForbiddenAddressError);
    expect((err as { code?: string }).code).toBe('ENOTFOUND');
  });
});

describe('guardedLookup: the connection gets only checked addresses', () => {
  /** A resolver that answers these addresses for any name (what a hostile DNS server may do). */
  const answering =
    (...addresses: string[]): Resolver =>
    (_host, _opts, cb) =>
      cb(
        null,
        addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 })),
      );
  const run = (resolver: Resolver, all: boolean) =>
    new Promise<{ err: Error | null; address: string | LookupAddress[]; family?: number }>((resolve) =>
      guardedLookup(STRICT_POLICY, resolver)('lnurl.example', { all }, (err, address, family) =>
        resolve({ err, address, family }),
      ),
    );

  it('refuses the whole name when any one of its addresses is forbidden (no partial answer to rebind with)', async () => {
    for (const addresses of [
      ['93.184.215.14', '127.0.0.1'],
      ['10.0.0.5', '93.184.215.14'],
      ['2606:4700::1', 'fe80::1'],
      ['93.184.215.14', '::ffff:169.254.169.254'],
    ]) {
      for (const all of [true, false]) {
        const { err, address } = await run(answering(...addresses), all);
        expect(err).toBeInstanceOf(ForbiddenAddressError);
        expect(err!.message).toMatch(/^lnurl\.example resolves to /);
        expect(address).toBe('');
      }
    }
  });

  it('hands every checked address to a connection that asks for all, the first to one that asks for one', async () => {
    const ok = answering('93.184.215.14', '2606:2800:21f:cb07:6820:80da:af6b:8b2c');
    expect(await run(ok, true)).toEqual({
      err: null,
      address: [
        { address: '93.184.215.14', family: 4 },
        { address: '2606:2800:21f:cb07:6820:80da:af6b:8b2c', family: 6 },
      ],
      family: undefined,
    });
    expect(await run(ok, false)).toEqual({ err: null, address: '93.184.215.14', family: 4 });
    const none = await run(answering(), true);
    expect((none.err as NodeJS.ErrnoException).code).toBe('ENOTFOUND');
  });
});
