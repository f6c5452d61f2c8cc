-- The LNbits payment backend (PAYMENT_BACKEND=lnbits): wallet keys, the invoice
-- behind every payment satmachine makes (exactly once per idempotency key), and
-- what the payment observer already reported. Unused with the embedded ledger.

-- Keys of the LNbits wallets satmachine may use, sealed with SATMACHINE_SECRET_KEY
-- (src/security/secretBox.ts). admin_key_enc is NULL for a receive-only wallet.
CREATE TABLE satmachine.lnbits_wallets (
  wallet_id        text PRIMARY KEY CHECK (wallet_id ~ '^[A-Za-z0-9_-]{1,64}$'),
  owner_user_id    text NOT NULL REFERENCES satmachine.users (id),
  name             text NOT NULL,
  admin_key_enc    text,
  invoice_key_enc  text NOT NULL,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX lnbits_wallets_owner_idx ON satmachine.lnbits_wallets (owner_user_id);

-- The invoice behind each payment, per idempotency key (a leg id), stored BEFORE it
-- is paid: a retry, a crash or an ambiguous failure finds it here and settles this
-- same invoice (Lightning refuses to pay one invoice twice). A key gets another
-- invoice (attempt + 1) only once its current one is proved unpayable ('dead':
-- failed or expired at LNbits, and never paid nor in flight from the source).
CREATE TABLE satmachine.lnbits_payments (
  idempotency_key   text NOT NULL,
  attempt           integer NOT NULL CHECK (attempt >= 1),
  kind              text NOT NULL CHECK (kind IN ('wallet', 'address')),
  source_wallet_id  text NOT NULL,
  -- an LNbits wallet id (kind wallet) or a Lightning address (kind address)
  destination       text NOT NULL,
  amount_sats       bigint NOT NULL CHECK (amount_sats > 0),
  memo              text NOT NULL DEFAULT '',
  payment_hash      text NOT NULL UNIQUE CHECK (payment_hash ~ '^[0-9a-f]{64}$'),
  bolt11            text NOT NULL,
  expires_at        timestamptz,
  status            text NOT NULL DEFAULT 'created' CHECK (status IN ('created', 'paid', 'dead')),
  fee_sats          bigint CHECK (fee_sats >= 0),
  paid_at           timestamptz,
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (idempotency_key, attempt)
);
-- at most one invoice of a key is ever paid
CREATE UNIQUE INDEX lnbits_payments_one_paid_idx ON satmachine.lnbits_payments (idempotency_key)
  WHERE status = 'paid';

-- Payments the observer handed on (at least once); a second sighting is skipped.
CREATE TABLE satmachine.lnbits_observed_payments (
  wallet_id     text NOT NULL,
  payment_hash  text NOT NULL,
  direction     text NOT NULL CHECK (direction IN ('incoming', 'outgoing')),
  amount_sats   bigint NOT NULL,
  reported_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (wallet_id, payment_hash, direction)
);

-- Per wallet: every payment LNbits updated before this instant has been reported.
CREATE TABLE satmachine.lnbits_observer_cursors (
  wallet_id   text PRIMARY KEY,
  updated_to  timestamptz NOT NULL,
  polled_at   timestamptz NOT NULL DEFAULT now()
);
