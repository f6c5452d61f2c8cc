-- satmachine schema, version 1. Forward-only: never edit a migration that has
-- shipped; add a new file instead.
--
-- Money: sats are BIGINT (whole satoshis), fiat is NUMERIC(18,2), fractions are
-- NUMERIC(7,6) (at most 6 decimal places, 0 <= f <= 1). Timestamps are timestamptz.

CREATE SCHEMA IF NOT EXISTS satmachine;

-- ---------------------------------------------------------------------------
-- Users and API keys
-- ---------------------------------------------------------------------------
CREATE TABLE satmachine.users (
  id                 text PRIMARY KEY,
  role               text NOT NULL CHECK (role IN ('super', 'operator', 'lp')),
  name               text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  -- hex x-only public key; operators get one generated at creation
  nostr_pubkey       text UNIQUE CHECK (nostr_pubkey ~ '^[0-9a-f]{64}$'),
  -- operators only: the secret key, AES-256-GCM encrypted with SATMACHINE_SECRET_KEY
  nostr_secret_enc   text,
  created_at         timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE satmachine.api_keys (
  id           text PRIMARY KEY,
  user_id      text NOT NULL REFERENCES satmachine.users (id) ON DELETE CASCADE,
  -- sha256 of the key; the key itself is shown once and never stored
  key_hash     text NOT NULL UNIQUE,
  key_prefix   text NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  last_used_at timestamptz,
  revoked_at   timestamptz
);
CREATE INDEX api_keys_user_idx ON satmachine.api_keys (user_id);

-- NIP-98 auth events already used (replay protection across API replicas)
CREATE TABLE satmachine.nip98_seen (
  event_id    text PRIMARY KEY,
  expires_at  timestamptz NOT NULL
);
CREATE INDEX nip98_seen_expires_idx ON satmachine.nip98_seen (expires_at);

-- ---------------------------------------------------------------------------
-- Platform configuration (one row)
-- ---------------------------------------------------------------------------
CREATE TABLE satmachine.super_config (
  id                              text PRIMARY KEY DEFAULT 'default' CHECK (id = 'default'),
  platform_cash_in_fee_fraction   numeric(7, 6) NOT NULL DEFAULT 0
    CHECK (platform_cash_in_fee_fraction >= 0 AND platform_cash_in_fee_fraction < 1),
  platform_cash_out_fee_fraction  numeric(7, 6) NOT NULL DEFAULT 0
    CHECK (platform_cash_out_fee_fraction >= 0 AND platform_cash_out_fee_fraction < 1),
  super_wallet_id                 text,
  updated_at                      timestamptz NOT NULL DEFAULT now()
);
INSERT INTO satmachine.super_config (id) VALUES ('default');

-- ---------------------------------------------------------------------------
-- Machines (ATMs)
-- ---------------------------------------------------------------------------
CREATE TABLE satmachine.dca_machines (
  id                              text PRIMARY KEY,
  operator_user_id                text NOT NULL REFERENCES satmachine.users (id),
  -- normalised at write: bech32 npub and its hex form (what events carry)
  machine_npub                    text NOT NULL UNIQUE,
  machine_pubkey_hex              text NOT NULL UNIQUE CHECK (machine_pubkey_hex ~ '^[0-9a-f]{64}$'),
  wallet_id                       text NOT NULL,
  name                            text NOT NULL,
  location                        text,
  fiat_code                       text NOT NULL CHECK (fiat_code ~ '^[A-Z]{3}$'),
  is_active                       boolean NOT NULL DEFAULT true,
  operator_cash_in_fee_fraction   numeric(7, 6) NOT NULL DEFAULT 0
    CHECK (operator_cash_in_fee_fraction >= 0 AND operator_cash_in_fee_fraction < 1),
  operator_cash_out_fee_fraction  numeric(7, 6) NOT NULL DEFAULT 0
    CHECK (operator_cash_out_fee_fraction >= 0 AND operator_cash_out_fee_fraction < 1),
  distribution_delay_seconds      integer NOT NULL DEFAULT 0
    CHECK (distribution_delay_seconds BETWEEN 0 AND 604800),
  created_at                      timestamptz NOT NULL DEFAULT now(),
  updated_at                      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dca_machines_operator_idx ON satmachine.dca_machines (operator_user_id, created_at DESC);
-- a payment seen on a wallet routes to exactly one active machine
CREATE UNIQUE INDEX dca_machines_active_wallet_uq ON satmachine.dca_machines (wallet_id) WHERE is_active;

-- ---------------------------------------------------------------------------
-- LP enrolments (an LP at one machine) and LP preferences (per user)
-- ---------------------------------------------------------------------------
CREATE TABLE satmachine.dca_clients (
  id          text PRIMARY KEY,
  machine_id  text NOT NULL REFERENCES satmachine.dca_machines (id) ON DELETE CASCADE,
  user_id     text NOT NULL REFERENCES satmachine.users (id),
  username    text,
  status      text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'inactive')),
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  UNIQUE (machine_id, user_id)
);
CREATE INDEX dca_clients_user_idx ON satmachine.dca_clients (user_id);
CREATE INDEX dca_clients_machine_idx ON satmachine.dca_clients (machine_id, status, created_at, id);

