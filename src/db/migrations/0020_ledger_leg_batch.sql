-- Ledger legs paid together: one transaction, one commit for the legs a worker has ready at
-- once (docs/performance.md "Ledger legs paid together").
--
-- Every leg of a settlement pays from its machine's wallet, so its row is locked from one
-- leg's balance UPDATE to that leg's commit, and the next leg waits: a 10,000-LP fan-out paid
-- 10,000 commits one after another, each holding the row through its WAL flush. The worker
-- now hands the legs that are waiting while one payment runs to this function together
-- (src/payments/ledgerLegBatcher.ts): each leg is still paid by satmachine.pay_ledger_leg,
-- with its own checks, its own transfer under its own leg id as key, its own outcome; they
-- share the transaction, the locks and the commit.
--
-- Locks, so that no two payers ever wait on each other in a circle:
--   1. every leg of the batch, in leg id order (a single-leg payment also locks its leg
--      first, then its wallets);
--   2. every wallet any of them can touch (source and destination), in wallet id order
--      (every other ledger transfer locks its two wallets in id order too).
-- A batch never waits for a leg while it holds a wallet, and all payers take wallets in
-- one order.
--
-- A leg whose payment raises (its machine has no wallet, PostgreSQL fails) fails the whole
-- statement: nothing of the batch commits, and the caller pays each of its legs alone, so
-- every leg ends with its own outcome. Legs are paid in the order given (the order the
-- worker's activities asked): when a wallet runs short, the later legs are refused, as they
-- would have been one by one.
CREATE FUNCTION satmachine.pay_ledger_legs(p_leg_ids text[], p_transfer_ids text[], p_ln_domain text)
  RETURNS TABLE (
    leg_id text, outcome text, leg_type text, status text, payment_hash text, code text,
    wallet_id text, balance bigint, amount bigint, source_wallet_id text, destination text
  )
  LANGUAGE plpgsql AS $$
DECLARE
  i int;
BEGIN
  IF coalesce(array_length(p_leg_ids, 1), 0) <> coalesce(array_length(p_transfer_ids, 1), 0) THEN
    RAISE EXCEPTION 'pay_ledger_legs: % leg ids but % transfer ids',
      coalesce(array_length(p_leg_ids, 1), 0), coalesce(array_length(p_transfer_ids, 1), 0);
  END IF;

  PERFORM 1 FROM satmachine.dca_payments l WHERE l.id = ANY (p_leg_ids) ORDER BY l.id FOR UPDATE;

  -- the wallets the legs can touch, derived as pay_ledger_leg derives them: a wallet it
  -- then finds unknown or refuses is simply locked for nothing
  PERFORM 1
     FROM satmachine.ledger_wallets w
    WHERE w.id IN (
            SELECT COALESCE(l.source_wallet_id, m.wallet_id)
              FROM satmachine.dca_payments l
              LEFT JOIN satmachine.dca_machines m ON m.id = l.machine_id
             WHERE l.id = ANY (p_leg_ids) AND l.status = 'pending'
            UNION
            SELECT CASE
                     WHEN l.destination_ln_address IS NOT NULL AND l.destination_ln_address <> ''
                       THEN split_part(lower(l.destination_ln_address), '@', 1)
                     ELSE l.destination_wallet_id
                   END
              FROM satmachine.dca_payments l
             WHERE l.id = ANY (p_leg_ids) AND l.status = 'pending')
    ORDER BY w.id
      FOR UPDATE;

  FOR i IN 1 .. coalesce(array_length(p_leg_ids, 1), 0) LOOP
    RETURN QUERY
      SELECT p_leg_ids[i], r.outcome, r.leg_type, r.status, r.payment_hash, r.code,
             r.wallet_id, r.balance, r.amount, r.source_wallet_id, r.destination
        FROM satmachine.pay_ledger_leg(p_leg_ids[i], p_transfer_ids[i], p_ln_domain) r;
  END LOOP;
END $$;
