import { createHash } from 'node:crypto';
import { generateSecretKey, getPublicKey, finalizeEvent } from 'nostr-tools/pure';
import { bytesToHex } from 'nostr-tools/utils';
import { createUserWithKey } from '../../src/api/userAccounts';
import { rawRequest, type TestApi } from '../helpers/api';
import {
  createLp,
  createMachine,
  createOperator,
  createSuper,
  ledgerFor,
  secretBox,
  type Lp,
  type Machine,
  type Operator,
  splitAllToNewWallet,
} from '../helpers/fixtures';
import { awaitSettled, sendSettlement } from '../helpers/settle';
import { startTestStack, type TestStack } from '../helpers/testStack';

/** The LP's own view across operators, balance settlement, and NIP-98 sign-in. */
describe('API: LP view, balance settlement and NIP-98', () => {
  let stack: TestStack;
  let db: TestStack['db'];
  let temporal: TestStack['temporal'];
  let taskQueue: string;
  let api: TestApi;
  let opA: Operator;
  let opB: Operator;
  let machineA: Machine;
  let machineB: Machine;
  let alice: Lp;
  let aliceAtB: string;
  let bob: Lp;

  beforeAll(async () => {
    stack = await startTestStack();
    ({ db, temporal, taskQueue } = stack);
    api = await stack.startApi();
    await createSuper(db.pool, { cashOut: '0' });
    opA = await createOperator(db.pool, 'A');
    opB = await createOperator(db.pool, 'B');
    for (const op of [opA, opB]) await splitAllToNewWallet(db.pool, op);
    machineA = await createMachine(db.pool, opA, { name: 'A1', cashOutFee: '0' });
    machineB = await createMachine(db.pool, opB, { name: 'B1', cashOutFee: '0', fiat: 'EUR' });
    alice = await createLp(db.pool, machineA, { name: 'alice', depositCents: 10_000 });
    bob = await createLp(db.pool, machineA, { name: 'bob', depositCents: 10_000 });
    // alice is also enrolled with operator B
    const enrol = await api.call('POST', `/api/v1/machines/${machineB.row.id}/clients`, opB.apiKey, {
      user_id: alice.userId,
    });
    aliceAtB = enrol.body.id;
    const dep = await api.call('POST', '/api/v1/deposits', opB.apiKey, {
      client_id: aliceAtB,
      amount: '40.00',
    });
    await api.call('PUT', `/api/v1/deposits/${dep.body.id}/status`, opB.apiKey, { status: 'confirmed' });
    // A: 60.00 dispensed at 1,000 sats per unit, split 30/30 between alice and bob; B: 20.00 all alice's
    await awaitSettled(
      db.pool,
      temporal.client,
      await sendSettlement(db.pool, temporal.client, taskQueue, machineA, opA, {
        wireSats: 60_000,
        feeSats: 0,
        fiat: '60.00',
      }),
    );
    await awaitSettled(
      db.pool,
      temporal.client,
      await sendSettlement(db.pool, temporal.client, taskQueue, machineB, opB, {
        wireSats: 20_000,
        feeSats: 0,
        fiat: '20.00',
      }),
    );
  });
  afterAll(async () => {
    await stack.stop();
  });

  it('balances: each enrolment, across both operators, and only the LP own', async () => {
    const r = await api.call('GET', '/api/v1/lp/balances', alice.apiKey);
    expect(r.status).toBe(200);
    const byMachine = Object.fromEntries(r.body.map((b: { machine_id: string }) => [b.machine_id, b]));
    expect(byMachine[machineA.row.id]).toMatchObject({
      confirmed_deposits: '100.00',
      spent_fiat: '30.00',
      pending_fiat: '0.00',
      remaining_balance: '70.00',
      total_sats: 30_000,
      average_cost_basis: '100000.00',
      currency: 'USD',
    });
    expect(byMachine[machineB.row.id]).toMatchObject({
      confirmed_deposits: '40.00',
      spent_fiat: '20.00',
      remaining_balance: '20.00',
      total_sats: 20_000,
      currency: 'EUR',
    });
    const bobs = await api.call('GET', '/api/v1/lp/balances', bob.apiKey);
    expect(bobs.body).toHaveLength(1);
    expect(bobs.body[0].client_id).toBe(bob.clientId);
    expect((await api.call('GET', '/api/v1/lp/balances', opA.apiKey)).status).toBe(404);
  });

  it('enrolments and summary across operators', async () => {
    const e = await api.call('GET', '/api/v1/lp/enrolments', alice.apiKey);
    expect(e.body.map((x: { operator_name: string }) => x.operator_name).sort()).toEqual(['A', 'B']);
    const s = await api.call('GET', '/api/v1/lp/summary', alice.apiKey);
    expect(s.body).toMatchObject({ onboarded: true, enrolments: 2 });
    expect(s.body.currencies.find((c: { currency: string }) => c.currency === 'USD')).toMatchObject({
      spent_fiat: '30.00',
      total_sats: 30_000,
    });
    expect(s.body.last_payout_at).toBeTruthy();
  });

  it('payouts as JSON with cursor pagination, and as CSV', async () => {
    const p1 = await api.call('GET', '/api/v1/lp/payments?limit=1', alice.apiKey);
    expect(p1.body.items).toHaveLength(1);
    expect(p1.body.next_cursor).toBeTruthy();
    const p2 = await api.call(
      'GET',
      `/api/v1/lp/payments?limit=1&cursor=${p1.body.next_cursor}`,
      alice.apiKey,
    );
    expect(p2.body.items).toHaveLength(1);
    expect(p2.body.next_cursor).toBeNull();
    expect(new Set([p1.body.items[0].id, p2.body.items[0].id]).size).toBe(2);
    const csv = await fetch(`${api.url}/api/v1/lp/payments?format=csv`, {
      headers: { authorization: `Bearer ${alice.apiKey}` },
    });
    expect(csv.headers.get('content-type')).toContain('text/csv');
    const lines = (await csv.text()).trim().split('\r\n');
    expect(lines[0]).toBe(
      'completed_at,leg_type,machine_name,amount_sats,amount_fiat,currency,exchange_rate,payment_hash,destination,settlement_id,id',
    );
    expect(lines).toHaveLength(3);
    expect(lines.some((l) => l.includes(',dca,A1,30000,30.00,USD,'))).toBe(true);
    expect(lines.some((l) => l.includes(',dca,B1,20000,20.00,EUR,'))).toBe(true);
    const bobCsv = await api.call('GET', '/api/v1/lp/payments?format=csv', bob.apiKey);
    expect(bobCsv.text.trim().split('\r\n')).toHaveLength(2);
  });

  it("deposits: an LP lists its own across operators, paginated, never another LP's", async () => {
    const all = await api.call('GET', '/api/v1/lp/deposits', alice.apiKey);
    expect(all.status).toBe(200);
    expect(all.body.next_cursor).toBeNull();
    const byMachine = Object.fromEntries(
      all.body.items.map((d: { machine_id: string }) => [d.machine_id, d]),
    );
    expect(all.body.items).toHaveLength(2);
    expect(byMachine[machineA.row.id]).toMatchObject({
      client_id: alice.clientId,
      machine_name: 'A1',
      amount: '100.00',
      currency: 'USD',
      status: 'confirmed',
    });
    expect(byMachine[machineB.row.id]).toMatchObject({
      client_id: aliceAtB,
      machine_name: 'B1',
      amount: '40.00',
      currency: 'EUR',
      status: 'confirmed',
    });
    expect(byMachine[machineA.row.id]).not.toHaveProperty('creator_user_id');
    // keyset pagination walks the same list, page by page
    const p1 = await api.call('GET', '/api/v1/lp/deposits?limit=1', alice.apiKey);
    expect(p1.body.items).toHaveLength(1);
    expect(p1.body.next_cursor).toBeTruthy();
    const p2 = await api.call(
      'GET',
      `/api/v1/lp/deposits?limit=1&cursor=${p1.body.next_cursor}`,
      alice.apiKey,
    );
    expect(p2.body.items).toHaveLength(1);
    expect(p2.body.next_cursor).toBeNull();
    expect([p1.body.items[0].id, p2.body.items[0].id]).toEqual(
      all.body.items.map((d: { id: string }) => d.id),
    );
    // bob sees his own deposit only, though enrolled at the same machine
    const bobs = await api.call('GET', '/api/v1/lp/deposits', bob.apiKey);
    expect(bobs.body.items).toHaveLength(1);
    expect(bobs.body.items[0]).toMatchObject({ client_id: bob.clientId, amount: '100.00' });
    // an operator is not an LP; bad input is refused with the field
    expect((await api.call('GET', '/api/v1/lp/deposits', opA.apiKey)).status).toBe(404);
    const zero = await api.call('GET', '/api/v1/lp/deposits?limit=0', alice.apiKey);
    expect(zero.status).toBe(422);
    expect(zero.body.error.details[0].field).toBe('query.limit');
    expect((await api.call('GET', '/api/v1/lp/deposits?limit=abc', alice.apiKey)).status).toBe(422);
    expect((await api.call('GET', '/api/v1/lp/deposits?cursor=forged', alice.apiKey)).status).toBe(400);
  });

  it('preferences: validation of wallet ownership, mode and Lightning address', async () => {
    const mine = await api.call('GET', '/api/v1/lp/preferences', alice.apiKey);
    expect(mine.body).toMatchObject({ default_dca_mode: 'flow', autoforward_enabled: false });
    const foreign = await api.call('PUT', '/api/v1/lp/preferences', alice.apiKey, {
      dca_wallet_id: bob.walletId,
    });
    expect(foreign.status).toBe(422);
    const noLimit = await api.call('PUT', '/api/v1/lp/preferences', alice.apiKey, {
      default_dca_mode: 'fixed',
    });
    expect(noLimit.status).toBe(422);
    expect(noLimit.body.error.details[0].field).toBe('body.fixed_mode_daily_limit');
    const badAddr = await api.call('PUT', '/api/v1/lp/preferences', alice.apiKey, {
      autoforward_ln_address: 'not an address',
      autoforward_enabled: true,
    });
    expect(badAddr.status).toBe(422);
    const noAddr = await api.call('PUT', '/api/v1/lp/preferences', alice.apiKey, {
      autoforward_enabled: true,
    });
    expect(noAddr.status).toBe(422);
    const external = await api.call('PUT', '/api/v1/lp/preferences', alice.apiKey, {
      autoforward_ln_address: 'alice@example.org',
      autoforward_enabled: true,
    });
    expect(external.status).toBe(422);
    expect(external.body.error.details[0].message).toContain('PAYMENT_BACKEND=lnbits');
    const ok = await api.call('PUT', '/api/v1/lp/preferences', alice.apiKey, {
      default_dca_mode: 'fixed',
      fixed_mode_daily_limit: '25',
      autoforward_ln_address: 'Alice@Example.org',
      autoforward_enabled: false,
    });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({
      default_dca_mode: 'fixed',
      fixed_mode_daily_limit: '25.00',
      autoforward_ln_address: 'alice@example.org',
    });
    await api.call('PUT', '/api/v1/lp/preferences', alice.apiKey, { default_dca_mode: 'flow' });
    const fresh = (await createUserWithKey(db.pool, secretBox, { role: 'lp', name: 'new' })).api_key;
    expect((await api.call('GET', '/api/v1/lp/preferences', fresh)).status).toBe(404);
    const first = await api.call('PUT', '/api/v1/lp/preferences', fresh, { default_dca_mode: 'flow' });
    expect(first.status).toBe(422);
    expect(first.body.error.details[0].field).toBe('body.dca_wallet_id');
  });

  it('balance settlement pays part of the remaining fiat at a given rate, then the rest', async () => {
    const before = await api.call('GET', `/api/v1/clients/${bob.clientId}/balance`, opA.apiKey);
    expect(before.body.remaining_balance).toBe('70.00');
    // the machine wallet paid everything out: the operator has to fund it first
    const broke = await api.call('POST', `/api/v1/clients/${bob.clientId}/balance-settlement`, opA.apiKey, {
      exchange_rate: '1000',
      fiat_amount: '1.00',
    });
    expect(broke.status).toBe(409);
    expect(broke.body.error.message).toContain('insufficient funds');
    await ledgerFor(db.pool).fund(machineA.walletId, 200_000, 'fund-a');
    const settle = (body: unknown, key: string) =>
      api.call('POST', `/api/v1/clients/${bob.clientId}/balance-settlement`, opA.apiKey, body, {
        'idempotency-key': key,
      });
    const partBody = { exchange_rate: '1250.5', fiat_amount: '20.00' };
    const part = await settle(partBody, 'settle-bob-1');
    expect(part.status).toBe(200);
    expect(part.body).toMatchObject({ status: 'completed', amount_sats: 25_010, amount_fiat: '20.00' });
    // the same request again (a double click, a retry after a timeout) pays nothing more
    expect(await settle(partBody, 'settle-bob-1')).toMatchObject({ status: 200, body: part.body });
    const reused = await settle({ exchange_rate: '1000' }, 'settle-bob-1');
    expect(reused.status).toBe(409);
    expect(reused.body.error.message).toContain('different balance settlement request');
    const badKey = await settle(partBody, 'no spaces please');
    expect(badKey.status).toBe(422);
    expect(badKey.body.error.details[0].field).toBe('headers.idempotency-key');
    const over = await api.call('POST', `/api/v1/clients/${bob.clientId}/balance-settlement`, opA.apiKey, {
      exchange_rate: '1000',
      fiat_amount: '60.00',
    });
    expect(over.status).toBe(409);
    const rest = await api.call('POST', `/api/v1/clients/${bob.clientId}/balance-settlement`, opA.apiKey, {
      exchange_rate: '1000',
    });
    expect(rest.body).toMatchObject({ status: 'completed', amount_fiat: '50.00', amount_sats: 50_000 });
    const after = await api.call('GET', `/api/v1/clients/${bob.clientId}/balance`, opA.apiKey);
    expect(after.body).toMatchObject({
      remaining_balance: '0.00',
      spent_fiat: '100.00',
      total_sats: 30_000 + 25_010 + 50_000,
    });
    expect(
      (
        await api.call('POST', `/api/v1/clients/${bob.clientId}/balance-settlement`, opA.apiKey, {
          exchange_rate: '1000',
        })
      ).status,
    ).toBe(409);
    expect(
      (
        await api.call('POST', `/api/v1/clients/${bob.clientId}/balance-settlement`, opB.apiKey, {
          exchange_rate: '1000',
        })
      ).status,
    ).toBe(404);
    expect(
      (
        await api.call('POST', `/api/v1/clients/${bob.clientId}/balance-settlement`, opA.apiKey, {
          exchange_rate: '-1',
        })
      ).status,
    ).toBe(422);
  });

  it("enrolment legs: the operator lists an enrolment's legs, paginated; another operator's enrolment is a 404", async () => {
    // bob at A: his dca leg, the balance settlement refused for want of funds, then the two paid
    const all = await api.call('GET', `/api/v1/clients/${bob.clientId}/legs`, opA.apiKey);
    expect(all.status).toBe(200);
    expect(all.body.next_cursor).toBeNull();
    const items = all.body.items as {
      id: string;
      client_id: string;
      leg_type: string;
      amount_sats: number;
      status: string;
    }[];
    expect(items.every((l) => l.client_id === bob.clientId)).toBe(true);
    expect(items.map((l) => `${l.leg_type}:${l.amount_sats}:${l.status}`).sort()).toEqual(
      [
        'dca:30000:completed',
        'settlement:1000:failed',
        'settlement:25010:completed',
        'settlement:50000:completed',
      ].sort(),
    );
    // page by page, the same legs in the same order
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page = await api.call(
        'GET',
        `/api/v1/clients/${bob.clientId}/legs?limit=1${cursor ? `&cursor=${cursor}` : ''}`,
        opA.apiKey,
      );
      expect(page.status).toBe(200);
      expect(page.body.items.length).toBeLessThanOrEqual(1);
      seen.push(...page.body.items.map((l: { id: string }) => l.id));
      cursor = page.body.next_cursor;
    } while (cursor);
    expect(seen).toEqual(items.map((l) => l.id));
    // alice's enrolment at A has her own leg only
    const alices = await api.call('GET', `/api/v1/clients/${alice.clientId}/legs`, opA.apiKey);
    expect(alices.body.items.map((l: { client_id: string }) => l.client_id)).toEqual([alice.clientId]);
    // another operator's enrolment, a missing one: 404; an LP is not an operator; bad input: 422
    expect((await api.call('GET', `/api/v1/clients/${bob.clientId}/legs`, opB.apiKey)).status).toBe(404);
    expect((await api.call('GET', `/api/v1/clients/${aliceAtB}/legs`, opA.apiKey)).status).toBe(404);
    expect((await api.call('GET', '/api/v1/clients/nosuchclient/legs', opA.apiKey)).status).toBe(404);
    expect((await api.call('GET', `/api/v1/clients/${bob.clientId}/legs`, bob.apiKey)).status).toBe(404);
    const bad = await api.call('GET', `/api/v1/clients/${bob.clientId}/legs?limit=-1`, opA.apiKey);
    expect(bad.status).toBe(422);
    expect(bad.body.error.details[0].field).toBe('query.limit');
    expect((await api.call('GET', '/api/v1/clients/bad%20id!/legs', opA.apiKey)).status).toBe(422);
  });

  describe('NIP-98', () => {
    const secret = generateSecretKey();
    const pubkey = getPublicKey(secret);
    let nostrUserId: string;
    beforeAll(async () => {
      nostrUserId = (await createUserWithKey(db.pool, secretBox, { role: 'lp', name: 'nostr lp', pubkey }))
        .user.id;
    });

    const token = (
      url: string,
      method: string,
      opts: { body?: string; createdAt?: number; key?: Uint8Array; extraTags?: string[][] } = {},
    ) => {
      // a nonce keeps two requests in the same second from being one event (a replay)
      const tags = [
        ['u', url],
        ['method', method],
        ['nonce', bytesToHex(generateSecretKey()).slice(0, 16)],
      ];
      if (opts.body) tags.push(['payload', createHash('sha256').update(opts.body).digest('hex')]);
      tags.push(...(opts.extraTags ?? []));
      const e = finalizeEvent(
        { kind: 27235, tags, content: '', created_at: opts.createdAt ?? Math.floor(Date.now() / 1000) },
        opts.key ?? secret,
      );
      return `Nostr ${Buffer.from(JSON.stringify(e)).toString('base64')}`;
    };
    const get = (path: string, auth: string) =>
      fetch(`${api.url}${path}`, { headers: { authorization: auth } });

    it('accepts a signed kind-27235 event for the exact URL and method', async () => {
      const r = await get('/api/v1/me', token(`${api.url}/api/v1/me`, 'GET'));
      expect(r.status).toBe(200);
      expect(((await r.json()) as { nostr_pubkey: string }).nostr_pubkey).toBe(pubkey);
    });

    it('checks the payload hash of a body', async () => {
      const wallet = JSON.stringify({ name: 'nostr wallet' });
      const good = await fetch(`${api.url}/api/v1/ledger/wallets`, {
        method: 'POST',
        headers: {
          authorization: token(`${api.url}/api/v1/ledger/wallets`, 'POST', { body: wallet }),
          'content-type': 'application/json',
        },
        body: wallet,
      });
      expect(good.status).toBe(201);
      const tampered = await fetch(`${api.url}/api/v1/ledger/wallets`, {
        method: 'POST',
        headers: {
          authorization: token(`${api.url}/api/v1/ledger/wallets`, 'POST', { body: wallet }),
          'content-type': 'application/json',
        },
        body: JSON.stringify({ name: 'other' }),
      });
      expect(tampered.status).toBe(401);
    });

    /** A request with any Host / X-Forwarded-* headers (fetch would set Host itself). */
    const raw = (method: string, path: string, headers: Record<string, string>, body?: string) =>
      rawRequest(`${api.url}${path}`, method, headers, body);
    const keyCount = async () =>
      Number(
        (
          await db.pool.query('SELECT count(*) AS n FROM satmachine.api_keys WHERE user_id = $1', [
            nostrUserId,
          ])
        ).rows[0].n,
      );

    it('never trusts the Host header: a token signed for another site is refused whatever Host / X-Forwarded-* say', async () => {
      const before = await keyCount();
      const evil = 'http://evil.example/api/v1/me/api-keys';
      const shapes: Record<string, string>[] = [
        { host: 'evil.example' },
        { host: 'evil.example', 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'http' },
        { 'x-forwarded-host': 'evil.example' },
        { 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'http', 'x-forwarded-port': '80' },
        { forwarded: 'host=evil.example;proto=http' },
      ];
      for (const headers of shapes) {
        const r = await raw('POST', '/api/v1/me/api-keys', {
          ...headers,
          authorization: token(evil, 'POST'),
        });
        expect({ headers, status: r.status }).toEqual({ headers, status: 401 });
        expect(r.text).toContain('the u tag must be');
      }
      // our own URL with another host name (as a proxy may pass it) is refused as well
      const ours = new URL(api.url);
      const otherName = `http://localhost:${ours.port}/api/v1/me/api-keys`;
      const r = await raw('POST', '/api/v1/me/api-keys', {
        host: `localhost:${ours.port}`,
        authorization: token(otherName, 'POST'),
      });
      expect(r.status).toBe(401);
      expect(await keyCount()).toBe(before);
    });

    it('a token for our public URL mints a key, whatever Host the request carries', async () => {
      const before = await keyCount();
      const url = `${api.url}/api/v1/me/api-keys`;
      const minted = await raw('POST', '/api/v1/me/api-keys', {
        host: 'evil.example',
        'x-forwarded-host': 'evil.example',
        authorization: token(url, 'POST'),
      });
      expect(minted.status).toBe(201);
      expect(JSON.parse(minted.text).api_key).toEqual(expect.any(String));
      expect(await keyCount()).toBe(before + 1);
      // the URL is compared normalised: an upper-case scheme is the same URL
      const upper = url.replace('http://', 'HTTP://');
      expect(
        (
          await raw('GET', '/api/v1/me', {
            authorization: token(upper.replace('/me/api-keys', '/me'), 'GET'),
          })
        ).status,
      ).toBe(200);
    });

    it('binds the body: a payload tag must match it, even on a request without one; tags are not doubled', async () => {
      const other = createHash('sha256').update('{"name":"x"}').digest('hex');
      expect(
        (await get('/api/v1/me', token(`${api.url}/api/v1/me`, 'GET', { extraTags: [['payload', other]] })))
          .status,
      ).toBe(401);
      // a body without a payload tag
      const body = JSON.stringify({ name: 'unsigned body' });
      const unsigned = await raw(
        'POST',
        '/api/v1/ledger/wallets',
        { authorization: token(`${api.url}/api/v1/ledger/wallets`, 'POST') },
        body,
      );
      expect(unsigned.status).toBe(401);
      expect(unsigned.text).toContain('payload tag');
      // two u tags (one ours, one another site's): which one was meant is not guessed
      const doubled = await get(
        '/api/v1/me',
        token(`${api.url}/api/v1/me`, 'GET', { extraTags: [['u', 'http://evil.example/api/v1/me']] }),
      );
      expect(doubled.status).toBe(401);
      // an event from the future past the window
      expect(
        (
          await get(
            '/api/v1/me',
            token(`${api.url}/api/v1/me`, 'GET', { createdAt: Math.floor(Date.now() / 1000) + 120 }),
          )
        ).status,
      ).toBe(401);
    });

    it('refuses a replay, a wrong URL or method, a stale event and a mis-signed one', async () => {
      const once = token(`${api.url}/api/v1/me`, 'GET');
      expect((await get('/api/v1/me', once)).status).toBe(200);
      const replay = await get('/api/v1/me', once);
      expect(replay.status).toBe(401);
      expect(((await replay.json()) as { error: { message: string } }).error.message).toContain('replay');
      expect((await get('/api/v1/me', token(`${api.url}/api/v1/lp/balances`, 'GET'))).status).toBe(401);
      expect((await get('/api/v1/me', token(`${api.url}/api/v1/me`, 'POST'))).status).toBe(401);
      expect(
        (
          await get(
            '/api/v1/me',
            token(`${api.url}/api/v1/me`, 'GET', { createdAt: Math.floor(Date.now() / 1000) - 120 }),
          )
        ).status,
      ).toBe(401);
      const forged = JSON.parse(
        Buffer.from(token(`${api.url}/api/v1/me`, 'GET').slice(6), 'base64').toString(),
      );
      forged.sig = bytesToHex(new Uint8Array(64));
      expect(
        (await get('/api/v1/me', `Nostr ${Buffer.from(JSON.stringify(forged)).toString('base64')}`)).status,
      ).toBe(401);
      const stranger = await get(
        '/api/v1/me',
        token(`${api.url}/api/v1/me`, 'GET', { key: generateSecretKey() }),
      );
      expect(stranger.status).toBe(401);
    });
  });
});
