-- A ledger leg paid in one statement (docs/performance.md "One round trip per ledger leg").
--
-- payLeg on the embedded ledger used to be ~8 round trips in one transaction (BEGIN,
-- the leg lock, the wallet locks, the idempotency look-up, the transfer, the leg's
-- completion, COMMIT), holding the source wallet's row lock across most of them: every
-- leg of a machine waited for the one before it. This function does the same steps, in
-- the same order and under the same locks, inside PostgreSQL: one round trip, and the
-- source wallet is held only for the work itself and the commit.
--
-- It decides and pays; it writes no refusal. A refusal comes back as `refused` with its
-- code and figures, the leg untouched: the caller words the message (src/payments/ledger.ts,
-- the same words as any ledger payment) and fails the leg while it is still pending.
--
-- outcome:
--   missing   no such leg
--   settled   the leg is not pending (status says what it is; payment_hash when completed)
--   paid      the transfer is made (or was, under the leg id as key) and the leg completed
--   refused   code: zero_amount | invalid_amount | no_destination | external_address |
--             same_wallet | unknown_wallet | insufficient_funds | balance_overflow | key_conflict
CREATE FUNCTION satmachine.pay_ledger_leg(p_leg_id text, p_transfer_id text, p_ln_domain text)
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
    -- the transfer and its two entries after the balances: their foreign-key checks then
    -- meet wallet rows this transaction has locked already (a key-share lock taken on a
    -- row another payment is updating would make PostgreSQL build a multixact per leg)
    INSERT INTO satmachine.ledger_transfers (id, idempotency_key, from_wallet_id, to_wallet_id, amount_sats, payment_hash, memo)
    VALUES (p_transfer_id, leg.id, src, dst, leg.amount_sats, hash, memo);
    INSERT INTO satmachine.ledger_entries (transfer_id, wallet_id, amount_sats)
    VALUES (p_transfer_id, src, -leg.amount_sats), (p_transfer_id, dst, leg.amount_sats);
  END IF;

  RETURN QUERY SELECT 'paid', leg.leg_type, 'completed'::text, hash, NULL::text,
                      NULL::text, NULL::bigint, leg.amount_sats, src, dst;
END $$;
