import express from 'express';
import { generateSecretKey, getPublicKey } from 'nostr-tools/pure';
import { z } from 'zod';
import { RouteRegistry, type DocumentedRoute } from '../../src/api/routeRegistry';
import { mountRoutes } from '../../src/api/routes';
import type { ApiDeps } from '../../src/api/deps';
import { newId } from '../../src/db/ids';
import { insertWallet } from '../../src/db/ledger';
import { upsertLnbitsWallet } from '../../src/db/lnbits';
import { LnbitsBackend } from '../../src/payments/lnbits';
import { sealedColumns } from '../../src/security/secretBox';
import { startApi, type TestApi } from '../helpers/api';
import { changedTables, fingerprint } from '../helpers/fingerprint';
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
import { freshDatabase, temporalClient, testLogger, testWorker, uniqueTaskQueue } from '../helpers/stack';

/**
 * Tenant isolation as a matrix: every route of the registry that takes an id (a path
 * parameter, or a query or body field that names a resource) is called by an operator
 * and by an LP with ANOTHER tenant's id. It must answer exactly as it answers an id that
 * does not exist (404 for a path id; the same refusal, or the same empty list, for a
 * query/body id), and write nothing (every table fingerprinted before and after).
 *
 * A control call with the caller's OWN id must answer differently from a missing id: it
 * proves the request (body, other ids) reaches the lookup, so a route that forgets its
 * tenant filter would answer the attack as it answers the control.
 *
 * New routes are covered automatically: the registry is enumerated, and an id parameter
 * with no fixture below, or a route with a required body and no body below, fails the
 * test with what to add.
 */

type Who = 'operator' | 'lp';

interface Tenant {
  role: Who;
  userId: string;
  apiKey: string;
  /** the ledger wallets this user owns */
  wallets: string[];
  /** a wallet of this user no machine uses */
  spareWallet: string;
  /** a revocable api key id of this user (not the one it authenticates with) */
  spareKeyId: string;
  lnbitsWallet: string;
}

interface World {
  opA: Operator & { tenant: Tenant };
  opB: Operator & { tenant: Tenant };
  lpA: Lp & { tenant: Tenant };
  lpB: Lp & { tenant: Tenant };
  machineA: Machine;
  machineB: Machine;
  /** an LP enrolled nowhere (operator A enrols it in the control) */
  freeLpId: string;
  depositA: string;
  depositB: string;
  settlementA: string;
  settlementB: string;
  settlementHashA: string;
  settlementHashB: string;
  cashCollectionA: string;
  cashCollectionB: string;
  alertA: string;
  alertB: string;
  webhookA: string;
  webhookB: string;
  tenants: Tenant[];
}

/** How the matrix names one id parameter of one route. */
type ParamKey = string;

interface IdFixture {
  /** the caller's own resource */
  own(w: World, me: Tenant): string;
  /** resources of other tenants (at least one) */
  victims(w: World, me: Tenant): string[];
  /** an id that exists nowhere, where the route validates a format an arbitrary string would fail */
  ghost?(): string;
}
interface Exempt {
  /** why this id is not a tenant boundary (written where the next reader sees it) */
  exempt: string;
  value(w: World, me: Tenant): string;
}

const othersWallets = (w: World, me: Tenant) =>
  w.tenants.filter((t) => t.userId !== me.userId).flatMap((t) => t.wallets);
const operatorScoped = (own: (w: World) => string, victim: (w: World) => string): IdFixture => ({
  own: (w, me) => {
    if (me.role !== 'operator') throw new Error('an operator-scoped id called as an LP');
    return own(w);
  },
  victims: (w) => [victim(w)],
});

/**
 * One entry per id parameter. Path parameters are keyed by the path up to the parameter
 * (`/machines/:id`); query and body fields by `query.<name>` / `body.<name>`, or
 * `<METHOD> <path> body.<name>` where one name means another resource on that route.
 */
