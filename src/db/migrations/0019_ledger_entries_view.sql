-- The ledger's entries become a view over its transfers (docs/performance.md "Cost of a
-- ledger leg").
--
-- Every transfer wrote two entries, −amount on its source and +amount on its
-- destination, and nothing else ever wrote one: the table held nothing the transfers do
-- not. Writing it cost each ledger leg two heap rows, three index entries and four
-- foreign-key checks, all inside the time the machine wallet's row is locked (every
-- leg of a settlement pays from that one wallet, so that time bounds a fan-out).
--
-- 1. The rows in the table are checked against their transfers first: an entry that is
--    not exactly what its transfer says, or a transfer without its two entries, stops the
--    migration (nothing changes; the message says what to look at).
-- 2. The table is replaced by a view with the same name and columns, derived from
--    satmachine.ledger_transfers. Readers (reconciliation, the double-entry check) are
--    unchanged; double entry now holds by construction, and a wallet's balance is still
--    checked against the sum of its entries.
-- 3. During a rolling upgrade a worker of the previous version still inserts the two
--    entries with its transfer: an INSTEAD OF trigger accepts an entry that is exactly
--    what its transfer says (and stores nothing) and refuses any other.
-- 4. satmachine.pay_ledger_leg (migration 0018) is replaced by the same function without
--    the entries insert. Migrations are never edited once applied, so its text is here
--    again; only that insert and its comment changed.

DO $$
DECLARE
  bad bigint;
  sample text;
BEGIN
  SELECT count(*), min(coalesce(e.transfer_id, d.transfer_id))
    INTO bad, sample
    FROM satmachine.ledger_entries e
    FULL JOIN (SELECT t.id AS transfer_id, t.from_wallet_id AS wallet_id, -t.amount_sats AS amount_sats
                 FROM satmachine.ledger_transfers t
               UNION ALL
               SELECT t.id, t.to_wallet_id, t.amount_sats FROM satmachine.ledger_transfers t) d
      ON d.transfer_id = e.transfer_id AND d.wallet_id = e.wallet_id
   WHERE e.transfer_id IS NULL OR d.transfer_id IS NULL OR e.amount_sats <> d.amount_sats;
  IF bad > 0 THEN
    RAISE EXCEPTION 'ledger_entries disagree with ledger_transfers (rows that differ: %, e.g. transfer %)', bad, sample
      USING HINT = 'an entry was written by hand or a transfer lost its entries; compare the two tables for that transfer, correct the entries, then run the migration again';
  END IF;
END $$;

DROP TABLE satmachine.ledger_entries;

-- every transfer's two entries: −amount on its source wallet, +amount on its destination
CREATE VIEW satmachine.ledger_entries (transfer_id, wallet_id, amount_sats) AS
  SELECT t.id, t.from_wallet_id, -t.amount_sats FROM satmachine.ledger_transfers t
  UNION ALL
  SELECT t.id, t.to_wallet_id, t.amount_sats FROM satmachine.ledger_transfers t;

-- a previous version's entry insert: accepted (and already there) when it is exactly what
-- its transfer says, refused otherwise
CREATE FUNCTION satmachine.ledger_entries_insert() RETURNS trigger
  LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (
    SELECT 1 FROM satmachine.ledger_transfers t
     WHERE t.id = NEW.transfer_id
       AND ((t.from_wallet_id = NEW.wallet_id AND -t.amount_sats = NEW.amount_sats)
         OR (t.to_wallet_id = NEW.wallet_id AND t.amount_sats = NEW.amount_sats))
  ) THEN
    RAISE EXCEPTION 'ledger entry (%, %, %) is not one of its transfer''s two entries',
      NEW.transfer_id, NEW.wallet_id, NEW.amount_sats
      USING ERRCODE = '23514',
            HINT = 'ledger entries are derived from ledger_transfers; write the transfer instead';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER ledger_entries_insert INSTEAD OF INSERT ON satmachine.ledger_entries
  FOR EACH ROW EXECUTE FUNCTION satmachine.ledger_entries_insert();

-- The leg payment of migration 0018 without the entries insert.
CREATE OR REPLACE FUNCTION satmachine.pay_ledger_leg(p_leg_id text, p_transfer_id text, p_ln_domain text)
  RETURNS TABLE (
    outcome text, leg_type text, status text, payment_hash text, code text,
    wallet_id text, balance bigint, amount bigint, source_wallet_id text, destination text
  )
  LANGUAGE plpgsql AS $$
