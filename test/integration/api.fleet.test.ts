import { generateSecretKey, getPublicKey } from 'nostr-tools/pure';
import { npubEncode } from 'nostr-tools/nip19';
import { createUserWithKey } from '../../src/api/userAccounts';
import { type TestApi } from '../helpers/api';
import { secretBox } from '../helpers/fixtures';
import { eventually } from '../helpers/stack';
import { startApiStack, type ApiStack } from '../helpers/testStack';

/** Operator routes for running a fleet: machines, enrolments, deposits, commission splits, payments. */
describe('API: fleet routes', () => {
  let stack: ApiStack;
  let db: ApiStack['db'];
  let api: TestApi;
  let superKey: string;
  let opKey: string;
  let otherOpKey: string;
  let lp: { id: string; key: string };
  let lp2: { id: string; key: string };

  const pub = () => getPublicKey(generateSecretKey());

  beforeAll(async () => {
    stack = await startApiStack();
    ({ db, api } = stack);
    superKey = (await createUserWithKey(db.pool, secretBox, { role: 'super', name: 'root' })).api_key;
    const mk = async (role: string, name: string) => {
      const r = await api.call('POST', '/api/v1/super/users', superKey, { role, name });
      expect(r.status).toBe(201);
      return { id: r.body.user.id as string, key: r.body.api_key as string };
    };
    opKey = (await mk('operator', 'op')).key;
    otherOpKey = (await mk('operator', 'other op')).key;
    lp = await mk('lp', 'lp one');
    lp2 = await mk('lp', 'lp two');
  });
  afterAll(async () => {
    await stack.stop();
  });

  describe('users and /me', () => {
    it('/me answers each role, operators with a generated Nostr key', async () => {
      const me = await api.call('GET', '/api/v1/me', opKey);
      expect(me.status).toBe(200);
      expect(me.body).toMatchObject({ role: 'operator', name: 'op' });
      expect(me.body.nostr_pubkey).toMatch(/^[0-9a-f]{64}$/);
      expect((await api.call('GET', '/api/v1/me', lp.key)).body.nostr_pubkey).toBeNull();
    });

    it('API keys: each user rotates its own; the platform issues and revokes any', async () => {
      const made = await api.call('POST', '/api/v1/super/users', superKey, { role: 'lp', name: 'rotator' });
      const first = made.body.api_key as string;
      const userId = made.body.user.id as string;
      const mine = await api.call('GET', '/api/v1/me/api-keys', first);
      expect(mine.status).toBe(200);
      expect(mine.body).toHaveLength(1);
      expect(mine.body[0]).toMatchObject({ prefix: first.slice(0, 8), current: true, revoked_at: null });
      expect(mine.text).not.toContain(first);
      // the last active key cannot be revoked by its owner
      const last = await api.call('DELETE', `/api/v1/me/api-keys/${mine.body[0].id}`, first);
      expect(last.status).toBe(409);
      expect(last.body.error.message).toContain('create another one first');
      // rotate: a new key, then the old one revoked with the new one
      const second = await api.call('POST', '/api/v1/me/api-keys', first);
      expect(second.status).toBe(201);
      expect(second.body.api_key).toMatch(/^sm_/);
      expect(
        (await api.call('DELETE', `/api/v1/me/api-keys/${mine.body[0].id}`, second.body.api_key)).status,
      ).toBe(204);
      expect((await api.call('GET', '/api/v1/me', first)).status).toBe(401);
      const after = await api.call('GET', '/api/v1/me/api-keys', second.body.api_key);
      expect(
        after.body.map((k: { revoked_at: string | null; current: boolean }) => [!!k.revoked_at, k.current]),
      ).toEqual([
        [false, true],
        [true, false],
      ]);
      // another user's key is not yours to revoke
      expect((await api.call('DELETE', `/api/v1/me/api-keys/${second.body.id}`, opKey)).status).toBe(404);
      // the platform: lists, issues a key to a user who lost theirs, revokes even the last one
      expect((await api.call('GET', `/api/v1/super/users/${userId}/api-keys`, superKey)).body).toHaveLength(
        2,
      );
      expect((await api.call('GET', `/api/v1/super/users/${userId}/api-keys`, opKey)).status).toBe(404);
      expect((await api.call('GET', '/api/v1/super/users/nobody/api-keys', superKey)).status).toBe(404);
      const issued = await api.call('POST', `/api/v1/super/users/${userId}/api-keys`, superKey);
      expect(issued.status).toBe(201);
      expect((await api.call('GET', '/api/v1/me', issued.body.api_key)).body.name).toBe('rotator');
      for (const k of [second.body.id, issued.body.id]) {
        expect(
          (await api.call('DELETE', `/api/v1/super/users/${userId}/api-keys/${k}`, superKey)).status,
        ).toBe(204);
      }
      expect((await api.call('GET', '/api/v1/me', issued.body.api_key)).status).toBe(401);
      expect(
        (await api.call('DELETE', `/api/v1/super/users/${userId}/api-keys/${issued.body.id}`, superKey))
          .status,
      ).toBe(404);
    });

    it('refuses a missing or unknown key with 401', async () => {
      expect((await api.call('GET', '/api/v1/me')).status).toBe(401);
      const bad = await api.call('GET', '/api/v1/me', 'sm_nope');
      expect(bad.status).toBe(401);
      expect(bad.body.error.code).toBe('unauthorized');
    });

    it('only super creates users; bad input gets field errors', async () => {
      expect((await api.call('POST', '/api/v1/super/users', opKey, { role: 'lp', name: 'x' })).status).toBe(
        404,
      );
      const bad = await api.call('POST', '/api/v1/super/users', superKey, { role: 'admin', name: '' });
      expect(bad.status).toBe(422);
      expect(bad.body.error.details.map((d: { field: string }) => d.field).sort()).toEqual([
        'body.name',
        'body.role',
      ]);
      const badKey = await api.call('POST', '/api/v1/super/users', superKey, {
        role: 'lp',
        name: 'x',
        pubkey: 'npub1nope',
      });
      expect(badKey.status).toBe(422);
    });

    it('stores API keys hashed only', async () => {
      const { rows } = await db.pool.query('SELECT key_hash FROM satmachine.api_keys');
      for (const r of rows) expect(r.key_hash).toMatch(/^[0-9a-f]{64}$/);
      const { rows: leak } = await db.pool.query('SELECT 1 FROM satmachine.api_keys WHERE key_hash = $1', [
        opKey,
      ]);
      expect(leak).toEqual([]);
    });

    it('rejects malformed JSON with 400 and oversized bodies with 413', async () => {
      const r = await api.call('POST', '/api/v1/super/users', superKey, '{"role":');
      expect(r.status).toBe(400);
      expect(r.body.error.code).toBe('bad_json');
      const big = await api.call('POST', '/api/v1/super/users', superKey, {
        role: 'lp',
        name: 'x'.repeat(200_000),
      });
      expect(big.status).toBe(413);
    });
  });

  describe('super config', () => {
    it('reads and patches platform fractions and the super wallet', async () => {
      const wallet = await api.call('POST', '/api/v1/ledger/wallets', superKey, { name: 'fees' });
      const r = await api.call('PATCH', '/api/v1/super/config', superKey, {
        platform_cash_out_fee_fraction: '0.015',
        platform_cash_in_fee_fraction: 0.01,
        super_wallet_id: wallet.body.id,
      });
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({
        platform_cash_out_fee_fraction: '0.015000',
        platform_cash_in_fee_fraction: '0.010000',
        super_wallet_id: wallet.body.id,
      });
      expect(
        (await api.call('GET', '/api/v1/super/config', superKey)).body.platform_cash_out_fee_fraction,
      ).toBe('0.015000');
    });

    it('refuses fractions outside [0, 1), with more than 6 decimals, unknown wallets and unknown fields', async () => {
      for (const body of [
        { platform_cash_out_fee_fraction: 1 },
        { platform_cash_out_fee_fraction: -0.1 },
        { platform_cash_out_fee_fraction: '0.0000001' },
        { super_wallet_id: 'missing' },
        { surprise: true },
      ]) {
        const r = await api.call('PATCH', '/api/v1/super/config', superKey, body);
        expect(r.status).toBe(422);
      }
      expect((await api.call('GET', '/api/v1/super/config', opKey)).status).toBe(404);
    });
  });

  describe('machines', () => {
    let machineId: string;
    const key = pub();

    it('creates a machine from an npub, normalising it and creating a ledger wallet', async () => {
      const r = await api.call('POST', '/api/v1/machines', opKey, {
        machine_npub: npubEncode(key),
        name: 'Lobby',
        fiat_code: 'EUR',
        operator_cash_out_fee_fraction: '0.05',
      });
      expect(r.status).toBe(201);
      expect(r.body.machine_pubkey_hex).toBe(key);
      expect(r.body.machine_npub).toBe(npubEncode(key));
      expect(r.body.wallet_id).toBeTruthy();
      expect(r.body.operator_cash_out_fee_fraction).toBe('0.050000');
      expect(r.body.status.online).toBe(false);
      machineId = r.body.id;
    });

    it('refuses the same key again for the same operator (hex or npub) with 409, leaving no wallet behind', async () => {
      const wallets = async () =>
        (await db.pool.query('SELECT count(*)::int AS n FROM satmachine.ledger_wallets')).rows[0].n as number;
      const before = await wallets();
      const r = await api.call('POST', '/api/v1/machines', opKey, {
        machine_npub: key.toUpperCase(),
        name: 'dup',
        fiat_code: 'EUR',
      });
      expect(r.status).toBe(409);
      expect(r.body.error.details[0].field).toBe('body.machine_npub');
      expect(await wallets()).toBe(before);
      const other = await api.call('POST', '/api/v1/machines', otherOpKey, {
        machine_npub: key,
        name: 'dup',
        fiat_code: 'EUR',
      });
      // another operator may register an unproven key too: the machine's own events decide
      // (test/integration/machineKeyProof.test.ts); a proven key is a 409
      expect(other.status).toBe(201);
      expect(other.body.key_state).toBe('unverified');
      expect((await api.call('DELETE', `/api/v1/machines/${other.body.id}`, otherOpKey)).status).toBe(204);
    });

    it('validates keys, currencies, fees and delays with field errors', async () => {
      const r = await api.call('POST', '/api/v1/machines', opKey, {
        machine_npub: 'nope',
        name: '',
        fiat_code: 'eur',
        operator_cash_in_fee_fraction: 1,
        distribution_delay_seconds: -1,
      });
      expect(r.status).toBe(422);
      const fields = r.body.error.details.map((d: { field: string }) => d.field).sort();
      expect(fields).toEqual([
        'body.distribution_delay_seconds',
        'body.fiat_code',
        'body.machine_npub',
        'body.name',
        'body.operator_cash_in_fee_fraction',
      ]);
    });

    it('lists, reads, patches and refuses unknown wallets', async () => {
      expect(
        (await api.call('GET', '/api/v1/machines', opKey)).body.map((m: { id: string }) => m.id),
      ).toContain(machineId);
      const p = await api.call('PATCH', `/api/v1/machines/${machineId}`, opKey, {
        name: 'Lobby 2',
        distribution_delay_seconds: 60,
      });
      expect(p.status).toBe(200);
      expect(p.body).toMatchObject({ name: 'Lobby 2', distribution_delay_seconds: 60 });
      expect(
        (await api.call('PATCH', `/api/v1/machines/${machineId}`, opKey, { wallet_id: 'nope' })).status,
      ).toBe(422);
      expect(
        (await api.call('PATCH', `/api/v1/machines/${machineId}`, opKey, { operator_user_id: 'x' })).status,
      ).toBe(422);
    });

    it("refuses another user's wallet as a machine wallet, as if it did not exist", async () => {
      const theirs = await api.call('POST', '/api/v1/ledger/wallets', otherOpKey, { name: 'their till' });
      expect(theirs.status).toBe(201);
      const grab = await api.call('POST', '/api/v1/machines', opKey, {
        machine_npub: pub(),
        name: 'grab',
        fiat_code: 'EUR',
        wallet_id: theirs.body.id,
      });
      expect(grab.status).toBe(422);
      expect(grab.body.error.details[0].field).toBe('body.wallet_id');
      expect(grab.body.error.message).toContain('not one of your ledger wallets');
      const unknown = await api.call('POST', '/api/v1/machines', opKey, {
        machine_npub: pub(),
        name: 'unknown',
        fiat_code: 'EUR',
        wallet_id: 'no-such-wallet',
      });
      expect(unknown.body.error.message.replace('no-such-wallet', theirs.body.id)).toBe(
        grab.body.error.message,
      );
      expect(
        (await api.call('PATCH', `/api/v1/machines/${machineId}`, opKey, { wallet_id: theirs.body.id }))
          .status,
      ).toBe(422);
      const mine = await api.call('POST', '/api/v1/ledger/wallets', opKey, { name: 'my new till' });
      const moved = await api.call('PATCH', `/api/v1/machines/${machineId}`, opKey, {
        wallet_id: mine.body.id,
      });
      expect(moved.status).toBe(200);
      expect(moved.body.wallet_id).toBe(mine.body.id);
    });

    it('fiat_code changes while the machine has no money on record, never once deposits or settlements exist (409)', async () => {
      const create = async (name: string) => {
        const r = await api.call('POST', '/api/v1/machines', opKey, {
          machine_npub: pub(),
          name,
          fiat_code: 'USD',
        });
        expect(r.status).toBe(201);
        return r.body.id as string;
      };
      const patch = (id: string, body: unknown, key = opKey) =>
        api.call('PATCH', `/api/v1/machines/${id}`, key, body);
      // nothing on record: the currency changes
      const withDeposit = await create('currency deposit');
      const changed = await patch(withDeposit, { fiat_code: 'EUR' });
      expect(changed.status).toBe(200);
      expect(changed.body.fiat_code).toBe('EUR');
      // a deposit (even a pending one) pins it
      const enrol = await api.call('POST', `/api/v1/machines/${withDeposit}/clients`, opKey, {
        user_id: lp.id,
      });
      expect(enrol.status).toBe(201);
      const owner = await db.pool.query<{ operator_user_id: string }>(
        'SELECT operator_user_id FROM satmachine.dca_machines WHERE id = $1',
        [withDeposit],
      );
      await db.pool.query(
        `INSERT INTO satmachine.dca_deposits (id, client_id, machine_id, creator_user_id, amount, currency, status)
         VALUES ($1, $2, $3, $4, '25.00', 'EUR', 'pending')`,
        [`dep${Date.now()}`, enrol.body.id, withDeposit, owner.rows[0]!.operator_user_id],
      );
      const refused = await patch(withDeposit, { fiat_code: 'GTQ', name: 'renamed too' });
      expect(refused.status).toBe(409);
      expect(refused.body.error.details).toEqual([
        { field: 'body.fiat_code', message: expect.stringContaining('deposits or settlements exist') },
      ]);
      expect(refused.body.error.message).toContain('register a new machine for GTQ');
      // nothing of the refused patch was written
      const kept = await api.call('GET', `/api/v1/machines/${withDeposit}`, opKey);
      expect(kept.body).toMatchObject({ fiat_code: 'EUR', name: 'currency deposit' });
      // the same currency sent back with an edit (a form does) is not a change
      const same = await patch(withDeposit, { fiat_code: 'EUR', name: 'renamed' });
      expect(same.status).toBe(200);
      expect(same.body).toMatchObject({ fiat_code: 'EUR', name: 'renamed' });
      // a settlement pins it too
      const withSettlement = await create('currency settlement');
      await db.pool.query(
        `INSERT INTO satmachine.dca_settlements (id, machine_id, payment_hash, tx_type, status)
         VALUES ($1, $2, $3, 'cash_out', 'pending')`,
        [`stl${Date.now()}`, withSettlement, 'ab'.repeat(32)],
      );
      const refused2 = await patch(withSettlement, { fiat_code: 'EUR' });
      expect(refused2.status).toBe(409);
      expect(refused2.body.error.details[0].field).toBe('body.fiat_code');
      // another operator's machine is a 404 before anything else; bad input a 422
      expect((await patch(withSettlement, { fiat_code: 'EUR' }, otherOpKey)).status).toBe(404);
      const bad = await patch(withSettlement, { fiat_code: 'euro' });
      expect(bad.status).toBe(422);
      expect(bad.body.error.details[0].field).toBe('body.fiat_code');
    });

    it('a currency change racing a deposit insert waits for it, then is refused (409)', async () => {
      const created = await api.call('POST', '/api/v1/machines', opKey, {
        machine_npub: pub(),
        name: 'currency race',
        fiat_code: 'USD',
      });
      const machineId = created.body.id as string;
      const enrol = await api.call('POST', `/api/v1/machines/${machineId}/clients`, opKey, {
        user_id: lp2.id,
      });
      expect(enrol.status).toBe(201);
      const owner = await db.pool.query<{ operator_user_id: string }>(
        'SELECT operator_user_id FROM satmachine.dca_machines WHERE id = $1',
        [machineId],
      );
      // a deposit insert in flight: not committed yet when the change starts
      const c = await db.pool.connect();
      try {
        await c.query('BEGIN');
        await c.query(
          `INSERT INTO satmachine.dca_deposits (id, client_id, machine_id, creator_user_id, amount, currency)
           VALUES ($1, $2, $3, $4, '5.00', 'USD')`,
          [`race${Date.now()}`, enrol.body.id, machineId, owner.rows[0]!.operator_user_id],
        );
        const change = api.call('PATCH', `/api/v1/machines/${machineId}`, opKey, { fiat_code: 'EUR' });
        // barrier: the change waits on the machine row the insert's foreign key holds
        await eventually(
          async () =>
            (
              await db.pool.query(
                `SELECT 1 FROM pg_stat_activity
                  WHERE wait_event_type = 'Lock' AND query LIKE '%dca_machines WHERE id = $1 FOR UPDATE%'`,
              )
            ).rowCount,
          30_000,
          'the currency change to wait for the machine row lock',
        );
        await c.query('COMMIT');
        const answer = await change;
        expect(answer.status).toBe(409);
        expect(answer.body.error.details[0].field).toBe('body.fiat_code');
      } finally {
        c.release();
      }
      expect((await api.call('GET', `/api/v1/machines/${machineId}`, opKey)).body.fiat_code).toBe('USD');
    });

    it("hides another operator's machine (404) on every route", async () => {
      for (const [method, path, body] of [
        ['GET', `/api/v1/machines/${machineId}`],
        ['PATCH', `/api/v1/machines/${machineId}`, { name: 'mine' }],
        ['DELETE', `/api/v1/machines/${machineId}`],
        ['GET', `/api/v1/machines/${machineId}/clients`],
        ['POST', `/api/v1/machines/${machineId}/clients`, { user_id: lp.id }],
        ['GET', `/api/v1/commission-splits?machine_id=${machineId}`],
      ] as [string, string, unknown?][]) {
        const r = await api.call(method, path, otherOpKey, body);
        expect([method, path, r.status]).toEqual([method, path, 404]);
      }
      expect((await api.call('GET', '/api/v1/machines', otherOpKey)).body).toEqual([]);
      expect((await api.call('GET', '/api/v1/machines', lp.key)).status).toBe(404);
    });

    it('deletes an unused machine; refuses one with history (deactivate instead)', async () => {
      const tmp = await api.call('POST', '/api/v1/machines', opKey, {
        machine_npub: pub(),
        name: 'tmp',
        fiat_code: 'EUR',
      });
      expect((await api.call('DELETE', `/api/v1/machines/${tmp.body.id}`, opKey)).status).toBe(204);
      expect((await api.call('GET', `/api/v1/machines/${tmp.body.id}`, opKey)).status).toBe(404);

      // history: an LP of its own, onboarded, with a deposit recorded at the machine
      const used = await api.call('POST', '/api/v1/machines', opKey, {
        machine_npub: pub(),
        name: 'used',
        fiat_code: 'EUR',
      });
      expect(used.status).toBe(201);
      const depositor = await createUserWithKey(db.pool, secretBox, { role: 'lp', name: 'depositor' });
      const wallet = await api.call('POST', '/api/v1/ledger/wallets', depositor.api_key, { name: 'payout' });
      expect(wallet.status).toBe(201);
      expect(
        (
          await api.call('PUT', '/api/v1/lp/preferences', depositor.api_key, {
            dca_wallet_id: wallet.body.id,
          })
        ).status,
      ).toBe(201);
      const enrolment = await api.call('POST', `/api/v1/machines/${used.body.id}/clients`, opKey, {
        user_id: depositor.user.id,
      });
      expect(enrolment.status).toBe(201);
      const deposit = await api.call('POST', '/api/v1/deposits', opKey, {
        client_id: enrolment.body.id,
        amount: '10.00',
      });
      expect(deposit.status).toBe(201);
      const refused = await api.call('DELETE', `/api/v1/machines/${used.body.id}`, opKey);
      expect(refused.status).toBe(409);
      expect(refused.body.error.message).toContain('deactivate it instead');
      expect((await api.call('GET', `/api/v1/machines/${used.body.id}`, opKey)).status).toBe(200);
    });

    describe('enrolments, deposits and balances', () => {
      let clientId: string;
      let client2Id: string;
      let depositId: string;

      it('enrols LPs (lp_onboarded false until the LP sets preferences)', async () => {
        const r = await api.call('POST', `/api/v1/machines/${machineId}/clients`, opKey, {
          user_id: lp.id,
          username: 'one',
        });
        expect(r.status).toBe(201);
        expect(r.body).toMatchObject({
          user_id: lp.id,
          username: 'one',
          status: 'active',
          lp_onboarded: false,
        });
        clientId = r.body.id;
        client2Id = (
          await api.call('POST', `/api/v1/machines/${machineId}/clients`, opKey, { user_id: lp2.id })
        ).body.id;
        expect(
          (await api.call('POST', `/api/v1/machines/${machineId}/clients`, opKey, { user_id: lp.id })).status,
        ).toBe(409);
        expect(
          (await api.call('POST', `/api/v1/machines/${machineId}/clients`, opKey, { user_id: 'ghost' }))
            .status,
        ).toBe(422);
        const me = await api.call('GET', '/api/v1/me', opKey);
        expect(
          (await api.call('POST', `/api/v1/machines/${machineId}/clients`, opKey, { user_id: me.body.id }))
            .status,
        ).toBe(422);
      });

      it('refuses a deposit for an LP that has not onboarded with a clear 409', async () => {
        const r = await api.call('POST', '/api/v1/deposits', opKey, {
          client_id: clientId,
          amount: '100.00',
        });
        expect(r.status).toBe(409);
        expect(r.body.error.message).toContain('has not onboarded');
        expect(r.body.error.details).toEqual([
          { field: 'body.client_id', message: 'the LP has not onboarded (no payout wallet yet)' },
        ]);
      });

      it('records a deposit in the machine currency once the LP onboarded', async () => {
        const w = await api.call('POST', '/api/v1/ledger/wallets', lp.key, { name: 'savings' });
        expect(
          (await api.call('PUT', '/api/v1/lp/preferences', lp.key, { dca_wallet_id: w.body.id })).status,
        ).toBe(201);
        expect(
          (await api.call('GET', '/api/v1/clients', opKey)).body.find(
            (c: { id: string }) => c.id === clientId,
          ).lp_onboarded,
        ).toBe(true);
        const r = await api.call('POST', '/api/v1/deposits', opKey, {
          client_id: clientId,
          amount: 100.5,
          notes: 'cash',
        });
        expect(r.status).toBe(201);
        expect(r.body).toMatchObject({
          amount: '100.50',
          currency: 'EUR',
          status: 'pending',
          notes: 'cash',
          confirmed_at: null,
        });
        depositId = r.body.id;
        for (const amount of [0, -5, '1.234', 'abc']) {
          expect(
            (await api.call('POST', '/api/v1/deposits', opKey, { client_id: clientId, amount })).status,
          ).toBe(422);
        }
        expect(
          (await api.call('POST', '/api/v1/deposits', otherOpKey, { client_id: clientId, amount: 1 })).status,
        ).toBe(404);
      });

      it('edits a pending deposit, confirms it (stamped), then refuses edits and deletion', async () => {
        expect(
          (await api.call('PATCH', `/api/v1/deposits/${depositId}`, opKey, { amount: '120.00' })).body.amount,
        ).toBe('120.00');
        const c = await api.call('PUT', `/api/v1/deposits/${depositId}/status`, opKey, {
          status: 'confirmed',
          notes: 'counted',
        });
        expect(c.status).toBe(200);
        expect(c.body.status).toBe('confirmed');
        expect(c.body.confirmed_at).toBeTruthy();
        expect(
          (await api.call('PATCH', `/api/v1/deposits/${depositId}`, opKey, { amount: '1.00' })).status,
        ).toBe(409);
        expect((await api.call('DELETE', `/api/v1/deposits/${depositId}`, opKey)).status).toBe(409);
        expect(
          (await api.call('PUT', `/api/v1/deposits/${depositId}/status`, opKey, { status: 'rejected' }))
            .status,
        ).toBe(409);
        expect(
          (await api.call('PUT', `/api/v1/deposits/${depositId}/status`, opKey, { status: 'maybe' })).status,
        ).toBe(422);
      });

      it('rejects and deletes a pending deposit', async () => {
        const d = await api.call('POST', '/api/v1/deposits', opKey, { client_id: clientId, amount: '5' });
        expect(
          (await api.call('PUT', `/api/v1/deposits/${d.body.id}/status`, opKey, { status: 'rejected' })).body
            .status,
        ).toBe('rejected');
        expect((await api.call('DELETE', `/api/v1/deposits/${d.body.id}`, opKey)).status).toBe(204);
        const list = await api.call('GET', `/api/v1/deposits?client_id=${clientId}`, opKey);
        expect(list.body.map((x: { id: string }) => x.id)).toEqual([depositId]);
        expect((await api.call('GET', '/api/v1/deposits', otherOpKey)).body).toEqual([]);
      });

      it('shows the balance of an enrolment', async () => {
        const b = await api.call('GET', `/api/v1/clients/${clientId}/balance`, opKey);
        expect(b.status).toBe(200);
        expect(b.body).toMatchObject({
          confirmed_deposits: '120.00',
          spent_fiat: '0.00',
          pending_fiat: '0.00',
          remaining_balance: '120.00',
          total_sats: 0,
          average_cost_basis: null,
          currency: 'EUR',
        });
        expect((await api.call('GET', `/api/v1/clients/${clientId}/balance`, otherOpKey)).status).toBe(404);
      });

      it('renames, deactivates and deletes enrolments (only one that never held money)', async () => {
        expect(
          (await api.call('PATCH', `/api/v1/clients/${clientId}`, opKey, { status: 'inactive' })).body.status,
        ).toBe('inactive');
        expect(
          (await api.call('PATCH', `/api/v1/clients/${clientId}`, opKey, { status: 'gone' })).status,
        ).toBe(422);
        expect((await api.call('DELETE', `/api/v1/clients/${clientId}`, opKey)).status).toBe(409);
        expect((await api.call('DELETE', `/api/v1/clients/${client2Id}`, otherOpKey)).status).toBe(404);
        expect((await api.call('DELETE', `/api/v1/clients/${client2Id}`, opKey)).status).toBe(204);
        await api.call('PATCH', `/api/v1/clients/${clientId}`, opKey, { status: 'active' });
      });
    });

    describe('commission splits', () => {
      it('replaces the operator default and a machine override atomically; shows the effective rules', async () => {
        const w1 = (await api.call('POST', '/api/v1/ledger/wallets', opKey, { name: 'a' })).body.id;
        const w2 = (await api.call('POST', '/api/v1/ledger/wallets', lp2.key, { name: 'partner' })).body.id;
        const def = await api.call('PUT', '/api/v1/commission-splits', opKey, {
          legs: [
            { target: w1, label: 'me', fraction: '0.6', sort_order: 0 },
            {
              target: `${w2.toUpperCase()}@Ledger.Satmachine.Local`,
              label: 'partner',
              fraction: 0.4,
              sort_order: 1,
            },
          ],
        });
        expect(def.status).toBe(200);
        expect(def.body.legs).toEqual([
          { target: w1, label: 'me', fraction: '0.600000', sort_order: 0 },
          { target: `${w2}@ledger.satmachine.local`, label: 'partner', fraction: '0.400000', sort_order: 1 },
        ]);
        // the embedded ledger cannot pay a Lightning address elsewhere: refused when saved, not at every settlement
        const external = await api.call('PUT', '/api/v1/commission-splits', opKey, {
          legs: [{ target: 'partner@example.com', fraction: 1, sort_order: 0 }],
        });
        expect(external.status).toBe(422);
        expect(external.body.error.details[0]).toMatchObject({ field: 'body.legs.0.target' });
        expect(external.body.error.details[0].message).toContain('PAYMENT_BACKEND=lnbits');
        const inherited = await api.call('GET', `/api/v1/commission-splits?machine_id=${machineId}`, opKey);
        expect(inherited.body).toMatchObject({
          machine_id: machineId,
          legs: [],
          effective: { source: 'operator_default' },
        });
        const own = await api.call('PUT', `/api/v1/commission-splits?machine_id=${machineId}`, opKey, {
          legs: [{ target: w1, fraction: 1, sort_order: 0 }],
        });
        expect(own.body.effective.source).toBe('machine');
        expect((await api.call('GET', '/api/v1/commission-splits', otherOpKey)).body.effective.source).toBe(
          'none',
        );
      });

      it('refuses fractions that do not sum to 1, bad targets and duplicate sort orders', async () => {
        const w = (await api.call('POST', '/api/v1/ledger/wallets', opKey, { name: 'b' })).body.id;
        const cases = [
          [{ target: w, fraction: '0.5', sort_order: 0 }],
          [
            { target: w, fraction: '0.333333', sort_order: 0 },
            { target: w, fraction: '0.333333', sort_order: 1 },
            { target: w, fraction: '0.333333', sort_order: 2 },
          ],
          [{ target: 'missing-wallet', fraction: 1, sort_order: 0 }],
          [{ target: 'bad@@address', fraction: 1, sort_order: 0 }],
          [
            { target: w, fraction: 0.5, sort_order: 0 },
            { target: w, fraction: 0.5, sort_order: 0 },
          ],
          [{ target: w, fraction: 0, sort_order: 0 }],
        ];
        for (const legs of cases) {
          const r = await api.call('PUT', '/api/v1/commission-splits', opKey, { legs });
          expect(r.status).toBe(422);
          expect(r.body.error.details.length).toBeGreaterThan(0);
        }
        // nothing changed
        expect((await api.call('GET', '/api/v1/commission-splits', opKey)).body.legs).toHaveLength(2);
      });
    });

    it('lists payments by leg type (none yet) and validates the filter', async () => {
      expect((await api.call('GET', '/api/v1/payments?leg_type=dca', opKey)).body).toEqual([]);
      expect((await api.call('GET', '/api/v1/payments?leg_type=bogus', opKey)).status).toBe(422);
      expect((await api.call('GET', '/api/v1/payments?limit=0', opKey)).status).toBe(422);
    });
  });

  describe('ledger', () => {
    it('creates wallets, shows them to their owner only, and reports payments (super)', async () => {
      const w = await api.call('POST', '/api/v1/ledger/wallets', lp.key, { name: 'mine' });
      expect(w.status).toBe(201);
      expect(w.body.balance_sats).toBe(0);
      expect((await api.call('GET', `/api/v1/ledger/wallets/${w.body.id}`, lp.key)).status).toBe(200);
      expect((await api.call('GET', `/api/v1/ledger/wallets/${w.body.id}`, lp2.key)).status).toBe(404);
      expect((await api.call('GET', `/api/v1/ledger/wallets/${w.body.id}`, superKey)).status).toBe(200);
      const hash = 'ab'.repeat(32);
      const pay = { wallet_id: w.body.id, payment_hash: hash, amount_sats: 1000, direction: 'incoming' };
      expect((await api.call('POST', '/api/v1/ledger/payments', lp.key, pay)).status).toBe(404);
      const first = await api.call('POST', '/api/v1/ledger/payments', superKey, pay);
      expect(first.status).toBe(201);
      expect(first.body.wallet.balance_sats).toBe(1000);
      const again = await api.call('POST', '/api/v1/ledger/payments', superKey, pay);
      expect(again.status).toBe(200);
      expect(again.body).toMatchObject({ created: false, wallet: { balance_sats: 1000 } });
      const out = await api.call('POST', '/api/v1/ledger/payments', superKey, {
        ...pay,
        direction: 'outgoing',
        amount_sats: 5000,
      });
      expect(out.status).toBe(409);
      expect(
        (await api.call('POST', '/api/v1/ledger/payments', superKey, { ...pay, payment_hash: 'xyz' })).status,
      ).toBe(422);
      expect(
        (
          await api.call('POST', '/api/v1/ledger/payments', superKey, {
            ...pay,
            wallet_id: 'ghost',
            payment_hash: 'cd'.repeat(32),
          })
        ).status,
      ).toBe(404);
      const funded = await api.call('POST', `/api/v1/ledger/wallets/${w.body.id}/fund`, superKey, {
        amount_sats: 500,
      });
      expect(funded.body.balance_sats).toBe(1500);
      expect(
        (await api.call('POST', `/api/v1/ledger/wallets/${w.body.id}/fund`, superKey, { amount_sats: 0 }))
          .status,
      ).toBe(422);
    });
  });

  it('publishes an OpenAPI document generated from the same schemas', async () => {
    const r = await api.call('GET', '/api/v1/openapi.json');
    expect(r.status).toBe(200);
    expect(r.body.openapi).toBe('3.1.0');
    const paths = Object.keys(r.body.paths);
    for (const p of [
      '/api/v1/me',
      '/api/v1/super/users',
      '/api/v1/super/config',
      '/api/v1/machines',
      '/api/v1/machines/{id}',
      '/api/v1/machines/{id}/clients',
      '/api/v1/clients',
      '/api/v1/clients/{id}',
      '/api/v1/clients/{id}/balance',
      '/api/v1/clients/{id}/balance-settlement',
      '/api/v1/deposits',
      '/api/v1/deposits/{id}',
      '/api/v1/deposits/{id}/status',
      '/api/v1/settlements',
      '/api/v1/settlements/{id}',
      '/api/v1/settlements/worklist',
      '/api/v1/settlements/{id}/retry',
      '/api/v1/settlements/{id}/force-reset',
      '/api/v1/settlements/{id}/partial-dispense',
      '/api/v1/settlements/{id}/notes',
      '/api/v1/commission-splits',
      '/api/v1/payments',
      '/api/v1/lp/preferences',
      '/api/v1/lp/enrolments',
      '/api/v1/lp/balances',
      '/api/v1/lp/payments',
      '/api/v1/lp/summary',
      '/api/v1/ledger/wallets',
      '/api/v1/ledger/wallets/{id}',
      '/api/v1/ledger/payments',
      '/api/v1/ledger/wallets/{id}/fund',
    ]) {
      expect(paths).toContain(p);
    }
    const machinePost = r.body.paths['/api/v1/machines'].post.requestBody.content['application/json'].schema;
    expect(machinePost.required).toEqual(expect.arrayContaining(['machine_npub', 'name', 'fiat_code']));
  });

  it('serves Prometheus metrics with request counters and latency histograms', async () => {
    const r = await fetch(`${api.url}/metrics`);
    const text = await r.text();
    expect(text).toContain('satmachine_http_requests_total');
    expect(text).toContain('satmachine_http_request_duration_seconds_bucket');
  });

  it('answers an unknown route with a 404 error body', async () => {
    const r = await api.call('GET', '/api/v1/nope', opKey);
    expect(r.status).toBe(404);
    expect(r.body.error.code).toBe('not_found');
  });
});
