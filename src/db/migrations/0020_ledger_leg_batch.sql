-- Ledger legs paid together: one statement, one transaction, one commit for the legs a
-- worker has ready at once (docs/performance.md "Ledger legs paid together").
--
-- Every leg of a settlement pays from its machine's wallet, so that row was locked from one
-- leg's balance UPDATE to that leg's commit and the next leg waited: a 10,000-LP fan-out
-- paid 10,000 commits one after another. And each leg paid its own fixed costs: its status
-- UPDATE fired the LP-balance trigger (migration 0012) once, the machine wallet's row got a
-- new version twice. The worker now hands the legs that wait while a payment runs to this
-- function together (src/payments/ledgerLegBatcher.ts).
--
-- satmachine.pay_ledger_legs decides every leg exactly as pay_ledger_leg (migration 0019)
-- decided one: the same checks in the same order, the same outcome and figures, the leg id
-- as the transfer's idempotency key. It decides them in the order given, against the
-- balances as the legs before it in the batch left them (a wallet that runs short refuses
-- the later legs, as it would have one by one; a leg given twice is paid once and the second
-- finds it settled). Then it writes what it decided in four statements: the paid legs
-- completed (one UPDATE: the LP-balance trigger fires once), every wallet's balance moved
-- by its net amount (one UPDATE, each row re-checked against the balance decided on), the
-- transfers (one INSERT). pay_ledger_leg becomes this function over one leg: one
-- implementation of the rules.
--
-- Locks, so that no two payers ever wait on each other in a circle:
--   1. the legs, in leg id order;
--   2. every wallet any of them can touch (source and destination), in wallet id order
--      (every other ledger transfer locks its two wallets in id order too; src/db/ledger.ts).
-- A payer never waits for a leg while it holds a wallet, and all payers take wallets in one
-- order. The balances are then read under those locks: nothing moves them until the commit.
--
-- A leg that raises (its machine has no wallet; PostgreSQL fails) fails the whole statement:
-- nothing commits, and the caller pays each leg of the batch alone, so every leg ends with
-- its own outcome or its own error.
--
-- outcome (per leg, with leg_id):
--   missing   no such leg
--   settled   the leg is not pending (status says what it is; payment_hash when completed)
--   paid      the transfer is made (or was, under the leg id as key) and the leg completed
--   refused   code: zero_amount | invalid_amount | no_destination | external_address |
--             same_wallet | unknown_wallet | insufficient_funds | balance_overflow | key_conflict
CREATE FUNCTION satmachine.pay_ledger_legs(p_leg_ids text[], p_transfer_ids text[], p_ln_domain text)
  RETURNS TABLE (
    leg_id text, outcome text, leg_type text, status text, payment_hash text, code text,
    wallet_id text, balance bigint, amount bigint, source_wallet_id text, destination text
  )
  LANGUAGE plpgsql AS $$
DECLARE
  max_sats CONSTANT bigint := 9007199254740991;
  n int := coalesce(array_length(p_leg_ids, 1), 0);
  legs satmachine.dca_payments[];
  leg satmachine.dca_payments;
  -- the wallets the legs can touch, locked, with their balances as the batch moves them
  w_ids text[];
  w_kinds text[];
  w_bal bigint[];
  src_at int;
  dst_at int;
  -- the legs paid by this call: id, hash (a leg given twice finds itself here)
  paid_ids text[] := '{}';
  paid_hashes text[] := '{}';
  -- the transfers to write
  t_ids text[] := '{}';
  t_keys text[] := '{}';
  t_from text[] := '{}';
  t_to text[] := '{}';
  t_amounts bigint[] := '{}';
  t_hashes text[] := '{}';
  t_memos text[] := '{}';
  src text;
  dst text;
  memo text;
  prior satmachine.ledger_transfers%ROWTYPE;
  hash text;
  at int;
  i int;
  moved int;