const ID_FIXTURES: Record<ParamKey, IdFixture | Exempt> = {
  '/machines/:id': operatorScoped(
    (w) => w.machineA.row.id,
    (w) => w.machineB.row.id,
  ),
  '/machines/:id/cassettes/:position': {
    exempt: 'a cassette position (1..999) within the machine named by :id, not a resource of its own',
    value: () => '1',
  },
  '/clients/:id': operatorScoped(
    (w) => w.lpA.clientId,
    (w) => w.lpB.clientId,
  ),
  '/deposits/:id': operatorScoped(
    (w) => w.depositA,
    (w) => w.depositB,
  ),
  '/settlements/:id': operatorScoped(
    (w) => w.settlementA,
    (w) => w.settlementB,
  ),
  '/machines/:id/cash-collections/:collection_id': operatorScoped(
    (w) => w.cashCollectionA,
    (w) => w.cashCollectionB,
  ),
  '/settlements/by-hash/:payment_hash': {
    ...operatorScoped(
      (w) => w.settlementHashA,
      (w) => w.settlementHashB,
    ),
    ghost: () => newPaymentHash(),
  },
  '/alerts/:id': operatorScoped(
    (w) => w.alertA,
    (w) => w.alertB,
  ),
  '/alerts/webhooks/:id': operatorScoped(
    (w) => w.webhookA,
    (w) => w.webhookB,
  ),
  '/me/api-keys/:id': {
    own: (_w, me) => me.spareKeyId,
    victims: (w, me) => w.tenants.filter((t) => t.userId !== me.userId).map((t) => t.spareKeyId),
  },
  '/ledger/wallets/:id': {
    own: (_w, me) => me.wallets[0]!,
    victims: othersWallets,
  },
  '/lnbits/wallets/:id': {
    own: (_w, me) => me.lnbitsWallet,
    victims: (w, me) => w.tenants.filter((t) => t.userId !== me.userId).map((t) => t.lnbitsWallet),
  },
  'query.machine_id': operatorScoped(
    (w) => w.machineA.row.id,
    (w) => w.machineB.row.id,
  ),
  'query.client_id': operatorScoped(
    (w) => w.lpA.clientId,
    (w) => w.lpB.clientId,
  ),
  // the LP statement: an LP narrows it to one of its own enrolments (A's LP is enrolled on machine A)
  'GET /reports/lp-statement query.machine_id': {
    own: (w, me) => (me.role === 'lp' && me.userId === w.lpB.userId ? w.machineB.row.id : w.machineA.row.id),
    victims: (w, me) => [
      me.role === 'lp' && me.userId === w.lpB.userId ? w.machineA.row.id : w.machineB.row.id,
    ],
  },
  'GET /reports/lp-statement query.client_id': {
    own: (w, me) => (me.role === 'lp' && me.userId === w.lpB.userId ? w.lpB.clientId : w.lpA.clientId),
    victims: (w, me) => [me.role === 'lp' && me.userId === w.lpB.userId ? w.lpA.clientId : w.lpB.clientId],
  },
  'query.operator_id': operatorScoped(
    (w) => w.opA.id,
    (w) => w.opB.id,
  ),
  // an operator names an LP enrolled with it; an LP only itself (its statement)
  'query.lp_user_id': {
    own: (w, me) => (me.role === 'lp' ? me.userId : w.lpA.userId),
    victims: (w, me) =>
      me.role === 'lp'
        ? w.tenants.filter((t) => t.role === 'lp' && t.userId !== me.userId).map((t) => t.userId)
        : [w.lpB.userId],
  },
  'query.settlement_id': operatorScoped(
    (w) => w.settlementA,
    (w) => w.settlementB,
  ),
  'body.client_id': operatorScoped(
    (w) => w.lpA.clientId,
    (w) => w.lpB.clientId,
  ),
  'body.machine_id': operatorScoped(
    (w) => w.machineA.row.id,
    (w) => w.machineB.row.id,
  ),
  'body.wallet_id': { own: (_w, me) => me.spareWallet, victims: othersWallets },
  'body.dca_wallet_id': { own: (w, me) => me.wallets[0]!, victims: othersWallets },
  'body.user_id': {
    exempt:
      'LP accounts are platform-wide: an operator enrols any LP by its user id (the enrolment is a row of its own)',
    value: (w) => w.freeLpId,
  },
  'body.legs[].target': {
    exempt:
      "a commission split pays TO a destination: naming a partner's wallet or Lightning address is the feature",
    value: (_w, me) => me.spareWallet,
  },
  'POST /lnbits/wallets body.wallet_id': {
    exempt:
      'the keys are checked with LNbits before anything is stored; a wallet registered by another user is a 409 (test/integration/lnbits.test.ts)',
    value: () => newId(),
  },
};