DECLARE
  leg satmachine.dca_payments%ROWTYPE;
  src text;
  dst text;
  memo text;
  from_w satmachine.ledger_wallets%ROWTYPE;
  to_w satmachine.ledger_wallets%ROWTYPE;
  prior satmachine.ledger_transfers%ROWTYPE;
  hash text;
  i int;
BEGIN
  SELECT * INTO leg FROM satmachine.dca_payments l WHERE l.id = p_leg_id FOR UPDATE;
  IF NOT FOUND THEN
    RETURN QUERY SELECT 'missing', NULL::text, NULL::text, NULL::text, NULL::text,
                        NULL::text, NULL::bigint, NULL::bigint, NULL::text, NULL::text;
    RETURN;
  END IF;
  IF leg.status <> 'pending' THEN
    RETURN QUERY SELECT 'settled', leg.leg_type, leg.status,
                        CASE WHEN leg.status = 'completed' THEN COALESCE(leg.external_payment_hash, '') END,
                        NULL::text, NULL::text, NULL::bigint, leg.amount_sats, NULL::text, NULL::text;
    RETURN;
  END IF;
  IF leg.amount_sats <= 0 THEN
    RETURN QUERY SELECT 'refused', leg.leg_type, leg.status, NULL::text, 'zero_amount',
                        NULL::text, NULL::bigint, leg.amount_sats, NULL::text, NULL::text;
    RETURN;
  END IF;

  src := leg.source_wallet_id;
  IF src IS NULL THEN
    SELECT m.wallet_id INTO src FROM satmachine.dca_machines m WHERE m.id = leg.machine_id;
    IF src IS NULL THEN
      -- retried by the activity, as before: the machine row is gone or has no wallet
      RAISE EXCEPTION 'leg % has no source wallet and its machine % has none', leg.id, leg.machine_id;
    END IF;
  END IF;

  IF leg.destination_ln_address IS NOT NULL AND leg.destination_ln_address <> '' THEN
    -- the ledger pays only its own addresses, <wallet id>@<its domain>
    dst := split_part(lower(leg.destination_ln_address), '@', 1);
    IF dst = '' OR split_part(lower(leg.destination_ln_address), '@', 2) <> lower(p_ln_domain) THEN
      RETURN QUERY SELECT 'refused', leg.leg_type, leg.status, NULL::text, 'external_address',
                          NULL::text, NULL::bigint, leg.amount_sats, src, leg.destination_ln_address;
      RETURN;
    END IF;
    memo := 'satmachine ' || leg.leg_type;
  ELSIF leg.destination_wallet_id IS NOT NULL AND leg.destination_wallet_id <> '' THEN
    dst := leg.destination_wallet_id;
    memo := trim('satmachine ' || leg.leg_type || ' ' || COALESCE(leg.settlement_id, ''));
  ELSE
    RETURN QUERY SELECT 'refused', leg.leg_type, leg.status, NULL::text, 'no_destination',
                        NULL::text, NULL::bigint, leg.amount_sats, src, NULL::text;
    RETURN;
  END IF;

  IF leg.amount_sats > 9007199254740991 THEN
    RETURN QUERY SELECT 'refused', leg.leg_type, leg.status, NULL::text, 'invalid_amount',
                        NULL::text, NULL::bigint, leg.amount_sats, src, dst;
    RETURN;
  END IF;
  IF src = dst THEN
    RETURN QUERY SELECT 'refused', leg.leg_type, leg.status, NULL::text, 'same_wallet',
                        NULL::text, NULL::bigint, leg.amount_sats, src, dst;
    RETURN;
  END IF;

  -- the wallets as they are now, unlocked: existence, and the balance checks that give a
  -- clear refusal. The balances are moved last, under the wallet locks, with the same
  -- checks in the UPDATE itself (below): the source wallet (every leg of a machine pays
  -- from it) stays locked only from its UPDATE to the commit.
  SELECT * INTO from_w FROM satmachine.ledger_wallets w WHERE w.id = src;
  IF NOT FOUND THEN
    RETURN QUERY SELECT 'refused', leg.leg_type, leg.status, NULL::text, 'unknown_wallet',
                        src, NULL::bigint, leg.amount_sats, src, dst;
    RETURN;
  END IF;
  SELECT * INTO to_w FROM satmachine.ledger_wallets w WHERE w.id = dst;
  IF NOT FOUND THEN
    RETURN QUERY SELECT 'refused', leg.leg_type, leg.status, NULL::text, 'unknown_wallet',
                        dst, NULL::bigint, leg.amount_sats, src, dst;
    RETURN;
  END IF;

  -- the leg id is the idempotency key: a transfer made under it is the leg's payment (the
  -- leg's row lock, held, keeps any other payer of this leg out until this one commits)
  SELECT * INTO prior FROM satmachine.ledger_transfers t WHERE t.idempotency_key = leg.id;
  IF FOUND THEN
    IF prior.from_wallet_id <> src OR prior.to_wallet_id <> dst OR prior.amount_sats <> leg.amount_sats THEN
      RETURN QUERY SELECT 'refused', leg.leg_type, leg.status, NULL::text, 'key_conflict',
                          NULL::text, NULL::bigint, leg.amount_sats, src, dst;
      RETURN;
    END IF;
    hash := prior.payment_hash;
  ELSE
    IF from_w.kind = 'user' AND from_w.balance_sats < leg.amount_sats THEN
      RETURN QUERY SELECT 'refused', leg.leg_type, leg.status, NULL::text, 'insufficient_funds',
                          src, from_w.balance_sats, leg.amount_sats, src, dst;
      RETURN;
    END IF;
    IF to_w.balance_sats > 9007199254740991 - leg.amount_sats THEN
      RETURN QUERY SELECT 'refused', leg.leg_type, leg.status, NULL::text, 'balance_overflow',
                          dst, to_w.balance_sats, leg.amount_sats, src, dst;
      RETURN;
    END IF;
    IF from_w.balance_sats < -9007199254740991 + leg.amount_sats THEN
      RETURN QUERY SELECT 'refused', leg.leg_type, leg.status, NULL::text, 'balance_overflow',
                          src, from_w.balance_sats, leg.amount_sats, src, dst;
      RETURN;
    END IF;
    -- the same payment hash every ledger payment gets: sha256 of its key, hex
    hash := encode(sha256(convert_to(leg.id, 'UTF8')), 'hex');
  END IF;

  UPDATE satmachine.dca_payments l
     SET status = 'completed', external_payment_hash = hash, error_message = NULL,
         completed_at = now(), updated_at = now()
   WHERE l.id = leg.id;

  IF prior.id IS NULL THEN
    -- last: both balances, in wallet id order (two transfers never wait on each other in a
    -- circle), each UPDATE re-checking under its row lock what was checked above. A
    -- concurrent payment that got there first and broke a check fails this statement:
    -- nothing of it commits, the activity retries, and the next attempt refuses cleanly.
    FOR i IN 1..2 LOOP
      UPDATE satmachine.ledger_wallets w
         SET balance_sats = w.balance_sats + CASE WHEN w.id = src THEN -leg.amount_sats ELSE leg.amount_sats END
       WHERE w.id = CASE WHEN (src < dst) = (i = 1) THEN src ELSE dst END
         AND (w.id <> src OR w.kind = 'external' OR w.balance_sats >= leg.amount_sats)
         AND (w.id <> src OR w.balance_sats >= -9007199254740991 + leg.amount_sats)
         AND (w.id <> dst OR w.balance_sats <= 9007199254740991 - leg.amount_sats);
      IF NOT FOUND THEN
        RAISE EXCEPTION 'wallet balance changed while leg % was paid: retry', leg.id
          USING ERRCODE = '40001';
      END IF;
    END LOOP;
    -- the transfer after the balances: its foreign-key checks then meet wallet rows this
    -- transaction has locked already (a key-share lock taken on a row another payment is
    -- updating would make PostgreSQL build a multixact per leg). Its two entries are the
    -- view satmachine.ledger_entries.
    INSERT INTO satmachine.ledger_transfers (id, idempotency_key, from_wallet_id, to_wallet_id, amount_sats, payment_hash, memo)
    VALUES (p_transfer_id, leg.id, src, dst, leg.amount_sats, hash, memo);
  END IF;

  RETURN QUERY SELECT 'paid', leg.leg_type, 'completed'::text, hash, NULL::text,
                      NULL::text, NULL::bigint, leg.amount_sats, src, dst;
END $$;
