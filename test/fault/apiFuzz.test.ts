import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { finalizeEvent, generateSecretKey, getPublicKey } from 'nostr-tools/pure';
import { bytesToHex } from 'nostr-tools/utils';
import { insertWallet } from '../../src/db/ledger';
import { newId } from '../../src/db/ids';
import type { Pool } from '../../src/db/pool';
import { rawRequest, startApi, type TestApi } from '../helpers/api';
import {
  createLp,
  createMachine,
  createOperator,
  createSuper,
  newPaymentHash,
  secretBox,
  type Lp,
  type Machine,
  type Operator,
} from '../helpers/fixtures';
import { createUserWithKey } from '../../src/api/userAccounts';
import { freshDatabase, temporalClient, testWorker, uniqueTaskQueue } from '../helpers/stack';
import { seededRng } from './faultKit';

/** Generated cases (fixed: the test is bounded in time). */
const CASES = 400;

type Body = Record<string, unknown>;

interface Route {
  method: 'POST' | 'PATCH' | 'PUT';
  path: string;
  key: string;
  /** a body the route accepts (some would write: every case breaks it) */
  valid: () => Body;
  required: string[];
  /** bad values per field: each makes the body invalid */
  bad: Record<string, unknown[]>;
  /** unknown fields are refused */
  strict: boolean;
}

interface ApiCase {
  label: string;
  route: Route;
  /** a JSON value, or raw text when `raw` */
  body: unknown;
  raw?: boolean;
  contentType?: string;
}

interface Noise {
  extra: Record<string, unknown>;
  proto: boolean;
  unicode: string | null;
}

interface Answer {
  status: number;
  body: any;
  text: string;
}

/** Sends one request with a deadline: a hung request is an answer too. */
async function send(api: TestApi, c: ApiCase): Promise<Answer> {
  try {
    const res = await fetch(`${api.url}${c.route.path}`, {
      method: c.route.method,
      headers: {
        authorization: `Bearer ${c.route.key}`,
        'content-type': c.contentType ?? 'application/json',
      },
      body: c.raw ? (c.body as string) : JSON.stringify(c.body),
      signal: AbortSignal.timeout(15_000),
    });
    const text = await res.text();
    let body: unknown = null;
    try {
      body = JSON.parse(text);
    } catch {
      /* not JSON */
    }
    return { status: res.status, body, text };
  } catch (err) {
    return { status: 0, body: null, text: `no answer: ${(err as Error).message}` };
  }
}

/** What a refusal must look like: 4xx, `{"error": {"code", "message", "details"}}`, a message. */
function refusalProblem(a: Answer): string | null {
  if (a.status < 400 || a.status > 499) return `status ${a.status}`;
  const e = a.body?.error;
  if (!e || typeof e !== 'object') return 'no error object';
  if (typeof e.code !== 'string' || !e.code) return 'no error.code';
  if (typeof e.message !== 'string' || !e.message.trim()) return 'no error.message';
  if (!('details' in e)) return 'no error.details';
  return null;
}

/**
 * A fingerprint of every row of every satmachine table (api_keys by count only: each
 * request stamps last_used_at), to prove a refused request wrote nothing.
 */
async function fingerprint(pool: Pool): Promise<Record<string, string>> {
  const { rows: tables } = await pool.query<{ table_name: string }>(
    `SELECT table_name FROM information_schema.tables WHERE table_schema = 'satmachine' AND table_type = 'BASE TABLE'
      ORDER BY table_name`,
  );
  const out: Record<string, string> = {};
  for (const { table_name: t } of tables) {
    const sql =
      t === 'api_keys' || t === 'nip98_seen'
        ? `SELECT count(*)::text AS f FROM satmachine.${t}`
        : `SELECT count(*)::text || ':' || COALESCE(md5(string_agg(x::text, ',' ORDER BY x::text)), '') AS f
             FROM satmachine.${t} x`;
    out[t] = (await pool.query<{ f: string }>(sql)).rows[0]!.f;
  }
  return out;
}