/** Names that hold ids whatever their schema says. */
const ID_NAMES = /^(id|.*_id|.*Id|target)$/;
const ID_PATTERN = '^[A-Za-z0-9_-]+$';

/** A body each id-taking route accepts, given the ids the matrix chose (keyed as above). */
const BODIES: Record<string, (ids: Record<ParamKey, string>) => unknown> = {
  'POST /machines': (ids) => ({
    machine_npub: getPublicKey(generateSecretKey()),
    name: 'matrix atm',
    fiat_code: 'USD',
    wallet_id: ids['body.wallet_id'],
  }),
  'PATCH /machines/:id': (ids) => ({ name: 'renamed', wallet_id: ids['body.wallet_id'] }),
  'PATCH /machines/:id/cassettes/:position': () => ({ count: 7 }),
  'POST /machines/:id/cash-collections': () => ({ bills: [{ denomination: 20, count: 3 }] }),
  'POST /machines/:id/clients': (ids) => ({ user_id: ids['body.user_id'] }),
  'PATCH /clients/:id': () => ({ username: 'renamed' }),
  'POST /clients/:id/balance-settlement': () => ({ exchange_rate: '1000' }),
  'POST /deposits': (ids) => ({ client_id: ids['body.client_id'], amount: '10.00' }),
  'PATCH /deposits/:id': () => ({ amount: '12.00' }),
  'PUT /deposits/:id/status': () => ({ status: 'confirmed' }),
  'POST /settlements/retry-errored': (ids) => ({ machine_id: ids['body.machine_id'] }),
  'POST /settlements/:id/partial-dispense': () => ({ fiat_amount: '1.00', note: 'matrix' }),
  'POST /settlements/:id/void-failed-legs': () => ({ note: 'matrix' }),
  'POST /settlements/:id/close': () => ({ note: 'matrix' }),
  'POST /settlements/:id/notes': () => ({ text: 'matrix note' }),
  'PUT /commission-splits': (ids) => ({
    legs: [{ target: ids['body.legs[].target'], label: 'partner', fraction: '1', sort_order: 0 }],
  }),
  'PUT /lp/preferences': (ids) => ({ dca_wallet_id: ids['body.dca_wallet_id'] }),
  'PATCH /alerts/webhooks/:id': () => ({ enabled: false }),
  'POST /lnbits/wallets': (ids) => ({
    wallet_id: ids['body.wallet_id'],
    invoice_key: 'invoicekey00',
  }),
};

/** Query parameters (other than ids) a route requires. */
const QUERIES: Record<string, Record<string, string>> = {
  'GET /machines/:id/stats': { since: '2020-01-01T00:00:00Z' },
};

interface IdParam {
  key: ParamKey;
  where: 'path' | 'query' | 'body';
  name: string;
}

interface JsonSchema {
  type?: string;
  pattern?: string;
  properties?: Record<string, JsonSchema>;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
}

