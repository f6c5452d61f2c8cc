import { randomBytes } from 'node:crypto';
import { generateSecretKey, getPublicKey } from 'nostr-tools/pure';
import { bytesToHex } from 'nostr-tools/utils';
import { generateApiKey } from '../src/api/apiKeys';
import { createUserWithKey } from '../src/api/userAccounts';
import { replaceCommissionSplits } from '../src/db/commissionSplits';
import { newId } from '../src/db/ids';
import { insertWallet } from '../src/db/ledger';
import { insertMachine } from '../src/db/machines';
import { withTransaction, type Pool } from '../src/db/pool';
import { updateSuperConfig } from '../src/db/superConfig';
import { toNpub } from '../src/domain/nostrKeys';
import type { SecretBox } from '../src/security/secretBox';

export interface SeededOperator {
  id: string;
  pubkey: string;
  apiKey: string;
}

export interface SeededMachine {
  id: string;
  secretHex: string;
  walletId: string;
  clientIds: string[];
}

const hex = () => randomBytes(12).toString('hex');

export async function seedPlatform(
  pool: Pool,
  box: SecretBox,
): Promise<{ superKey: string; operator: SeededOperator }> {
  const sup = await createUserWithKey(pool, box, { role: 'super', name: 'bench platform' });
  const feeWallet = await insertWallet(pool, sup.user.id, 'platform fees');
  await updateSuperConfig(pool, {
    super_wallet_id: feeWallet.id,
    platform_cash_in_fee_fraction: '0.010000',
    platform_cash_out_fee_fraction: '0.010000',
  });
  const op = await createUserWithKey(pool, box, { role: 'operator', name: 'bench operator' });
  const revenue = await insertWallet(pool, op.user.id, 'operator revenue');
  const partner = await insertWallet(pool, op.user.id, 'partner');
  await withTransaction(pool, (c) =>
    replaceCommissionSplits(c, op.user.id, null, [
      { target: revenue.id, label: 'owner', fraction: '0.700000', sort_order: 0 },
      { target: partner.id, label: 'partner', fraction: '0.300000', sort_order: 1 },
    ]),
  );
  return {
    superKey: sup.api_key,
    operator: { id: op.user.id, pubkey: op.user.nostr_pubkey!, apiKey: op.api_key },
  };
}

/**
 * A machine with `lps` onboarded LPs, each with a confirmed deposit, inserted in a
 * handful of multi-row statements (10,000 LPs take a few seconds).
 */
export async function seedMachine(
  pool: Pool,
  operator: SeededOperator,
  opts: { name: string; lps: number; depositCents: number; fundSats?: number },
): Promise<SeededMachine> {
  const secret = generateSecretKey();
  const pub = getPublicKey(secret);
  const wallet = await insertWallet(pool, operator.id, `machine ${opts.name}`);
  const m = await insertMachine(pool, {
    operator_user_id: operator.id,
    machine_npub: toNpub(pub),
    machine_pubkey_hex: pub,
    wallet_id: wallet.id,
    name: opts.name,
    fiat_code: 'USD',
    operator_cash_in_fee_fraction: '0.030000',
    operator_cash_out_fee_fraction: '0.040000',
  });
  if (opts.fundSats) {
    await pool.query(
      `INSERT INTO satmachine.ledger_transfers (id, idempotency_key, from_wallet_id, to_wallet_id, amount_sats, payment_hash, memo)
       VALUES ($1, $2, 'external', $3, $4, $5, 'bench funding')`,
      [hex(), `bench-fund-${m.id}`, wallet.id, opts.fundSats, randomBytes(32).toString('hex')],
    );
    await pool.query(
      `UPDATE satmachine.ledger_wallets SET balance_sats = balance_sats + CASE WHEN id = $1 THEN $2::bigint ELSE -$2::bigint END
        WHERE id IN ($1, 'external')`,
      [wallet.id, opts.fundSats],
    );
  }
  const clientIds: string[] = [];
  const BATCH = 2000;
  for (let start = 0; start < opts.lps; start += BATCH) {
    const n = Math.min(BATCH, opts.lps - start);
    const users = Array.from({ length: n }, () => hex());
    const wallets = Array.from({ length: n }, () => hex());
    const clients = Array.from({ length: n }, () => hex());
    clientIds.push(...clients);
    await withTransaction(pool, async (c) => {
      await c.query(
        `INSERT INTO satmachine.users (id, role, name) SELECT u, 'lp', 'lp ' || u FROM unnest($1::text[]) AS u`,
        [users],
      );
      await c.query(
        `INSERT INTO satmachine.ledger_wallets (id, owner_user_id, name) SELECT w, u, 'lp wallet' FROM unnest($1::text[], $2::text[]) AS t(w, u)`,
        [wallets, users],
      );
      await c.query(
        `INSERT INTO satmachine.dca_lp (user_id, dca_wallet_id) SELECT u, w FROM unnest($1::text[], $2::text[]) AS t(u, w)`,
        [users, wallets],
      );
      // created_at spaced so enrolment order is deterministic
      await c.query(
        `INSERT INTO satmachine.dca_clients (id, machine_id, user_id, username, created_at)
         SELECT cl, $3, u, 'lp' || i, now() - make_interval(secs => $4 - i) FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS t(cl, u, i)`,
        [clients, users, m.id, opts.lps],
      );
      await c.query(
        `INSERT INTO satmachine.dca_deposits (id, client_id, machine_id, creator_user_id, amount, currency, status, confirmed_at)
         SELECT md5(cl || 'd'), cl, $2, $3, $4::numeric / 100, 'USD', 'confirmed', now() FROM unnest($1::text[]) AS cl`,
        [clients, m.id, operator.id, opts.depositCents],
      );
    });
  }
  return { id: m.id, secretHex: bytesToHex(secret), walletId: wallet.id, clientIds };
}