const NANISH = [
  'NaN',
  'Infinity',
  '-Infinity',
  '1e999',
  'null',
  'undefined',
  '0x1A',
  ' ',
  '١٢٣',
  '1,5',
  '+1',
];
const NOT_OBJECTS = [null, true, 42, 'text', [] as unknown[], [1, 2]];
const long = (n: number) => 'x'.repeat(n);
/** odd but storable unicode: RTL, zero-width, emoji, combining marks, a lone surrogate */
const UNICODE = ['مرحبا', 'a\u200bb', '👩‍👩‍👧‍👦', 'e\u0301\u0301\u0301', '\u202eevil', '\ud800', 'Ω≈ç√'];

/**
 * Bad input to the HTTP API: random and mutated bodies sent to every write route.
 * Every answer is a 4xx with the error shape (never a 5xx), nothing is written, and
 * the API keeps serving.
 */
describe('fuzz: bad bodies on the write routes get a 4xx with a reason and write nothing', () => {
  const rng = seededRng('apiFuzz');
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let temporal: Awaited<ReturnType<typeof temporalClient>>;
  let api: TestApi;
  let superKey: string;
  let operator: Operator;
  let machine: Machine;
  let lp: Lp;
  let otherLpId: string;
  let depositId: string;
  let settlementId: string;
  let otherWallet: string;
  const apiTaskQueue = uniqueTaskQueue('fuzz-api'); // no worker: a workflow started by mistake shows in the list

  beforeAll(async () => {
    db = await freshDatabase();
    temporal = await temporalClient();
    api = await startApi({ pool: db.pool, temporal: temporal.client, taskQueue: apiTaskQueue });
    superKey = (await createSuper(db.pool)).apiKey;
    operator = await createOperator(db.pool);
    machine = await createMachine(db.pool, operator, { fundSats: 1_000 });
    lp = await createLp(db.pool, machine, { name: 'lp', depositCents: 50_000 });
    otherLpId = (await createUserWithKey(db.pool, secretBox, { role: 'lp', name: 'other lp' })).user.id;
    otherWallet = (await insertWallet(db.pool, operator.id, 'not the lp')).id;
    depositId = newId();
    await db.pool.query(
      `INSERT INTO satmachine.dca_deposits (id, client_id, machine_id, creator_user_id, amount, currency, status)
       VALUES ($1, $2, $3, $4, '25.00', 'USD', 'pending')`,
      [depositId, lp.clientId, machine.row.id, operator.id],
    );
    settlementId = newId();
    await db.pool.query(
      `INSERT INTO satmachine.dca_settlements (id, machine_id, payment_hash, tx_type, wire_sats, fiat_amount, fiat_code,
              exchange_rate, fee_sats, principal_sats, status, processed_at)
       VALUES ($1, $2, $3, 'cash_out', 21000, '20.00', 'USD', '1000', 1000, 20000, 'processed', now())`,
      [settlementId, machine.row.id, newPaymentHash()],
    );
  });
  afterAll(async () => {
    await api?.close();
    await temporal?.close();
    await db?.close();
  });

  function routes(): Route[] {
    const operatorKey = operator.apiKey;
    const fee = ['1', '1.5', '-0.1', '0.1234567', 0.1234567, -0.5, true, ...NANISH];
    const machineBad = {
      machine_npub: ['npub1xyz', '0'.repeat(63), 'Z'.repeat(64), 42, null, ''],
      name: ['', '   ', long(201), long(90_000), 5, null, {}, []],
      location: [long(501), 5, {}],
      fiat_code: ['usd', 'US', 'USDT', 840, null],
      operator_cash_in_fee_fraction: fee,
      operator_cash_out_fee_fraction: fee,
      distribution_delay_seconds: [-1, 1.5, '10', 604_801, 1e300, null, 'NaN'],
      wallet_id: ['', long(201), 5, 'no-such-wallet'],
    };
    const leg = (o: Body = {}) => ({ target: otherWallet, label: 'a', fraction: '1', sort_order: 0, ...o });
    return [
      {
        method: 'POST',
        path: '/api/v1/machines',
        key: operatorKey,
        valid: () => ({
          machine_npub: getPublicKey(generateSecretKey()),
          name: 'fuzz atm',
          fiat_code: 'USD',
        }),
        required: ['machine_npub', 'name', 'fiat_code'],
        bad: machineBad,
        strict: false,
      },
      {
        method: 'POST',
        path: `/api/v1/machines/${machine.row.id}/cash-collections`,
        key: operatorKey,
        valid: () => ({ bills: [{ denomination: 20, count: 3 }], note: 'fuzz' }),
        required: ['bills'],
        bad: {
          bills: [
            [{ denomination: 20, count: -1 }],
            [{ denomination: 7, count: 1 }],
            [{ denomination: 0, count: 1 }],
            [{ denomination: 20.5, count: 1 }],
            [{ denomination: 20, count: 2 ** 31 }],
            [{ denomination: 20, count: '3' }],
            [{ denomination: 20, count: 1, extra: true }],
            [
              { denomination: 20, count: 1 },
              { denomination: 20, count: 1 },
            ],
            [{ denomination: 20 }],
            Array.from({ length: 51 }, () => ({ denomination: 20, count: 1 })),
            {},
            'x',
            null,
          ],
          collected_at: ['yesterday', '2999-01-01T00:00:00Z', '2026-13-01T00:00:00Z', 5, null],
          note: [long(1001), 5, {}],
        },
        strict: true,
      },
      {
        method: 'PATCH',
        path: `/api/v1/machines/${machine.row.id}`,
        key: operatorKey,
        valid: () => ({ name: 'renamed' }),
        required: [],
        bad: {
          ...machineBad,
          is_active: ['yes', 1, null],
          machine_npub: [...machineBad.machine_npub, machine.pubkey.slice(1)],
        },
        strict: true,
      },
      {
        method: 'POST',
        path: `/api/v1/machines/${machine.row.id}/clients`,
        key: operatorKey,
        valid: () => ({ user_id: otherLpId }),
        required: ['user_id'],
        bad: {
          user_id: ['', 'has space', long(65), 1, null, 'no-such-user', operator.id, lp.userId],
          username: ['', '  ', long(101), 5, {}],
        },
        strict: false,
      },
      {
        method: 'POST',
        path: '/api/v1/deposits',
        key: operatorKey,
        valid: () => ({ client_id: lp.clientId, amount: '10.00' }),
        required: ['client_id', 'amount'],
        bad: {
          client_id: ['', 'no-such-client', 1, null, 'a b'],
          amount: ['0', '-1', '1.001', '', '99999999999999999999', 0, -5, 1.001, null, true, ...NANISH],
          notes: [long(2001), 5, {}, []],
        },
        strict: false,
      },
      {
        method: 'PUT',
        path: `/api/v1/deposits/${depositId}/status`,
        key: operatorKey,
        valid: () => ({ status: 'confirmed' }),
        required: ['status'],
        bad: { status: ['pending', 'CONFIRMED', '', null, 1, ['confirmed']], notes: [long(2001), 5, {}] },
        strict: false,
      },
      {
        method: 'PUT',
        path: '/api/v1/commission-splits',
        key: operatorKey,
        valid: () => ({ legs: [leg()] }),
        required: ['legs'],
        bad: {
          legs: [
            'legs',
            {},
            [null],
            [[leg()]],
            [leg({ fraction: '0.5' })],
            [leg({ fraction: '0.5' }), leg({ fraction: '0.4', sort_order: 1 })],
            [leg({ fraction: '0.5' }), leg({ fraction: '0.5' })],
            Array.from({ length: 51 }, (_, i) => leg({ fraction: '0.02', sort_order: i })),
            [leg({ target: '' })],
            [leg({ target: 'bad@' })],
            [leg({ target: 'no-such-wallet' })],
            [leg({ target: 'has space' })],
            [leg({ fraction: '0' })],
            [leg({ fraction: '1.0000001' })],
            [leg({ fraction: 'NaN' })],
            [leg({ fraction: 1.5 })],
            [leg({ sort_order: -1 })],
            [leg({ sort_order: 1.5 })],
            [leg({ sort_order: '0' })],
            [leg({ sort_order: 10_001 })],
            [leg({ label: long(101) })],
          ],
        },
        strict: false,
      },
      {
        method: 'PUT',
        path: '/api/v1/lp/preferences',
        key: lp.apiKey,
        valid: () => ({ default_dca_mode: 'flow' }),
        required: [],
        bad: {
          dca_wallet_id: ['no-such-wallet', otherWallet, '', long(201), 1],
          default_dca_mode: ['weekly', 'FLOW', null, 1],
          fixed_mode_daily_limit: ['1.234', '-1', -1, true, ...NANISH],
          autoforward_ln_address: ['not an address', 'a@b', `${long(400)}@x.com`, '@x.com', 5],
          autoforward_enabled: ['true', 1, 'yes'],
        },
        strict: true,
      },
      {
        method: 'PATCH',
        path: '/api/v1/alerts/settings',
        key: operatorKey,
        valid: () => ({ offline_after_minutes: 20 }),
        required: [],
        bad: {
          offline_after_minutes: [0, -1, 1.5, '10', 10_081, 1e300, ...NANISH],
          stuck_after_minutes: [0, null, '30', 1.5],
          cassette_min_count: [-1, 1.5, '5', 100_001],
          wallet_min_sats: [-1, 1.5, '5', 1e300],
          fee_mismatch_tolerance_sats: [-1, 0.5, 'x'],
          lp_remaining_min: ['1.234', '-1', -1, true, ...NANISH],
          settlement_alerts: ['true', 1, null],
          nostr_recipient: ['npub1xyz', '0'.repeat(63), 'Z'.repeat(64), 42, ''],
          email_to: ['not an address', 'a@b', 'x@y.z\r\nBcc: v@w.x', `${long(250)}@x.com`, 5],
        },
        strict: true,
      },
      {
        method: 'POST',
        path: '/api/v1/alerts/webhooks',
        key: operatorKey,
        // a public IP literal: accepted without a DNS answer
        valid: () => ({ url: 'https://93.184.215.14/satmachine' }),
        required: ['url'],
        bad: {
          url: [
            '',
            'not a url',
            'ftp://93.184.215.14/x',
            'http://10.0.0.1/hook',
            'http://169.254.169.254/latest/meta-data/',
            'http://[::1]/hook',
            'https://u:p@93.184.215.14/x',
            `https://93.184.215.14/${long(2001)}`,
            5,
            null,
          ],
          description: [long(201), 5, {}],
        },
        strict: true,
      },
      {
        method: 'PUT',
        path: '/api/v1/lp/alert-settings',
        key: lp.apiKey,
        valid: () => ({ remaining_min: '10.00' }),
        required: ['remaining_min'],
        bad: { remaining_min: ['1.234', '-1', -1, true, 'ten', {}] },
        strict: true,
      },
      {
        method: 'PATCH',
        path: '/api/v1/super/config',
        key: superKey,
        valid: () => ({ platform_cash_in_fee_fraction: '0.01' }),
        required: [],
        bad: {
          platform_cash_in_fee_fraction: fee,
          platform_cash_out_fee_fraction: fee,
          super_wallet_id: ['no-such-wallet', long(201), '', 1],
        },
        strict: true,
      },
      {
        method: 'POST',
        path: '/api/v1/super/users',
        key: superKey,
        valid: () => ({ role: 'lp', name: 'fuzz user' }),
        required: ['role', 'name'],
        bad: {
          role: ['admin', 'SUPER', '', null, 1],
          name: ['', '   ', long(201), 1, null, {}],
          pubkey: ['npub1bad', 'zz', '0'.repeat(63), 42, operator.pubkey],
        },
        strict: false,
      },
      {
        method: 'POST',
        path: `/api/v1/settlements/${settlementId}/partial-dispense`,
        key: operatorKey,
        valid: () => ({ fiat_amount: '5.00', note: 'dispensed less' }),
        required: ['fiat_amount', 'note'],
        bad: {
          fiat_amount: ['-1', '1.234', null, true, '1e3', -0.01, ...NANISH],
          note: ['', '   ', long(2001), 5, null, []],
        },
        strict: false,
      },
      {
        method: 'POST',
        path: `/api/v1/settlements/${settlementId}/notes`,
        key: operatorKey,
        valid: () => ({ text: 'a note' }),
        required: ['text'],
        bad: { text: ['', '   ', long(2001), 5, null, [], {}] },
        strict: false,
      },
      {
        method: 'POST',
        path: '/api/v1/ledger/payments',
        key: superKey,
        valid: () => ({
          wallet_id: machine.walletId,
          payment_hash: newPaymentHash(),
          amount_sats: 1_000,
          direction: 'incoming',
        }),
        required: ['wallet_id', 'payment_hash', 'amount_sats', 'direction'],
        bad: {
          wallet_id: ['no-such-wallet', '', 'has space', 1],
          payment_hash: ['A'.repeat(64), '0'.repeat(63), 'g'.repeat(64), 1, null],
          amount_sats: [0, -1, 1.5, '100', 2 ** 53, 1e300, null, 'NaN'],
          direction: ['in', 'INCOMING', null, 1],
        },
        strict: false,
      },
      {
        method: 'POST',
        path: `/api/v1/clients/${lp.clientId}/balance-settlement`,
        key: operatorKey,
        valid: () => ({ exchange_rate: '1000' }),
        required: ['exchange_rate'],
        bad: {
          exchange_rate: ['0', '-1', '1.123456789', 'abc', null, 0, -5, true, ...NANISH],
          fiat_amount: ['0', '-1', '1.001', '999999.99', -1, ...NANISH],
        },
        strict: false,
      },
    ];
  }

  /** One route and one way of breaking its body. */
  function caseArbitrary(all: Route[]): fc.Arbitrary<ApiCase> {
    const noise: fc.Arbitrary<Noise> = fc.record({
      extra: fc.dictionary(fc.string({ minLength: 1, maxLength: 10 }), fc.jsonValue({ maxDepth: 2 }), {
        maxKeys: 3,
      }),
      proto: fc.boolean(),
      unicode: fc.option(fc.constantFrom(...UNICODE), { nil: null }),
    });
    /** valid body + noise (unknown fields, a literal __proto__ key, odd unicode in the string fields) */
    const noisy = (route: Route, body: Body, n: Noise, label: string, broken?: string): ApiCase => {
      // unknown fields only: a random key must never supply a field the case removed
      const known = new Set([...route.required, ...Object.keys(route.bad), ...Object.keys(route.valid())]);
      const b: Body = {
        ...Object.fromEntries(Object.entries(n.extra).filter(([k]) => !known.has(k))),
        ...body,
      };
      if (n.unicode)
        for (const [k, v] of Object.entries(b))
          if (typeof v === 'string' && k === 'name' && k !== broken) b[k] = `${v}${n.unicode}`;
      const json = JSON.stringify(b);
      return n.proto
        ? {
            route,
            label: `${label} +__proto__`,
            body: json.replace(/^\{/, '{"__proto__":{"polluted":true},'),
            raw: true,
          }
        : { route, label, body: b };
    };
    const perRoute = all.map((route) => {
      const field = fc
        .constantFrom(...Object.keys(route.bad))
        .chain((name) => fc.tuple(fc.constant(name), fc.constantFrom(...route.bad[name]!), noise))
        .map(([name, value, n]) =>
          noisy(
            route,
            { ...route.valid(), [name]: value },
            n,
            `${name} = ${JSON.stringify(value)?.slice(0, 40)}`,
            name,
          ),
        );
      const missing = route.required.length
        ? fc.tuple(fc.constantFrom(...route.required), noise).map(([name, n]) => {
            const b = route.valid();
            delete b[name];
            return noisy(route, b, n, `missing ${name}`);
          })
        : field;
      const extra = route.strict
        ? fc
            .constantFrom('unknown', '__proto__', 'constructor', 'prototype', 'id', 'operator_user_id')
            .map((k) => ({
              route,
              label: `unknown field ${k}`,
              body: JSON.stringify(route.valid()).replace(/^\{/, `{"${k}":{"polluted":true},`),
              raw: true,
            }))
        : field;
      const shape = fc.oneof(
        fc
          .constantFrom(...NOT_OBJECTS)
          .map((body) => ({ route, label: `body ${JSON.stringify(body)}`, body })),
        fc.constant({ route, label: 'body [valid]', body: [route.valid()] }),
        fc.integer({ min: 500, max: 3_000 }).map((depth) => ({
          route,
          label: `nested ${depth} deep`,
          body: `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`,
          raw: true,
        })),
        fc
          .constantFrom(
            '{',
            '{"a":1,}',
            "{'a':1}",
            '{"a":NaN}',
            '{"a":Infinity}',
            'undefined',
            '\u0000',
            '{"a":1}{"b":2}',
            '\uFEFF{"a":', // a BOM is tolerated (stripped): the rest must be broken
            // an empty body reads as {}: invalid only where fields are required
            ...(route.required.length ? [''] : []),
          )
          .map((text) => ({ route, label: `invalid JSON ${JSON.stringify(text)}`, body: text, raw: true })),
        fc.constant({
          route,
          label: 'body over the limit',
          body: JSON.stringify({ x: long(200_000) }),
          raw: true,
        }),
        fc.constant({
          route,
          label: 'JSON sent as text/plain',
          body: JSON.stringify(route.valid()),
          raw: true,
          contentType: 'text/plain',
        }),
      );
      return fc.oneof(
        { arbitrary: field, weight: 6 },
        { arbitrary: missing, weight: 2 },
        { arbitrary: extra, weight: 1 },
        { arbitrary: shape, weight: 2 },
      );
    });
    return fc.oneof(...perRoute);
  }

  it('every generated case is a 4xx with the error shape, nothing is written, the API serves on', async () => {
    const all = routes();
    const cases = fc.sample(caseArbitrary(all), { seed: rng.seed, numRuns: CASES });
    // every route, every field, explicitly, besides what the generator picked
    for (const route of all)
      for (const [name, values] of Object.entries(route.bad))
        for (const value of values)
          cases.push({
            route,
            label: `${name} = ${JSON.stringify(value)?.slice(0, 40)}`,
            body: { ...route.valid(), [name]: value },
          });

    const before = await fingerprint(db.pool);
    const problems: string[] = [];
    const statuses: Record<number, number> = {};
    for (const c of cases) {
      const a = await send(api, c);
      statuses[a.status] = (statuses[a.status] ?? 0) + 1;
      const problem = refusalProblem(a);
      if (problem)
        problems.push(`${c.route.method} ${c.route.path} ${c.label}: ${problem}: ${a.text.slice(0, 200)}`);
    }
    process.stderr.write(
      `[apiFuzz] ${cases.length} requests, answers by status ${JSON.stringify(statuses)}\n`,
    );
    expect(problems).toEqual([]);
    expect(await fingerprint(db.pool)).toEqual(before);
    const started: string[] = [];
    for await (const w of temporal.client.workflow.list({ query: `TaskQueue = "${apiTaskQueue}"` }))
      started.push(w.workflowId);
    expect(started).toEqual([]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();

    // the API keeps serving, reads and writes
    expect((await api.call('GET', '/api/v1/me', operator.apiKey)).status).toBe(200);
    const note = await api.call('POST', `/api/v1/settlements/${settlementId}/notes`, operator.apiKey, {
      text: 'after the fuzz',
    });
    expect(note.status).toBe(201);
    expect(note.body.notes).toContain('after the fuzz');
  }, 120_000);

  /** Sends each case; every answer must be a refusal, and nothing may be written. */
  async function expectAllRefused(cases: ApiCase[]): Promise<void> {
    const before = await fingerprint(db.pool);
    const problems: string[] = [];
    for (const c of cases) {
      const a = await send(api, c);
      const problem = refusalProblem(a);
      if (problem)
        problems.push(`${c.route.method} ${c.route.path} ${c.label}: ${problem}: ${a.text.slice(0, 200)}`);
    }
    expect(problems).toEqual([]);
    expect(await fingerprint(db.pool)).toEqual(before);
  }

  // Regression (issue 15): NIP-98 also accepted the URL the Host header named, so a token a user
  // signed for another site (u=http://evil.example/api/v1/me/api-keys) minted a key here when the
  // request said Host: evil.example. Only PUBLIC_URL counts now; Host and X-Forwarded-* never do.
  it('NIP-98 tokens signed for another origin are 401 whatever Host / X-Forwarded-* / Forwarded say; nothing is written', async () => {
    const secret = generateSecretKey();
    await createUserWithKey(db.pool, secretBox, {
      role: 'lp',
      name: 'nostr fuzz',
      pubkey: getPublicKey(secret),
    });
    const ours = new URL(api.url);
    const port = ours.port;
    const token = (u: string, method: string, body?: string) => {
      const tags = [
        ['u', u],
        ['method', method],
        ['nonce', bytesToHex(generateSecretKey()).slice(0, 16)],
      ];
      if (body) tags.push(['payload', createHash('sha256').update(body).digest('hex')]);
      const e = finalizeEvent(
        { kind: 27235, tags, content: '', created_at: Math.floor(Date.now() / 1000) },
        secret,
      );
      return `Nostr ${Buffer.from(JSON.stringify(e)).toString('base64')}`;
    };
    const send = (method: string, path: string, headers: Record<string, string>, body?: string) =>
      rawRequest(`${api.url}${path}`, method, headers, body).then(
        ({ status, text }): Answer => {
          let parsed: unknown = null;
          try {
            parsed = JSON.parse(text);
          } catch {
            /* not JSON */
          }
          return { status, body: parsed, text };
        },
        (err: Error): Answer => ({ status: 0, body: null, text: `no answer: ${err.message}` }),
      );

    const hosts = fc.oneof(
      fc.constantFrom(
        'evil.example',
        'EVIL.EXAMPLE',
        'evil.example.',
        `evil.example:${port}`,
        `localhost:${port}`,
        `LOCALHOST:${port}`,
        `[::1]:${port}`,
        `0.0.0.0:${port}`,
        `127.0.0.2:${port}`,
        `127.0.0.1:${port}.evil.example`,
        `127.0.0.1:${port}@evil.example`,
        `evil.example#@127.0.0.1:${port}`,
        '127.0.0.1',
        '127.0.0.1:1',
        '169.254.169.254',
        'xn--e1afmkfd.example',
      ),
      fc.domain(),
      fc.tuple(fc.domain(), fc.integer({ min: 1, max: 65_535 })).map(([d, p]) => `${d}:${p}`),
      fc.ipV4(),
      fc.ipV6().map((ip) => `[${ip}]:${port}`),
    );
    const routes = [
      { method: 'POST', path: '/api/v1/me/api-keys', body: undefined },
      { method: 'POST', path: '/api/v1/ledger/wallets', body: '{"name":"forged"}' },
      { method: 'GET', path: '/api/v1/me', body: undefined },
      { method: 'GET', path: '/api/v1/me/api-keys?x=1', body: undefined },
    ] as const;
    const shapes = ['host', 'x-forwarded-host', 'both', 'forwarded', 'all'] as const;
    const cases = fc
      .sample(
        fc.record({
          host: hosts,
          scheme: fc.constantFrom('http', 'https'),
          shape: fc.constantFrom(...shapes),
          route: fc.constantFrom(...routes),
        }),
        { seed: rng.seed, numRuns: 150 },
      )
      .filter(({ host, scheme, route }) => {
        // a spelling of our own URL (e.g. 127.1 is 127.0.0.1) is not another origin
        try {
          return new URL(`${scheme}://${host}${route.path}`).href !== new URL(`${api.url}${route.path}`).href;
        } catch {
          return true;
        }
      });
    expect(cases.length).toBeGreaterThan(100);

    const before = await fingerprint(db.pool);
    const problems: string[] = [];
    for (const { host, scheme, shape, route } of cases) {
      const forwarded = { 'x-forwarded-host': host, 'x-forwarded-proto': scheme };
      const headers: Record<string, string> = {
        host: shape === 'host' || shape === 'both' || shape === 'all' ? host : ours.host,
        ...(shape === 'x-forwarded-host' || shape === 'both' || shape === 'all' ? forwarded : {}),
        ...(shape === 'forwarded' || shape === 'all' ? { forwarded: `host="${host}";proto=${scheme}` } : {}),
        ...(shape === 'all' ? { 'x-forwarded-port': '80', 'x-original-host': host } : {}),
        authorization: token(`${scheme}://${host}${route.path}`, route.method, route.body),
      };
      const a = await send(route.method, route.path, headers, route.body);
      const problem = a.status === 401 ? refusalProblem(a) : `status ${a.status}`;
      if (problem)
        problems.push(
          `${route.method} ${route.path} ${shape} ${scheme}://${host}: ${problem}: ${a.text.slice(0, 200)}`,
        );
    }
    expect(problems).toEqual([]);
    expect(await fingerprint(db.pool)).toEqual(before);

    // the same signer with a token for our URL is served, whatever Host says
    const minted = await send('POST', '/api/v1/me/api-keys', {
      host: 'evil.example',
      'x-forwarded-host': 'evil.example',
      authorization: token(`${api.url}/api/v1/me/api-keys`, 'POST'),
    });
    expect(minted.status).toBe(201);
  });

  // Regression: a NUL character passed the zod string schemas and PostgreSQL refused it
  // (SQLSTATE 22021) with a 500; the route registry now refuses NUL anywhere in the input.
  it('a NUL character in a text field is a 4xx, not a 500', async () => {
    const all = routes();
    const at = (suffix: string) => all.find((x) => x.path.endsWith(suffix))!;
    const NUL = 'a\u0000b';
    const cases: [Route, Body][] = [
      [at('/machines'), { name: NUL }],
      [at('/machines'), { location: NUL }],
      [at('/machines'), { wallet_id: NUL }],
      [at(`/machines/${machine.row.id}`), { name: NUL }],
      [at('/clients'), { username: NUL }],
      [at('/deposits'), { notes: NUL }],
      [at('/status'), { status: 'rejected', notes: NUL }],
      [
        at('/commission-splits'),
        { legs: [{ target: otherWallet, label: NUL, fraction: '1', sort_order: 0 }] },
      ],
      [at('/lp/preferences'), { dca_wallet_id: NUL }],
      [at('/super/config'), { super_wallet_id: NUL }],
      [at('/super/users'), { name: NUL }],
      [at('/notes'), { text: NUL }],
    ];
    await expectAllRefused(
      cases.map(([route, b]) => ({
        route,
        label: `NUL in ${Object.keys(b).join()}`,
        body: { ...route.valid(), ...b },
      })),
    );
  });

  // Regression: exchange_rate had no upper bound, so a rate of 10^16 sats per unit or more
  // started a balanceSettlementWorkflow that failed (numeric(24,8) overflow) with a 500.
  it('an exchange_rate past numeric(24,8) is a 4xx, not a 500', async () => {
    const route = routes().find((x) => x.path.endsWith('/balance-settlement'))!;
    const w = await testWorker({ pool: db.pool, taskQueue: apiTaskQueue }); // so the request is answered
    const running = w.start();
    try {
      await expectAllRefused(
        ['1' + '0'.repeat(16), '1' + '0'.repeat(30)].map((rate) => ({
          route,
          label: `exchange_rate ${rate}`,
          body: { exchange_rate: rate, fiat_amount: '0.01' },
        })),
      );
    } finally {
      await running.stop();
    }
  });
});