/** Fields (with their path, arrays as `[]`) that name an id: by name or by the id schema. */
function idFields(schema: z.ZodType | undefined): string[] {
  if (!schema) return [];
  const out = new Set<string>();
  const walk = (s: JsonSchema, path: string, depth: number) => {
    if (depth > 8) return;
    for (const alt of [...(s.anyOf ?? []), ...(s.oneOf ?? []), ...(s.allOf ?? [])])
      walk(alt, path, depth + 1);
    if (s.items) walk(s.items, `${path}[]`, depth + 1);
    for (const [name, p] of Object.entries(s.properties ?? {})) {
      const here = path ? `${path}.${name}` : name;
      const patterns = [p, ...(p.anyOf ?? [])].map((x) => x.pattern);
      if (ID_NAMES.test(name) || patterns.includes(ID_PATTERN)) out.add(here);
      walk(p, here, depth + 1);
    }
  };
  walk(z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as JsonSchema, '', 0);
  return [...out];
}

function idParamsOf(spec: DocumentedRoute['spec']): IdParam[] {
  const out: IdParam[] = [];
  for (const m of spec.path.matchAll(/:([A-Za-z_]+)/g)) {
    out.push({ key: spec.path.slice(0, m.index + m[0].length), where: 'path', name: m[1]! });
  }
  for (const f of idFields(spec.query)) out.push({ key: `query.${f}`, where: 'query', name: f });
  for (const f of idFields(spec.body)) out.push({ key: `body.${f}`, where: 'body', name: f });
  return out;
}

const routeName = (spec: DocumentedRoute['spec']) => `${spec.method.toUpperCase()} ${spec.path}`;

function fixtureFor(spec: DocumentedRoute['spec'], p: IdParam): IdFixture | Exempt | undefined {
  return ID_FIXTURES[`${routeName(spec)} ${p.key}`] ?? ID_FIXTURES[p.key];
}

/** The routes of the registry as the app mounts them with both payment backends' routes. */
function registryRoutes(deps: ApiDeps): DocumentedRoute[] {
  const r = new RouteRegistry(express.Router(), () => (_req, _res, next) => next(), '/api/v1');
  mountRoutes(r, deps);
  return r.routes;
}

function callersOf(spec: DocumentedRoute['spec']): Who[] | 'super only' | 'public' {
  if (spec.auth === 'public') return 'public';
  if (spec.auth === 'any') return ['operator', 'lp'];
  const who = (['operator', 'lp'] as const).filter((r) => (spec.auth as readonly string[]).includes(r));
  return who.length ? who : 'super only';
}

interface Answer {
  status: number;
  body: any;
}

const sameAnswer = (a: Answer, b: Answer) =>
  a.status === b.status &&
  (a.status < 300
    ? JSON.stringify(a.body) === JSON.stringify(b.body)
    : a.body?.error?.code === b.body?.error?.code);
const show = (a: Answer) =>
  `${a.status} ${a.status < 300 ? JSON.stringify(a.body)?.slice(0, 120) : (a.body?.error?.code ?? '')}`;

