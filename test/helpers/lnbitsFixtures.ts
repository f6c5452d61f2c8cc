/** satmachine rows (super, operators, machines, LPs) whose wallets are real LNbits wallets. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { generateSecretKey, getPublicKey } from 'nostr-tools/pure';
import { bytesToHex } from 'nostr-tools/utils';
import type { Client } from '@temporalio/client';
import { createApp } from '../../src/api/app';
import type { ApiDeps } from '../../src/api/deps';
import { createUserWithKey } from '../../src/api/userAccounts';
import { newId } from '../../src/db/ids';
import { insertLpPreferences } from '../../src/db/lp';
import { insertMachine } from '../../src/db/machines';
import type { Pool } from '../../src/db/pool';
import { updateSuperConfig } from '../../src/db/superConfig';
import { toNpub } from '../../src/domain/nostrKeys';
import { SettlementSignals } from '../../src/ingest/settlementSignals';
import { buildSettlementEvent } from '../../src/nostr/codec';
import type { LnbitsBackend } from '../../src/payments/lnbits';
import { addDeposit, secretBox, settlementContent, type Machine, type Operator } from './fixtures';
import { readAnswer, type TestApi } from './api';
import type { TestLnbits, TestLnbitsWallet } from './lnbits';
import { testLogger } from './stack';

export interface LnbitsMachine extends Machine {
  wallet: TestLnbitsWallet;
}

export interface LnbitsLp {
  userId: string;
  apiKey: string;
  clientId: string;
  wallet: TestLnbitsWallet;
}

/** The platform: a super user whose super wallet is an LNbits wallet (invoice key only: it receives). */
export async function createLnbitsSuper(pool: Pool, lnbits: TestLnbits, backend: LnbitsBackend) {
  const { user, api_key } = await createUserWithKey(pool, secretBox, { role: 'super', name: 'platform' });
  const wallet = await lnbits.createWallet('platform fees');
  await backend.registerWallet(user.id, { wallet_id: wallet.id, invoice_key: wallet.invoiceKey });
  await updateSuperConfig(pool, {
    super_wallet_id: wallet.id,
    platform_cash_in_fee_fraction: '0.010000',
    platform_cash_out_fee_fraction: '0.010000',
  });
  return { id: user.id, apiKey: api_key, wallet };
}

/** A machine on an LNbits wallet whose admin and invoice keys satmachine holds. */
export async function createLnbitsMachine(
  pool: Pool,
  lnbits: TestLnbits,
  backend: LnbitsBackend,
  operator: Operator,
  name: string,
): Promise<LnbitsMachine> {
  const wallet = await lnbits.createWallet(`machine ${name}`);
  await backend.registerWallet(operator.id, {
    wallet_id: wallet.id,
    admin_key: wallet.adminKey,
    invoice_key: wallet.invoiceKey,
  });
  const secret = generateSecretKey();
  const pub = getPublicKey(secret);
  const row = await insertMachine(pool, {
    operator_user_id: operator.id,
    machine_npub: toNpub(pub),
    machine_pubkey_hex: pub,
    wallet_id: wallet.id,
    name,
    fiat_code: 'USD',
    operator_cash_in_fee_fraction: '0.030000',
    operator_cash_out_fee_fraction: '0.040000',
  });
  return { row, secretHex: bytesToHex(secret), pubkey: pub, walletId: wallet.id, wallet };
}

/** An LP enrolled at a machine, paid into its own LNbits wallet; with autoforward it also holds the admin key. */
export async function createLnbitsLp(
  pool: Pool,
  lnbits: TestLnbits,
  backend: LnbitsBackend,
  machine: LnbitsMachine,
  o: { name: string; depositCents: number; autoforward?: string },
): Promise<LnbitsLp> {
  const { user, api_key } = await createUserWithKey(pool, secretBox, { role: 'lp', name: o.name });
  const wallet = await lnbits.createWallet(`${o.name} dca`);
  await backend.registerWallet(user.id, {
    wallet_id: wallet.id,
    invoice_key: wallet.invoiceKey,
    ...(o.autoforward ? { admin_key: wallet.adminKey } : {}),
  });
  await insertLpPreferences(pool, user.id, {
    dca_wallet_id: wallet.id,
    default_dca_mode: 'flow',
    autoforward_ln_address: o.autoforward ?? null,
    autoforward_enabled: !!o.autoforward,
  });
  const clientId = newId();
  await pool.query(
    'INSERT INTO satmachine.dca_clients (id, machine_id, user_id, username) VALUES ($1, $2, $3, $4)',
    [clientId, machine.row.id, user.id, o.name],
  );
  await addDeposit(pool, machine, clientId, o.depositCents);
  return { userId: user.id, apiKey: api_key, clientId, wallet };
}

/**
 * A cash-out as it happens: the customer's wallet pays the machine's invoice in
 * LNbits (the payment listener observes it), and the ATM's signed event arrives.
 * With `observed: 'signal'` the payment is signalled directly instead.
 */
export async function lnbitsCashOut(
  lnbits: TestLnbits,
  client: Client,
  taskQueue: string,
  machine: LnbitsMachine,
  operator: Operator,
  customer: TestLnbitsWallet,
  o: { wireSats: number; feeSats: number; fiat: string; observed?: 'listener' | 'signal' },
): Promise<string> {
  const hash = await lnbits.pay(customer, machine.wallet, o.wireSats, 'cash-out');
  const signals = new SettlementSignals(client, taskQueue);
  if (o.observed === 'signal') {
    await signals.paymentObserved({
      wallet_id: machine.walletId,
      payment_hash: hash,
      amount_sats: o.wireSats,
      direction: 'incoming',
    });
  }
  const event = buildSettlementEvent(
    machine.secretHex,
    operator.pubkey,
    settlementContent({
      paymentHash: hash,
      wireSats: o.wireSats,
      feeSats: o.feeSats,
      fiat: o.fiat,
      fiatCode: machine.row.fiat_code,
    }),
  );
  await signals.atmEvent(hash, { event });
  return hash;
}

/** The HTTP API with the LNbits backend (its wallet-key routes), on a free port. */
export async function startLnbitsApi(opts: {
  pool: Pool;
  temporal: Client;
  taskQueue: string;
  lnbits: LnbitsBackend;
}): Promise<TestApi> {
  // listen first: the public URL NIP-98 checks against is the real one (with its port)
  const server = await new Promise<Server>((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => resolve(s));
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const deps: ApiDeps = {
    pool: opts.pool,
    temporal: opts.temporal,
    secretBox,
    logger: testLogger,
    ledger: null,
    lnbits: opts.lnbits,
    config: {
      taskQueue: opts.taskQueue,
      namespace: 'default',
      temporalUiUrl: 'http://127.0.0.1:8233',
      publicUrl: url,
      relays: [],
      stuckThresholdMinutes: 30,
    },
  };
  server.on('request', createApp(deps));
  return {
    url,
    deps,
    close: () => new Promise<void>((r) => server.close(() => r())),
    call: async (method, path, key, body) => {
      const res = await fetch(`${url}${path}`, {
        method,
        headers: {
          ...(key ? { authorization: `Bearer ${key}` } : {}),
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return readAnswer(res);
    },
  };
}