/** An LP user with an API key, enrolled at the given machines with deposits (for the read benchmark). */
export async function seedLpUser(
  pool: Pool,
  machineIds: string[],
  operatorId: string,
): Promise<{ userId: string; apiKey: string; clientIds: string[] }> {
  const userId = hex();
  const key = generateApiKey();
  const clientIds = machineIds.map(() => hex());
  await withTransaction(pool, async (c) => {
    await c.query(`INSERT INTO satmachine.users (id, role, name) VALUES ($1, 'lp', 'reader')`, [userId]);
    await c.query(
      `INSERT INTO satmachine.api_keys (id, user_id, key_hash, key_prefix) VALUES ($1, $2, $3, $4)`,
      [newId(), userId, key.hash, key.prefix],
    );
    const w = await insertWallet(c, userId, 'reader wallet');
    await c.query(`INSERT INTO satmachine.dca_lp (user_id, dca_wallet_id) VALUES ($1, $2)`, [userId, w.id]);
    for (const [i, mid] of machineIds.entries()) {
      await c.query(
        `INSERT INTO satmachine.dca_clients (id, machine_id, user_id, username) VALUES ($1, $2, $3, 'reader')`,
        [clientIds[i], mid, userId],
      );
      await c.query(
        `INSERT INTO satmachine.dca_deposits (id, client_id, machine_id, creator_user_id, amount, currency, status, confirmed_at)
         VALUES ($1, $2, $3, $4, 100000, 'USD', 'confirmed', now())`,
        [newId(), clientIds[i], mid, operatorId],
      );
    }
  });
  return { userId, apiKey: key.key, clientIds };
}

/**
 * `count` completed dca legs spread over `clientIds` (each under its own settlement
 * of 100 legs), so reads run against a table of realistic size.
 */
export async function seedCompletedLegs(
  pool: Pool,
  machineId: string,
  operatorId: string,
  clientIds: string[],
  count: number,
): Promise<void> {
  const PER = 100;
  for (let done = 0; done < count; done += 10_000) {
    const n = Math.min(10_000, count - done);
    await withTransaction(pool, async (c) => {
      const settlements = Array.from({ length: Math.ceil(n / PER) }, () => hex());
      await c.query(
        `INSERT INTO satmachine.dca_settlements (id, machine_id, payment_hash, tx_type, wire_sats, fiat_amount, fiat_code,
                                                 principal_sats, fee_sats, status, processed_at)
         SELECT s, $2, md5(s) || md5(s || 'x'), 'cash_out', 100000, 100, 'USD', 95000, 5000, 'processed', now()
           FROM unnest($1::text[]) AS s`,
        [settlements, machineId],
      );
      await c.query(
        `INSERT INTO satmachine.dca_payments (id, settlement_id, client_id, machine_id, operator_user_id, leg_type, amount_sats,
                                              amount_fiat, status, completed_at, sort_order)
         SELECT md5(random()::text || i), ($1::text[])[(i - 1) / ${PER} + 1], ($2::text[])[(i - 1) % array_length($2::text[], 1) + 1],
                $3, $4, 'dca', 950, 1.00, 'completed', now() - make_interval(secs => i), i
           FROM generate_series(1, $5::int) AS i`,
        [settlements, clientIds, machineId, operatorId, n],
      );
    });
  }
}