describe("tenant isolation matrix: every route that takes an id, called with another tenant's id", () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let temporal: Awaited<ReturnType<typeof temporalClient>>;
  let api: TestApi;
  let w: World;
  let worker: { stop: () => Promise<void> } | undefined;
  const taskQueue = uniqueTaskQueue('matrix');

  beforeAll(async () => {
    db = await freshDatabase();
    temporal = await temporalClient();
    const lnbits = new LnbitsBackend({
      pool: db.pool,
      logger: testLogger,
      // never reached: the id routes read the registrations from PostgreSQL
      url: 'http://127.0.0.1:9',
      secretBox,
      requestTimeoutMs: 1_000,
    });
    // the ledger's routes and the LNbits wallet routes, both mounted
    api = await startApi({ pool: db.pool, temporal: temporal.client, taskQueue, lnbits });
    await createSuper(db.pool);

    const tenant = async (role: Who, userId: string, apiKey: string, wallets: string[]): Promise<Tenant> => {
      const spare = (await insertWallet(db.pool, userId, 'spare')).id;
      const key = await api.call('POST', '/api/v1/me/api-keys', apiKey);
      expect(key.status).toBe(201);
      const lnbitsWallet = newId();
      await upsertLnbitsWallet(db.pool, {
        wallet_id: lnbitsWallet,
        owner_user_id: userId,
        name: 'lnbits',
        admin_key_enc: secretBox.seal('adminkey00', sealedColumns.lnbitsAdminKey(lnbitsWallet)),
        invoice_key_enc: secretBox.seal('invoicekey00', sealedColumns.lnbitsInvoiceKey(lnbitsWallet)),
      });
      return {
        role,
        userId,
        apiKey,
        wallets: [...wallets, spare],
        spareWallet: spare,
        spareKeyId: key.body.id,
        lnbitsWallet,
      };
    };

    const opA = await createOperator(db.pool, 'operator A');
    const opB = await createOperator(db.pool, 'operator B');
    const machineA = await createMachine(db.pool, opA, { fundSats: 100_000 });
    const machineB = await createMachine(db.pool, opB, { fundSats: 100_000 });
    const lpA = await createLp(db.pool, machineA, { name: 'lp A', depositCents: 10_000 });
    const lpB = await createLp(db.pool, machineB, { name: 'lp B', depositCents: 10_000 });
    const freeLpId = (await createUserWithKey(db.pool, secretBox, { role: 'lp', name: 'free lp' })).user.id;

    const deposit = async (m: Machine, clientId: string) => {
      const id = newId();
      await db.pool.query(
        `INSERT INTO satmachine.dca_deposits (id, client_id, machine_id, creator_user_id, amount, currency, status)
         VALUES ($1, $2, $3, $4, '25.00', 'USD', 'pending')`,
        [id, clientId, m.row.id, m.row.operator_user_id],
      );
      return id;
    };
    const settlementHashes = new Map<string, string>();
    const settlement = async (m: Machine) => {
      const id = newId();
      const hash = newPaymentHash();
      settlementHashes.set(m.row.id, hash);
      await db.pool.query(
        `INSERT INTO satmachine.dca_settlements (id, machine_id, payment_hash, tx_type, wire_sats, fiat_amount, fiat_code,
                exchange_rate, fee_sats, principal_sats, status, processed_at)
         VALUES ($1, $2, $3, 'cash_out', 21000, '20.00', 'USD', '1000', 1000, 20000, 'processed', now())`,
        [id, m.row.id, hash],
      );
      await db.pool.query(
        `INSERT INTO satmachine.dca_payments (id, settlement_id, machine_id, operator_user_id, leg_type, amount_sats,
                source_wallet_id, destination_wallet_id, status)
         VALUES ($1, $2, $3, $4, 'settlement', 1000, $5, $5, 'completed')`,
        [newId(), id, m.row.id, m.row.operator_user_id, m.walletId],
      );
      return id;
    };
    for (const m of [machineA, machineB]) {
      await db.pool.query(
        `INSERT INTO satmachine.cassette_configs (machine_id, position, denomination, count) VALUES ($1, 1, 20, 50)`,
        [m.row.id],
      );
      await db.pool.query(
        `INSERT INTO satmachine.dca_telemetry (machine_id, telemetry_json, telemetry_received_at)
         VALUES ($1, '{}', now())`,
        [m.row.id],
      );
    }

    const cashCollection = async (m: Machine) => {
      const id = newId();
      await db.pool.query(
        `INSERT INTO satmachine.cash_collections (id, machine_id, collected_at, created_by)
         VALUES ($1, $2, now() - interval '1 day', $3)`,
        [id, m.row.id, m.row.operator_user_id],
      );
      return id;
    };
    const alert = async (m: Machine) => {
      const id = newId();
      await db.pool.query(
        `INSERT INTO satmachine.alerts (id, operator_user_id, rule, alert_key, subject_type, subject_id, summary)
         VALUES ($1, $2, 'machine_offline', 'machine_offline:' || $3, 'machine', $3, 'offline')`,
        [id, m.row.operator_user_id, m.row.id],
      );
      return id;
    };
    const webhook = async (m: Machine) => {
      const id = newId();
      await db.pool.query(
        `INSERT INTO satmachine.alert_webhooks (id, operator_user_id, url, secret_enc)
         VALUES ($1, $2, 'https://hooks.example.com/x', $3)`,
        [id, m.row.operator_user_id, secretBox.seal('whsec_matrix', sealedColumns.alertWebhookSecret(id))],
      );
      return id;
    };
    const alertIds = { a: await alert(machineA), b: await alert(machineB) };
    const webhookIds = { a: await webhook(machineA), b: await webhook(machineB) };

    const tA = await tenant('operator', opA.id, opA.apiKey, [machineA.walletId]);
    const tB = await tenant('operator', opB.id, opB.apiKey, [machineB.walletId]);
    const tLpA = await tenant('lp', lpA.userId, lpA.apiKey, [lpA.walletId]);
    const tLpB = await tenant('lp', lpB.userId, lpB.apiKey, [lpB.walletId]);
    w = {
      opA: { ...opA, tenant: tA },
      opB: { ...opB, tenant: tB },
      lpA: { ...lpA, tenant: tLpA },
      lpB: { ...lpB, tenant: tLpB },
      machineA,
      machineB,
      freeLpId,
      depositA: await deposit(machineA, lpA.clientId),
      depositB: await deposit(machineB, lpB.clientId),
      settlementA: await settlement(machineA),
      settlementB: await settlement(machineB),
      cashCollectionA: await cashCollection(machineA),
      cashCollectionB: await cashCollection(machineB),
      get settlementHashA() {
        return settlementHashes.get(machineA.row.id)!;
      },
      get settlementHashB() {
        return settlementHashes.get(machineB.row.id)!;
      },
      alertA: alertIds.a,
      alertB: alertIds.b,
      webhookA: webhookIds.a,
      webhookB: webhookIds.b,
      tenants: [tA, tB, tLpA, tLpB],
    };
    // the controls of balance-settlement wait for their workflow
    worker = (await testWorker({ pool: db.pool, taskQueue })).start();
  });

  afterAll(async () => {
    await worker?.stop();
    await api?.close();
    await temporal?.close();
    await db?.close();
  });

  const routesWithIds = () =>
    registryRoutes(api.deps)
      .map((r) => ({ spec: r.spec, ids: idParamsOf(r.spec) }))
      .filter((r) => r.ids.length > 0);

  /** Builds the request for one route with one choice of ids. */
  function request(spec: DocumentedRoute['spec'], ids: Record<ParamKey, string>) {
    let path = spec.path;
    const query = new URLSearchParams(QUERIES[routeName(spec)]);
    for (const p of idParamsOf(spec)) {
      if (p.where === 'path') path = path.replace(`:${p.name}`, encodeURIComponent(ids[p.key]!));
      if (p.where === 'query') query.set(p.name, ids[p.key]!);
    }
    const makeBody = BODIES[routeName(spec)];
    const body = makeBody ? makeBody(ids) : undefined;
    return { path: `/api/v1${path}${query.size ? `?${query}` : ''}`, body };
  }

  it('the matrix can exercise every route that takes an id (a new route or id parameter needs a fixture here)', () => {
    const missing: string[] = [];
    for (const { spec, ids } of routesWithIds()) {
      const callers = callersOf(spec);
      if (callers === 'public') missing.push(`${routeName(spec)}: a public route that takes an id`);
      if (!Array.isArray(callers)) continue;
      for (const p of ids) {
        if (!fixtureFor(spec, p)) {
          missing.push(
            `${routeName(spec)}: no fixture for ${p.where} id "${p.name}": add "${p.key}" to ID_FIXTURES`,
          );
        }
      }
      const placeholders = Object.fromEntries(ids.map((p) => [p.key, 'placeholder-id']));
      const { body } = request(spec, placeholders);
      if (spec.body && !spec.body.safeParse(body).success) {
        missing.push(`${routeName(spec)}: takes a body: add a valid one to BODIES`);
      }
      const query = { ...QUERIES[routeName(spec)] };
      for (const p of ids) if (p.where === 'query') query[p.name] = 'placeholder-id';
      if (spec.query && !spec.query.safeParse(query).success) {
        missing.push(`${routeName(spec)}: requires query parameters: add them to QUERIES`);
      }
    }
    expect(missing).toEqual([]);
    // the enumeration sees the routes it must (a registry read that finds nothing proves nothing)
    const names = routesWithIds().map((r) => routeName(r.spec));
    expect(names).toEqual(
      expect.arrayContaining([
        'GET /machines/:id',
        'DELETE /deposits/:id',
        'POST /deposits',
        'GET /settlements',
        'GET /settlements/by-hash/:payment_hash',
        'GET /clients/:id/legs',
        'GET /lnbits/wallets/:id',
        'GET /ledger/wallets/:id',
        'PUT /lp/preferences',
        'GET /alerts/:id',
        'GET /alerts/webhooks/:id/deliveries',
      ]),
    );
  });

  it("another tenant's id answers as a missing id does (404 in a path), writes nothing; the caller's own id does not", async () => {
    const problems: string[] = [];
    const controls: { method: string; run: () => Promise<void> }[] = [];
    let attacks = 0;
    for (const { spec, ids } of routesWithIds()) {
      const callers = callersOf(spec);
      if (!Array.isArray(callers)) continue;
      for (const who of callers) {
        const me = who === 'operator' ? w.opA.tenant : w.lpA.tenant;
        const fixtures = ids.map((p) => ({ p, f: fixtureFor(spec, p)! }));
        const own: Record<ParamKey, string> = {};
        for (const { p, f } of fixtures) own[p.key] = 'exempt' in f ? f.value(w, me) : f.own(w, me);
        const call = (ids2: Record<ParamKey, string>): Promise<Answer> => {
          const { path, body } = request(spec, ids2);
          return api.call(spec.method.toUpperCase(), path, me.apiKey, body);
        };
        for (const { p, f } of fixtures) {
          if ('exempt' in f) continue;
          const label = `${who} ${routeName(spec)} ${p.where} ${p.name}`;
          const ghost = await call({ ...own, [p.key]: f.ghost ? f.ghost() : `ghost${newId()}` });
          if (ghost.status >= 500) problems.push(`${label}: a missing id answers ${show(ghost)}`);
          for (const victim of f.victims(w, me)) {
            attacks++;
            const before = await fingerprint(db.pool);
            const a = await call({ ...own, [p.key]: victim });
            const wrote = changedTables(before, await fingerprint(db.pool));
            if (wrote.length) problems.push(`${label}: another tenant's id wrote ${wrote.join(', ')}`);
            if (p.where === 'path' && a.status !== 404)
              problems.push(`${label}: another tenant's id answers ${show(a)}, not 404`);
            if (!sameAnswer(a, ghost))
              problems.push(`${label}: another tenant's id answers ${show(a)}, a missing id ${show(ghost)}`);
            if (a.status >= 300 && ![403, 404, 422].includes(a.status))
              problems.push(`${label}: another tenant's id answers ${show(a)}`);
          }
          controls.push({
            method: spec.method,
            run: async () => {
              const c = await call(own);
              if (sameAnswer(c, ghost) || c.status >= 500)
                problems.push(
                  `${label}: control with the caller's own id answers ${show(c)} (a missing id: ${show(ghost)}): the matrix cannot tell`,
                );
            },
          });
        }
      }
    }
    // the controls write (the caller's own resources): after every attack, deletions last
    const last = (c: { method: string }) => (c.method === 'delete' ? 1 : 0);
    for (const control of [...controls].sort((a, b) => last(a) - last(b))) await control.run();
    expect(problems).toEqual([]);
    expect(attacks).toBeGreaterThan(40);
  });
});