CREATE TABLE satmachine.dca_lp (
  user_id                 text PRIMARY KEY REFERENCES satmachine.users (id) ON DELETE CASCADE,
  dca_wallet_id           text NOT NULL,
  default_dca_mode        text NOT NULL DEFAULT 'flow' CHECK (default_dca_mode IN ('flow', 'fixed')),
  fixed_mode_daily_limit  numeric(18, 2) CHECK (fixed_mode_daily_limit IS NULL OR fixed_mode_daily_limit >= 0),
  autoforward_ln_address  text,
  autoforward_enabled     boolean NOT NULL DEFAULT false,
  created_at              timestamptz NOT NULL DEFAULT now(),
  updated_at              timestamptz NOT NULL DEFAULT now()
);

-- ---------------------------------------------------------------------------
-- Deposits: fiat an LP hands to an operator at a machine
-- ---------------------------------------------------------------------------
CREATE TABLE satmachine.dca_deposits (
  id               text PRIMARY KEY,
  client_id        text NOT NULL REFERENCES satmachine.dca_clients (id),
  machine_id       text NOT NULL REFERENCES satmachine.dca_machines (id),
  creator_user_id  text NOT NULL REFERENCES satmachine.users (id),
  amount           numeric(18, 2) NOT NULL CHECK (amount > 0),
  currency         text NOT NULL,
  status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'confirmed', 'rejected')),
  notes            text,
  created_at       timestamptz NOT NULL DEFAULT now(),
  confirmed_at     timestamptz
);
CREATE INDEX dca_deposits_client_idx ON satmachine.dca_deposits (client_id, status);
CREATE INDEX dca_deposits_machine_idx ON satmachine.dca_deposits (machine_id, created_at DESC);

-- ---------------------------------------------------------------------------
-- Settlements: one per Lightning payment hash
-- ---------------------------------------------------------------------------
CREATE TABLE satmachine.dca_settlements (
  id                      text PRIMARY KEY,
  machine_id              text NOT NULL REFERENCES satmachine.dca_machines (id),
  payment_hash            text NOT NULL UNIQUE,
  bitspire_event_id       text,
  bitspire_txid           text,
  tx_type                 text CHECK (tx_type IN ('cash_out', 'cash_in')),
  wire_sats               bigint CHECK (wire_sats >= 0),
  fiat_amount             numeric(18, 2) CHECK (fiat_amount >= 0),
  fiat_code               text,
  exchange_rate           numeric(24, 8),
  principal_sats          bigint CHECK (principal_sats >= 0),
  fee_sats                bigint CHECK (fee_sats >= 0),
  platform_fee_sats       bigint,
  operator_fee_sats       bigint,
  fee_mismatch_sats       bigint,
  platform_fee_fraction   numeric(7, 6),
  operator_fee_fraction   numeric(7, 6),
  refund_sats             bigint NOT NULL DEFAULT 0 CHECK (refund_sats >= 0),
  observed_amount_sats    bigint,
  bills_json              jsonb,
  cassettes_json          jsonb,
  status                  text NOT NULL CHECK (status IN
                            ('pending', 'processing', 'processed', 'partial', 'refunded', 'errored', 'rejected')),
  error_message           text,
  notes                   text,
  processing_claim        text,
  -- when legs started to be paid (after any hold); the stuck_processing clock
  processing_started_at   timestamptz,
  created_at              timestamptz NOT NULL DEFAULT now(),
  updated_at              timestamptz NOT NULL DEFAULT now(),
  processed_at            timestamptz
);
CREATE INDEX dca_settlements_machine_idx ON satmachine.dca_settlements (machine_id, created_at DESC);
CREATE INDEX dca_settlements_open_idx ON satmachine.dca_settlements (status, created_at)
  WHERE status IN ('pending', 'processing', 'errored', 'rejected');