BEGIN
  IF n <> coalesce(array_length(p_transfer_ids, 1), 0) THEN
    RAISE EXCEPTION 'pay_ledger_legs: % leg ids but % transfer ids', n, coalesce(array_length(p_transfer_ids, 1), 0);
  END IF;

  -- 1. the legs, locked in id order
  --    (then read: a leg the worker pays was committed by its planning long before, so
  --    every row read here is one just locked)
  PERFORM 1 FROM satmachine.dca_payments l WHERE l.id = ANY (p_leg_ids) ORDER BY l.id FOR UPDATE;
  SELECT array_agg(l) INTO legs FROM satmachine.dca_payments l WHERE l.id = ANY (p_leg_ids);

  -- 2. every wallet they can touch, locked in id order; what it then finds unknown or
  --    refuses is simply locked for nothing
  SELECT array_agg(w.id ORDER BY w.id), array_agg(w.kind ORDER BY w.id), array_agg(w.balance_sats ORDER BY w.id)
    INTO w_ids, w_kinds, w_bal
    FROM (SELECT w.id, w.kind, w.balance_sats
            FROM satmachine.ledger_wallets w
           WHERE w.id IN (SELECT COALESCE(l.source_wallet_id, m.wallet_id)
                            FROM unnest(legs) l
                            LEFT JOIN satmachine.dca_machines m ON m.id = l.machine_id
                           WHERE l.status = 'pending'
                          UNION
                          SELECT CASE
                                   WHEN l.destination_ln_address IS NOT NULL AND l.destination_ln_address <> ''
                                     THEN split_part(lower(l.destination_ln_address), '@', 1)
                                   ELSE l.destination_wallet_id
                                 END
                            FROM unnest(legs) l
                           WHERE l.status = 'pending')
           ORDER BY w.id
             FOR UPDATE) w;
  w_ids := coalesce(w_ids, '{}');

  -- 3. every leg decided, in the order given
  FOR i IN 1 .. n LOOP
    leg_id := p_leg_ids[i];
    outcome := NULL; leg_type := NULL; status := NULL; payment_hash := NULL; code := NULL;
    wallet_id := NULL; balance := NULL; amount := NULL; source_wallet_id := NULL; destination := NULL;
    leg := NULL;
    SELECT * INTO leg FROM unnest(legs) l WHERE l.id = p_leg_ids[i];
    IF leg.id IS NULL THEN
      outcome := 'missing';
      RETURN NEXT;
      CONTINUE;
    END IF;
    leg_type := leg.leg_type;
    amount := leg.amount_sats;

    at := array_position(paid_ids, leg.id);
    IF at IS NOT NULL THEN
      -- given twice: paid by this call already
      outcome := 'settled'; status := 'completed'; payment_hash := paid_hashes[at];
      RETURN NEXT;
      CONTINUE;
    END IF;
    IF leg.status <> 'pending' THEN
      outcome := 'settled'; status := leg.status;
      payment_hash := CASE WHEN leg.status = 'completed' THEN COALESCE(leg.external_payment_hash, '') END;
      RETURN NEXT;
      CONTINUE;
    END IF;
    status := leg.status;
    IF leg.amount_sats <= 0 THEN
      outcome := 'refused'; code := 'zero_amount';
      RETURN NEXT;
      CONTINUE;
    END IF;

    src := leg.source_wallet_id;
    IF src IS NULL THEN
      SELECT m.wallet_id INTO src FROM satmachine.dca_machines m WHERE m.id = leg.machine_id;
      IF src IS NULL THEN
        -- retried by the activity, as before: the machine row is gone or has no wallet
        RAISE EXCEPTION 'leg % has no source wallet and its machine % has none', leg.id, leg.machine_id;
      END IF;
    END IF;
    source_wallet_id := src;

    IF leg.destination_ln_address IS NOT NULL AND leg.destination_ln_address <> '' THEN
      -- the ledger pays only its own addresses, <wallet id>@<its domain>
      dst := split_part(lower(leg.destination_ln_address), '@', 1);
      IF dst = '' OR split_part(lower(leg.destination_ln_address), '@', 2) <> lower(p_ln_domain) THEN
        outcome := 'refused'; code := 'external_address'; destination := leg.destination_ln_address;
        RETURN NEXT;
        CONTINUE;
      END IF;
      memo := 'satmachine ' || leg.leg_type;
    ELSIF leg.destination_wallet_id IS NOT NULL AND leg.destination_wallet_id <> '' THEN
      dst := leg.destination_wallet_id;
      memo := trim('satmachine ' || leg.leg_type || ' ' || COALESCE(leg.settlement_id, ''));
    ELSE
      outcome := 'refused'; code := 'no_destination';
      RETURN NEXT;
      CONTINUE;
    END IF;
    destination := dst;

    IF leg.amount_sats > max_sats THEN
      outcome := 'refused'; code := 'invalid_amount';
      RETURN NEXT;
      CONTINUE;
    END IF;
    IF src = dst THEN
      outcome := 'refused'; code := 'same_wallet';
      RETURN NEXT;
      CONTINUE;
    END IF;

    src_at := array_position(w_ids, src);
    dst_at := array_position(w_ids, dst);
    IF src_at IS NULL OR dst_at IS NULL THEN
      -- not among the wallets locked in step 2: unknown, or the machine's wallet changed
      -- since (an operator's edit between the two reads): then nothing of the batch
      -- commits and the activity retries, as with any balance that moved under it
      IF EXISTS (SELECT 1 FROM satmachine.ledger_wallets w
                  WHERE w.id = CASE WHEN src_at IS NULL THEN src ELSE dst END) THEN
        RAISE EXCEPTION 'wallet % of leg % changed while the leg was paid: retry',
          CASE WHEN src_at IS NULL THEN src ELSE dst END, leg.id
          USING ERRCODE = '40001';
      END IF;
      outcome := 'refused'; code := 'unknown_wallet'; wallet_id := CASE WHEN src_at IS NULL THEN src ELSE dst END;
      RETURN NEXT;
      CONTINUE;
    END IF;

    -- the leg id is the idempotency key: a transfer made under it is the leg's payment
    SELECT * INTO prior FROM satmachine.ledger_transfers t WHERE t.idempotency_key = leg.id;
    IF FOUND THEN
      IF prior.from_wallet_id <> src OR prior.to_wallet_id <> dst OR prior.amount_sats <> leg.amount_sats THEN
        outcome := 'refused'; code := 'key_conflict';
        RETURN NEXT;
        CONTINUE;
      END IF;
      hash := prior.payment_hash;
    ELSE
      IF w_kinds[src_at] = 'user' AND w_bal[src_at] < leg.amount_sats THEN
        outcome := 'refused'; code := 'insufficient_funds'; wallet_id := src; balance := w_bal[src_at];
        RETURN NEXT;
        CONTINUE;
      END IF;
      IF w_bal[dst_at] > max_sats - leg.amount_sats THEN
        outcome := 'refused'; code := 'balance_overflow'; wallet_id := dst; balance := w_bal[dst_at];
        RETURN NEXT;
        CONTINUE;
      END IF;
      IF w_bal[src_at] < -max_sats + leg.amount_sats THEN
        outcome := 'refused'; code := 'balance_overflow'; wallet_id := src; balance := w_bal[src_at];
        RETURN NEXT;
        CONTINUE;
      END IF;
      -- the same payment hash every ledger payment gets: sha256 of its key, hex
      hash := encode(sha256(convert_to(leg.id, 'UTF8')), 'hex');
      w_bal[src_at] := w_bal[src_at] - leg.amount_sats;
      w_bal[dst_at] := w_bal[dst_at] + leg.amount_sats;
      t_ids := t_ids || p_transfer_ids[i];
      t_keys := t_keys || leg.id;
      t_from := t_from || src;
      t_to := t_to || dst;
      t_amounts := t_amounts || leg.amount_sats;
      t_hashes := t_hashes || hash;
      t_memos := t_memos || memo;
    END IF;

    paid_ids := paid_ids || leg.id;
    paid_hashes := paid_hashes || hash;
    outcome := 'paid'; status := 'completed'; payment_hash := hash;
    wallet_id := NULL; balance := NULL;
    RETURN NEXT;
  END LOOP;

  -- 4. what was decided, written: the legs completed (the LP-balance trigger fires once) …
  IF array_length(paid_ids, 1) > 0 THEN
    UPDATE satmachine.dca_payments l
       SET status = 'completed', external_payment_hash = p.hash, error_message = NULL,
           completed_at = now(), updated_at = now()
      FROM unnest(paid_ids, paid_hashes) AS p (id, hash)
     WHERE l.id = p.id;
  END IF;

  IF array_length(t_ids, 1) > 0 THEN
    -- … every wallet moved by its net amount, each row checked to hold what the decisions
    -- started from (the rows are locked: a mismatch is a bug, and nothing commits) …
    WITH net AS (
      SELECT x.wallet, sum(x.delta)::bigint AS delta
        FROM (SELECT f AS wallet, -a AS delta FROM unnest(t_from, t_amounts) AS u (f, a)
              UNION ALL
              SELECT t, a FROM unnest(t_to, t_amounts) AS u (t, a)) x
       GROUP BY x.wallet
    )
    UPDATE satmachine.ledger_wallets w
       SET balance_sats = w.balance_sats + net.delta
      FROM net
     WHERE w.id = net.wallet
       AND w.balance_sats + net.delta = w_bal[array_position(w_ids, w.id)];
    GET DIAGNOSTICS moved = ROW_COUNT;
    IF moved <> (SELECT count(DISTINCT x) FROM unnest(t_from || t_to) x) THEN
      RAISE EXCEPTION 'pay_ledger_legs: a wallet balance changed under its lock (% of % wallets moved as decided)',
        moved, (SELECT count(DISTINCT x) FROM unnest(t_from || t_to) x)
        USING ERRCODE = '40001';
    END IF;
    -- … and the transfers (after the balances: their foreign-key checks meet wallet rows this
    -- transaction holds already); their two entries each are the view satmachine.ledger_entries
    INSERT INTO satmachine.ledger_transfers (id, idempotency_key, from_wallet_id, to_wallet_id, amount_sats, payment_hash, memo)
    SELECT * FROM unnest(t_ids, t_keys, t_from, t_to, t_amounts, t_hashes, t_memos);
  END IF;
END $$;

-- One leg is a batch of one: one implementation of the rules. Same signature and columns as
-- migrations 0018/0019, so a worker of the previous version calls it unchanged.
CREATE OR REPLACE FUNCTION satmachine.pay_ledger_leg(p_leg_id text, p_transfer_id text, p_ln_domain text)
  RETURNS TABLE (
    outcome text, leg_type text, status text, payment_hash text, code text,
    wallet_id text, balance bigint, amount bigint, source_wallet_id text, destination text
  )
  LANGUAGE sql AS $$
  SELECT r.outcome, r.leg_type, r.status, r.payment_hash, r.code,
         r.wallet_id, r.balance, r.amount, r.source_wallet_id, r.destination
    FROM satmachine.pay_ledger_legs(ARRAY[p_leg_id], ARRAY[p_transfer_id], p_ln_domain) r
$$;

-- Its statements are planned for every call, with the call's leg ids. With PostgreSQL's
-- default a connection settles on a generic plan after five calls, and keeps it: planned
-- while the leg table was small or not yet analysed, that plan scanned the whole table
-- (measured: a 10,000-LP fan-out took 17–19 s, 5 ms per batch to find its legs, where
-- per-call plans took 12 s). Planning per call costs ~0.1 ms a statement.
ALTER FUNCTION satmachine.pay_ledger_legs(text[], text[], text) SET plan_cache_mode = force_custom_plan;
