/**
 * Which IP addresses satmachine may connect to when it follows a URL someone else gave
 * (a Lightning address's LNURL server): public unicast only. Loopback, private, link-local,
 * unique-local, CGNAT, multicast, reserved and documentation ranges are refused, IPv4 and
 * IPv6 alike (an IPv4 address embedded in IPv6 — mapped, NAT64, 6to4 — is judged as IPv4).
 * The check runs on the addresses DNS answers and the connection uses exactly those
 * (`guardedLookup`), so a name cannot resolve to a public address for the check and a
 * private one for the connection (DNS rebinding).
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { isIP, isIPv4, isIPv6, type LookupFunction } from 'node:net';

export interface AddressPolicy {
  /** 127.0.0.0/8 and ::1 allowed: for tests only (LNURL_ALLOW_LOOPBACK), never in production */
  allowLoopback: boolean;
}

export const STRICT_POLICY: AddressPolicy = { allowLoopback: false };

/** A host resolved to (or is) an address satmachine does not connect to. */
export class ForbiddenAddressError extends Error {
  constructor(
    readonly host: string,
    readonly address: string,
    readonly reason: string,
  ) {
    super(
      `${host === address ? address : `${host} resolves to ${address}, which`} is ${reason}: satmachine connects ` +
        'only to public internet addresses for Lightning addresses (no loopback, private or link-local networks)',
    );
    this.name = 'ForbiddenAddressError';
  }
}

type Range = [base: bigint, bits: number, reason: string];

const v4 = (dotted: string, bits: number, reason: string): Range => [BigInt(ipv4ToInt(dotted)), bits, reason];

/** IPv4 special-purpose ranges (RFC 6890 and successors) that are not public unicast. */
const IPV4_FORBIDDEN: Range[] = [
  v4('0.0.0.0', 8, 'an unspecified / "this network" address (0.0.0.0/8)'),
  v4('10.0.0.0', 8, 'a private address (10.0.0.0/8)'),
  v4('100.64.0.0', 10, 'a shared carrier-grade NAT address (100.64.0.0/10)'),
  v4('127.0.0.0', 8, 'a loopback address (127.0.0.0/8)'),
  v4('169.254.0.0', 16, 'a link-local address (169.254.0.0/16, cloud metadata lives here)'),
  v4('172.16.0.0', 12, 'a private address (172.16.0.0/12)'),
  v4('192.0.0.0', 24, 'an IETF protocol address (192.0.0.0/24)'),
  v4('192.0.2.0', 24, 'a documentation address (192.0.2.0/24)'),
  v4('192.88.99.0', 24, 'a 6to4 relay anycast address (192.88.99.0/24)'),
  v4('192.168.0.0', 16, 'a private address (192.168.0.0/16)'),
  v4('198.18.0.0', 15, 'a benchmarking address (198.18.0.0/15)'),
  v4('198.51.100.0', 24, 'a documentation address (198.51.100.0/24)'),
  v4('203.0.113.0', 24, 'a documentation address (203.0.113.0/24)'),
  v4('224.0.0.0', 4, 'a multicast address (224.0.0.0/4)'),
  v4('240.0.0.0', 4, 'a reserved or broadcast address (240.0.0.0/4)'),
];

const v6 = (text: string, bits: number, reason: string): Range => [ipv6ToBigInt(text), bits, reason];

/** IPv6 special-purpose ranges that are not public unicast (embedded IPv4 is handled before). */
const IPV6_FORBIDDEN: Range[] = [
  v6('::', 128, 'the unspecified address (::)'),
  v6('::', 96, 'an IPv4-compatible address (::/96, deprecated)'),
  v6('64:ff9b:1::', 48, 'a local-use NAT64 address (64:ff9b:1::/48)'),
  v6('100::', 64, 'a discard-only address (100::/64)'),
  v6('2001::', 32, 'a Teredo address (2001::/32)'),
  v6('2001:2::', 48, 'a benchmarking address (2001:2::/48)'),
  v6('2001:10::', 28, 'an ORCHID address (2001:10::/28)'),
  v6('2001:20::', 28, 'an ORCHIDv2 address (2001:20::/28)'),
  v6('2001:db8::', 32, 'a documentation address (2001:db8::/32)'),
  v6('3fff::', 20, 'a documentation address (3fff::/20)'),
  v6('5f00::', 16, 'an SRv6 SID address (5f00::/16)'),
  v6('fc00::', 7, 'a unique-local address (fc00::/7)'),
  v6('fe80::', 10, 'a link-local address (fe80::/10)'),
  v6('fec0::', 10, 'a site-local address (fec0::/10, deprecated)'),
  v6('ff00::', 8, 'a multicast address (ff00::/8)'),
];

function ipv4ToInt(dotted: string): number {
  const parts = dotted.split('.').map(Number);
  return ((parts[0]! << 24) >>> 0) + (parts[1]! << 16) + (parts[2]! << 8) + parts[3]!;
}