-- ---------------------------------------------------------------------------
-- Payments: the legs of a settlement (and operator balance settles)
-- ---------------------------------------------------------------------------
CREATE TABLE satmachine.dca_payments (
  id                      text PRIMARY KEY,
  settlement_id           text REFERENCES satmachine.dca_settlements (id),
  client_id               text REFERENCES satmachine.dca_clients (id),
  machine_id              text NOT NULL REFERENCES satmachine.dca_machines (id),
  operator_user_id        text NOT NULL REFERENCES satmachine.users (id),
  leg_type                text NOT NULL CHECK (leg_type IN ('dca', 'settlement', 'autoforward', 'super_fee', 'operator_split')),
  label                   text,
  source_wallet_id        text,
  destination_wallet_id   text,
  destination_ln_address  text,
  amount_sats             bigint NOT NULL CHECK (amount_sats >= 0),
  amount_fiat             numeric(18, 2) NOT NULL DEFAULT 0 CHECK (amount_fiat >= 0),
  exchange_rate           numeric(24, 8),
  transaction_time        timestamptz,
  external_payment_hash   text,
  status                  text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'completed', 'failed', 'skipped', 'voided')),
  error_message           text,
  -- an autoforward leg follows the dca leg it forwards
  parent_leg_id           text REFERENCES satmachine.dca_payments (id),
  -- a retried leg points at the failed leg it replaces
  replaces_leg_id         text REFERENCES satmachine.dca_payments (id),
  sort_order              integer NOT NULL DEFAULT 0,
  created_at              timestamptz NOT NULL DEFAULT now(),
  updated_at              timestamptz NOT NULL DEFAULT now(),
  completed_at            timestamptz
);
CREATE INDEX dca_payments_settlement_idx ON satmachine.dca_payments (settlement_id, sort_order);
CREATE INDEX dca_payments_client_idx ON satmachine.dca_payments (client_id, leg_type, status);
CREATE INDEX dca_payments_operator_idx ON satmachine.dca_payments (operator_user_id, leg_type, created_at DESC);
CREATE INDEX dca_payments_client_completed_idx ON satmachine.dca_payments (client_id, completed_at DESC, id)
  WHERE status = 'completed';
CREATE UNIQUE INDEX dca_payments_replaces_uq ON satmachine.dca_payments (replaces_leg_id)
  WHERE replaces_leg_id IS NOT NULL;