/** 128-bit value of a valid IPv6 text (zone id dropped; an IPv4 tail such as ::ffff:1.2.3.4 allowed). */
function ipv6ToBigInt(text: string): bigint {
  let s = text.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  const tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (tail) {
    const n = ipv4ToInt(tail[1]!);
    s = `${s.slice(0, -tail[1]!.length)}${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}`;
  }
  const [head, rest] = s.includes('::') ? (s.split('::') as [string, string]) : [s, null];
  const h = head ? head.split(':') : [];
  const r = rest === null ? [] : rest ? rest.split(':') : [];
  const groups = rest === null ? h : [...h, ...Array<string>(8 - h.length - r.length).fill('0'), ...r];
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
}

const inRange = (value: bigint, width: number, [base, bits]: Range) =>
  value >> BigInt(width - bits) === base >> BigInt(width - bits);

const isLoopbackReason = (reason: string) =>
  reason.startsWith('a loopback') || reason.startsWith('the loopback');

function ipv4Reason(n: bigint, policy: AddressPolicy): string | null {
  const hit = IPV4_FORBIDDEN.find((r) => inRange(n, 32, r));
  if (!hit) return null;
  return policy.allowLoopback && isLoopbackReason(hit[2]) ? null : hit[2];
}

/**
 * Why satmachine does not connect to this IP address (IPv4 or IPv6 text), or null when it
 * is public unicast. Text that is not an IP address is refused too.
 */
export function forbiddenAddressReason(ip: string, policy: AddressPolicy = STRICT_POLICY): string | null {
  const text = ip.replace(/^\[|\]$/g, '');
  if (isIPv4(text)) return ipv4Reason(BigInt(ipv4ToInt(text)), policy);
  if (!isIPv6(text)) return 'not an IP address';
  const n = ipv6ToBigInt(text);
  const embedded = (v: bigint, what: string) => {
    const why = ipv4Reason(v & 0xffffffffn, policy);
    return why ? `${what} of ${why}` : null;
  };
  if (n >> 32n === 0xffffn) return embedded(n, 'an IPv4-mapped form');
  if (n >> 32n === ipv6ToBigInt('64:ff9b::') >> 32n) return embedded(n, 'a NAT64 form');
  if (n >> 112n === 0x2002n) return embedded(n >> 80n, 'a 6to4 form');
  if (n === 1n) return policy.allowLoopback ? null : 'the loopback address (::1)';
  const special = IPV6_FORBIDDEN.find((r) => inRange(n, 128, r))?.[2];
  if (special) return special;
  // everything outside the global unicast range is reserved (unallocated) or special
  return n >> 125n === 1n ? null : 'a reserved IPv6 address (outside 2000::/3 global unicast)';
}

/** Every address of a name (dns.lookup with all: true); replaceable to test the guard on any answer. */
export type Resolver = (
  hostname: string,
  options: { family?: number | string; hints?: number },
  callback: (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void,
) => void;

const systemResolver: Resolver = (hostname, options, callback) =>
  dnsLookup(
    hostname,
    { all: true, family: options.family as number | undefined, hints: options.hints },
    callback,
  );

/**
 * A `lookup` for http(s).request / net.connect: resolves once, refuses the whole name when
 * any of its addresses is forbidden, and hands the checked addresses to the connection.
 * (An IP literal host never reaches a lookup: check it with `forbiddenAddressReason` first.)
 */
export function guardedLookup(policy: AddressPolicy, resolve: Resolver = systemResolver): LookupFunction {
  return (hostname, options, callback) => {
    resolve(
      hostname,
      { family: options.family, hints: options.hints },
      (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => {
        if (err) return callback(err, '', 0);
        for (const a of addresses) {
          const why = forbiddenAddressReason(a.address, policy);
          if (why) return callback(new ForbiddenAddressError(hostname, a.address, why), '', 0);
        }
        const first = addresses[0];
        if (!first) {
          const none = Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' });
          return callback(none, '', 0);
        }
        if (options.all) return callback(null, addresses);
        callback(null, first.address, first.family);
      },
    );
  };
}

/**
 * Resolves a host (a name or an IP literal, brackets allowed) and checks every address.
 * Throws ForbiddenAddressError; a name DNS cannot answer (within timeoutMs) rejects with
 * the DNS error, so the caller can tell "forbidden" from "cannot tell".
 */
export async function checkHost(host: string, policy: AddressPolicy, timeoutMs = 5_000): Promise<string[]> {
  const bare = host.replace(/^\[|\]$/g, '');
  if (isIP(bare)) {
    const why = forbiddenAddressReason(bare, policy);
    if (why) throw new ForbiddenAddressError(bare, bare, why);
    return [bare];
  }
  const lookup = guardedLookup(policy);
  let timer: NodeJS.Timeout | undefined;
  try {
    return await new Promise<string[]>((resolve, reject) => {
      timer = setTimeout(
        () => reject(Object.assign(new Error(`no DNS answer for ${bare}`), { code: 'ETIMEOUT' })),
        timeoutMs,
      );
      lookup(bare, { all: true }, (err, addresses) => {
        if (err) return reject(err);
        resolve((addresses as LookupAddress[]).map((a) => a.address));
      });
    });
  } finally {
    clearTimeout(timer);
  }
}