-- ---------------------------------------------------------------------------
-- Commission splits: how the operator's remainder is shared
-- ---------------------------------------------------------------------------
CREATE TABLE satmachine.dca_commission_splits (
  id                text PRIMARY KEY,
  operator_user_id  text NOT NULL REFERENCES satmachine.users (id),
  machine_id        text REFERENCES satmachine.dca_machines (id) ON DELETE CASCADE,
  target            text NOT NULL,
  label             text,
  fraction          numeric(7, 6) NOT NULL CHECK (fraction > 0 AND fraction <= 1),
  sort_order        integer NOT NULL DEFAULT 0,
  created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dca_commission_splits_scope_idx
  ON satmachine.dca_commission_splits (operator_user_id, machine_id, sort_order);

-- ---------------------------------------------------------------------------
-- Telemetry: sparse beacon (kind 30078) and fleet snapshot (kind 30079)
-- ---------------------------------------------------------------------------
CREATE TABLE satmachine.dca_telemetry (
  machine_id                    text PRIMARY KEY REFERENCES satmachine.dca_machines (id) ON DELETE CASCADE,
  beacon_cash_in                boolean,
  beacon_cash_out               boolean,
  beacon_cash_level             text,
  beacon_fiat                   text,
  beacon_model                  text,
  beacon_name                   text,
  beacon_location               text,
  beacon_geo                    text,
  beacon_fees_json              text,
  beacon_limits_json            text,
  beacon_denominations_json     text,
  beacon_version                text,
  beacon_received_at            timestamptz,
  beacon_event_id               text,
  beacon_event_created_at       timestamptz,
  telemetry_json                text,
  telemetry_received_at         timestamptz,
  telemetry_event_id            text,
  telemetry_event_created_at    timestamptz
);

-- ---------------------------------------------------------------------------
-- Cassettes: operator view and ATM-reported state, per position
-- ---------------------------------------------------------------------------
CREATE TABLE satmachine.cassette_configs (
  machine_id          text NOT NULL REFERENCES satmachine.dca_machines (id) ON DELETE CASCADE,
  position            integer NOT NULL CHECK (position > 0),
  denomination        integer NOT NULL CHECK (denomination > 0),
  count               integer NOT NULL CHECK (count >= 0),
  updated_at          timestamptz NOT NULL DEFAULT now(),
  updated_by          text,
  state_denomination  integer,
  state_count         integer,
  state_at            timestamptz,
  state_event_id      text,
  PRIMARY KEY (machine_id, position)
);

-- ---------------------------------------------------------------------------
-- Embedded ledger (PAYMENT_BACKEND=ledger): wallets and double-entry transfers
-- ---------------------------------------------------------------------------
CREATE TABLE satmachine.ledger_wallets (
  id             text PRIMARY KEY,
  owner_user_id  text REFERENCES satmachine.users (id),
  name           text NOT NULL,
  -- 'user' wallets can never go below zero; the one 'external' wallet stands for
  -- the Lightning network outside the ledger and is the other side of payments in/out
  kind           text NOT NULL DEFAULT 'user' CHECK (kind IN ('user', 'external')),
  balance_sats   bigint NOT NULL DEFAULT 0,
  created_at     timestamptz NOT NULL DEFAULT now(),
  CHECK (kind = 'external' OR balance_sats >= 0)
);
CREATE INDEX ledger_wallets_owner_idx ON satmachine.ledger_wallets (owner_user_id);
INSERT INTO satmachine.ledger_wallets (id, name, kind) VALUES ('external', 'Lightning network', 'external');

CREATE TABLE satmachine.ledger_transfers (
  id               text PRIMARY KEY,
  idempotency_key  text NOT NULL UNIQUE,
  from_wallet_id   text NOT NULL REFERENCES satmachine.ledger_wallets (id),
  to_wallet_id     text NOT NULL REFERENCES satmachine.ledger_wallets (id),
  amount_sats      bigint NOT NULL CHECK (amount_sats > 0),
  payment_hash     text NOT NULL,
  memo             text,
  created_at       timestamptz NOT NULL DEFAULT now(),
  CHECK (from_wallet_id <> to_wallet_id)
);

-- every transfer writes two entries that sum to zero
CREATE TABLE satmachine.ledger_entries (
  transfer_id  text NOT NULL REFERENCES satmachine.ledger_transfers (id),
  wallet_id    text NOT NULL REFERENCES satmachine.ledger_wallets (id),
  amount_sats  bigint NOT NULL CHECK (amount_sats <> 0),
  PRIMARY KEY (transfer_id, wallet_id)
);
CREATE INDEX ledger_entries_wallet_idx ON satmachine.ledger_entries (wallet_id);

-- Lightning payments seen on a wallet, as a node would report them. They feed the
-- settlement workflow (paymentObserved) through an outbox: forwarded_at is set once
-- the signal was delivered.
CREATE TABLE satmachine.ledger_lightning_payments (
  id            text PRIMARY KEY,
  wallet_id     text NOT NULL REFERENCES satmachine.ledger_wallets (id),
  payment_hash  text NOT NULL,
  amount_sats   bigint NOT NULL CHECK (amount_sats > 0),
  direction     text NOT NULL CHECK (direction IN ('incoming', 'outgoing')),
  transfer_id   text NOT NULL REFERENCES satmachine.ledger_transfers (id),
  created_at    timestamptz NOT NULL DEFAULT now(),
  forwarded_at  timestamptz,
  UNIQUE (wallet_id, payment_hash, direction)
);
CREATE INDEX ledger_lightning_payments_outbox_idx ON satmachine.ledger_lightning_payments (created_at)
  WHERE forwarded_at IS NULL;

-- ---------------------------------------------------------------------------
-- Ingest cursors: where each relay subscription resumes after a restart
-- ---------------------------------------------------------------------------
CREATE TABLE satmachine.ingest_cursors (
  relay_url        text NOT NULL,
  stream           text NOT NULL,
  last_created_at  bigint NOT NULL,
  updated_at       timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (relay_url, stream)
);
