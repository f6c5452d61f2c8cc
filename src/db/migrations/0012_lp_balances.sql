-- LP balances as a maintained table (docs/settlement.md "LP balances").
--
-- One row per enrolment, kept equal to the formula over deposits and legs by
-- statement-level triggers on satmachine.dca_deposits and satmachine.dca_payments: every
-- writer's INSERT / UPDATE / DELETE adds its exact delta in its own transaction. The
-- deltas of one statement are summed per enrolment and applied in client_id order (a
-- consistent row-lock order, so two statements touching several enrolments cannot
-- deadlock on these rows); a statement whose rows change no balance touches none.
-- `satmachine reconcile-balances` compares every row with the formula.
--
-- The formula (as satmachine.lp_leg_holds says): the legs that hold an LP's fiat are
-- `dca` and `settlement` legs that are pending or completed, and `dca` legs that failed
-- (the cash was dispensed; an operator retry re-creates the leg, a partial dispense
-- voids it). Completed holding legs are spent (their sats received); the others are
-- pending (their sats still owed).

CREATE TABLE satmachine.lp_balances (
  client_id           text PRIMARY KEY REFERENCES satmachine.dca_clients (id) ON DELETE CASCADE,
  -- Σ confirmed deposits
  confirmed_deposits  numeric(18, 2) NOT NULL DEFAULT 0,
  -- Σ fiat of completed holding legs
  spent_fiat          numeric(18, 2) NOT NULL DEFAULT 0,
  -- Σ fiat of holding legs not completed (pending; failed dca)
  pending_fiat        numeric(18, 2) NOT NULL DEFAULT 0,
  -- Σ sats of completed holding legs
  total_sats          bigint NOT NULL DEFAULT 0,
  -- Σ sats of holding legs not completed
  pending_sats        bigint NOT NULL DEFAULT 0,
  updated_at          timestamptz NOT NULL DEFAULT now()
);

-- fiat held by an enrolment's dca legs, by the UTC day the leg was created: what a
-- fixed-mode LP's daily limit counts
CREATE TABLE satmachine.lp_dca_daily (
  client_id  text NOT NULL REFERENCES satmachine.dca_clients (id) ON DELETE CASCADE,
  day        date NOT NULL,
  held_fiat  numeric(18, 2) NOT NULL DEFAULT 0,
  PRIMARY KEY (client_id, day)
);

-- Does a leg hold its LP's fiat? (the one definition; src/db/lpBalances.ts uses it too)
CREATE FUNCTION satmachine.lp_leg_holds(leg_type text, status text) RETURNS boolean
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  RETURN leg_type IN ('dca', 'settlement')
     AND (status IN ('pending', 'completed') OR (leg_type = 'dca' AND status = 'failed'));

-- The leg trigger (AFTER INSERT / UPDATE / DELETE, once per statement): the holding rows
-- of the statement, new ones +1 and old ones −1, summed per enrolment (and per UTC day for
-- dca legs) and added to the maintained rows, in key order; zero deltas touch nothing.
CREATE FUNCTION satmachine.lp_balances_on_legs() RETURNS trigger
  LANGUAGE plpgsql AS $$
DECLARE
  signs int[];
  client_ids text[];
  leg_types text[];
  statuses text[];
  fiats numeric[];
  sats bigint[];
  created timestamptz[];
BEGIN
  IF TG_OP = 'INSERT' THEN
    SELECT array_agg(1), array_agg(n.client_id), array_agg(n.leg_type), array_agg(n.status),
           array_agg(n.amount_fiat), array_agg(n.amount_sats), array_agg(n.created_at)
      INTO signs, client_ids, leg_types, statuses, fiats, sats, created
      FROM new_legs n
     WHERE n.client_id IS NOT NULL AND satmachine.lp_leg_holds(n.leg_type, n.status);
  ELSIF TG_OP = 'DELETE' THEN
    SELECT array_agg(-1), array_agg(o.client_id), array_agg(o.leg_type), array_agg(o.status),
           array_agg(o.amount_fiat), array_agg(o.amount_sats), array_agg(o.created_at)
      INTO signs, client_ids, leg_types, statuses, fiats, sats, created
      FROM old_legs o
     WHERE o.client_id IS NOT NULL AND satmachine.lp_leg_holds(o.leg_type, o.status);
  ELSE
    SELECT array_agg(r.sign), array_agg(r.client_id), array_agg(r.leg_type), array_agg(r.status),
           array_agg(r.amount_fiat), array_agg(r.amount_sats), array_agg(r.created_at)
      INTO signs, client_ids, leg_types, statuses, fiats, sats, created
      FROM (SELECT 1 AS sign, n.client_id, n.leg_type, n.status, n.amount_fiat, n.amount_sats, n.created_at
              FROM new_legs n
            UNION ALL
            SELECT -1, o.client_id, o.leg_type, o.status, o.amount_fiat, o.amount_sats, o.created_at
              FROM old_legs o) r
     WHERE r.client_id IS NOT NULL AND satmachine.lp_leg_holds(r.leg_type, r.status);
  END IF;
  IF signs IS NULL THEN
    RETURN NULL;
  END IF;

  INSERT INTO satmachine.lp_balances AS b (client_id, spent_fiat, pending_fiat, total_sats, pending_sats)
  SELECT client_id, spent_fiat, pending_fiat, total_sats, pending_sats
    FROM (SELECT u.client_id,
                 COALESCE(sum(u.sign * u.fiat) FILTER (WHERE u.status = 'completed'), 0) AS spent_fiat,
                 COALESCE(sum(u.sign * u.fiat) FILTER (WHERE u.status <> 'completed'), 0) AS pending_fiat,
                 COALESCE(sum(u.sign * u.sats) FILTER (WHERE u.status = 'completed'), 0) AS total_sats,
                 COALESCE(sum(u.sign * u.sats) FILTER (WHERE u.status <> 'completed'), 0) AS pending_sats
            FROM unnest(signs, client_ids, statuses, fiats, sats) AS u (sign, client_id, status, fiat, sats)
           GROUP BY u.client_id) per_client
   WHERE spent_fiat <> 0 OR pending_fiat <> 0 OR total_sats <> 0 OR pending_sats <> 0
   ORDER BY client_id
  ON CONFLICT (client_id) DO UPDATE
     SET spent_fiat = b.spent_fiat + EXCLUDED.spent_fiat,
         pending_fiat = b.pending_fiat + EXCLUDED.pending_fiat,
         total_sats = b.total_sats + EXCLUDED.total_sats,
         pending_sats = b.pending_sats + EXCLUDED.pending_sats,
         updated_at = now();

  INSERT INTO satmachine.lp_dca_daily AS y (client_id, day, held_fiat)
  SELECT client_id, day, held_fiat
    FROM (SELECT u.client_id, (u.created AT TIME ZONE 'UTC')::date AS day, sum(u.sign * u.fiat) AS held_fiat
            FROM unnest(signs, client_ids, leg_types, fiats, created) AS u (sign, client_id, leg_type, fiat, created)
           WHERE u.leg_type = 'dca'
           GROUP BY 1, 2) per_day
   WHERE held_fiat <> 0
   ORDER BY client_id, day
  ON CONFLICT (client_id, day) DO UPDATE SET held_fiat = y.held_fiat + EXCLUDED.held_fiat;
  RETURN NULL;
END $$;

-- The deposit trigger: confirmed deposits, +new −old, per enrolment.
CREATE FUNCTION satmachine.lp_balances_on_deposits() RETURNS trigger
  LANGUAGE plpgsql AS $$
DECLARE
  signs int[];
  client_ids text[];
  amounts numeric[];
BEGIN
  IF TG_OP = 'INSERT' THEN
    SELECT array_agg(1), array_agg(n.client_id), array_agg(n.amount) INTO signs, client_ids, amounts
      FROM new_deposits n WHERE n.status = 'confirmed';
  ELSIF TG_OP = 'DELETE' THEN
    SELECT array_agg(-1), array_agg(o.client_id), array_agg(o.amount) INTO signs, client_ids, amounts
      FROM old_deposits o WHERE o.status = 'confirmed';
  ELSE
    SELECT array_agg(r.sign), array_agg(r.client_id), array_agg(r.amount) INTO signs, client_ids, amounts
      FROM (SELECT 1 AS sign, n.client_id, n.amount FROM new_deposits n WHERE n.status = 'confirmed'
            UNION ALL
            SELECT -1, o.client_id, o.amount FROM old_deposits o WHERE o.status = 'confirmed') r;
  END IF;
  IF signs IS NULL THEN
    RETURN NULL;
  END IF;
  INSERT INTO satmachine.lp_balances AS b (client_id, confirmed_deposits)
  SELECT client_id, delta
    FROM (SELECT u.client_id, sum(u.sign * u.amount) AS delta
            FROM unnest(signs, client_ids, amounts) AS u (sign, client_id, amount)
           GROUP BY u.client_id) per_client
   WHERE delta <> 0
   ORDER BY client_id
  ON CONFLICT (client_id) DO UPDATE
     SET confirmed_deposits = b.confirmed_deposits + EXCLUDED.confirmed_deposits, updated_at = now();
  RETURN NULL;
END $$;

-- TRUNCATE fires no row triggers: start the affected columns again from zero.
CREATE FUNCTION satmachine.lp_balances_on_truncate() RETURNS trigger
  LANGUAGE plpgsql AS $$
BEGIN
  IF TG_TABLE_NAME = 'dca_payments' THEN
    UPDATE satmachine.lp_balances
       SET spent_fiat = 0, pending_fiat = 0, total_sats = 0, pending_sats = 0, updated_at = now();
    DELETE FROM satmachine.lp_dca_daily;
  ELSE
    UPDATE satmachine.lp_balances SET confirmed_deposits = 0, updated_at = now();
  END IF;
  RETURN NULL;
END $$;

-- A new enrolment starts with its row (reads still LEFT JOIN it: zeros when absent).
CREATE FUNCTION satmachine.lp_balances_on_enrolment() RETURNS trigger
  LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO satmachine.lp_balances (client_id) SELECT n.id FROM new_clients n ORDER BY n.id
  ON CONFLICT (client_id) DO NOTHING;
  RETURN NULL;
END $$;
CREATE TRIGGER lp_balances_enrolment_insert AFTER INSERT ON satmachine.dca_clients
  REFERENCING NEW TABLE AS new_clients
  FOR EACH STATEMENT EXECUTE FUNCTION satmachine.lp_balances_on_enrolment();

-- No writer may slip between the backfill below and the triggers taking over.
LOCK TABLE satmachine.dca_clients, satmachine.dca_deposits, satmachine.dca_payments IN SHARE ROW EXCLUSIVE MODE;

CREATE TRIGGER lp_balances_legs_insert AFTER INSERT ON satmachine.dca_payments
  REFERENCING NEW TABLE AS new_legs
  FOR EACH STATEMENT EXECUTE FUNCTION satmachine.lp_balances_on_legs();
CREATE TRIGGER lp_balances_legs_update AFTER UPDATE ON satmachine.dca_payments
  REFERENCING OLD TABLE AS old_legs NEW TABLE AS new_legs
  FOR EACH STATEMENT EXECUTE FUNCTION satmachine.lp_balances_on_legs();
CREATE TRIGGER lp_balances_legs_delete AFTER DELETE ON satmachine.dca_payments
  REFERENCING OLD TABLE AS old_legs
  FOR EACH STATEMENT EXECUTE FUNCTION satmachine.lp_balances_on_legs();
CREATE TRIGGER lp_balances_legs_truncate AFTER TRUNCATE ON satmachine.dca_payments
  FOR EACH STATEMENT EXECUTE FUNCTION satmachine.lp_balances_on_truncate();

CREATE TRIGGER lp_balances_deposits_insert AFTER INSERT ON satmachine.dca_deposits
  REFERENCING NEW TABLE AS new_deposits
  FOR EACH STATEMENT EXECUTE FUNCTION satmachine.lp_balances_on_deposits();
CREATE TRIGGER lp_balances_deposits_update AFTER UPDATE ON satmachine.dca_deposits
  REFERENCING OLD TABLE AS old_deposits NEW TABLE AS new_deposits
  FOR EACH STATEMENT EXECUTE FUNCTION satmachine.lp_balances_on_deposits();
CREATE TRIGGER lp_balances_deposits_delete AFTER DELETE ON satmachine.dca_deposits
  REFERENCING OLD TABLE AS old_deposits
  FOR EACH STATEMENT EXECUTE FUNCTION satmachine.lp_balances_on_deposits();
CREATE TRIGGER lp_balances_deposits_truncate AFTER TRUNCATE ON satmachine.dca_deposits
  FOR EACH STATEMENT EXECUTE FUNCTION satmachine.lp_balances_on_truncate();

-- Every row again from the formula: the backfill below, and `satmachine reconcile-balances
-- --repair` (which first takes the same locks as this migration, so no writer interleaves).
CREATE FUNCTION satmachine.lp_balances_rebuild() RETURNS void
  LANGUAGE sql AS $$
  DELETE FROM satmachine.lp_dca_daily;
  DELETE FROM satmachine.lp_balances;
  INSERT INTO satmachine.lp_balances (client_id, confirmed_deposits, spent_fiat, pending_fiat, total_sats, pending_sats)
  SELECT c.id,
         COALESCE((SELECT sum(d.amount) FROM satmachine.dca_deposits d
                    WHERE d.client_id = c.id AND d.status = 'confirmed'), 0),
         COALESCE(p.spent_fiat, 0), COALESCE(p.pending_fiat, 0), COALESCE(p.total_sats, 0), COALESCE(p.pending_sats, 0)
    FROM satmachine.dca_clients c
    LEFT JOIN LATERAL (
      SELECT sum(amount_fiat) FILTER (WHERE status = 'completed') AS spent_fiat,
             sum(amount_fiat) FILTER (WHERE status <> 'completed') AS pending_fiat,
             sum(amount_sats) FILTER (WHERE status = 'completed') AS total_sats,
             sum(amount_sats) FILTER (WHERE status <> 'completed') AS pending_sats
        FROM satmachine.dca_payments
       WHERE client_id = c.id AND satmachine.lp_leg_holds(leg_type, status)
    ) p ON true;

  INSERT INTO satmachine.lp_dca_daily (client_id, day, held_fiat)
  SELECT client_id, (created_at AT TIME ZONE 'UTC')::date, sum(amount_fiat)
    FROM satmachine.dca_payments
   WHERE client_id IS NOT NULL AND leg_type = 'dca' AND satmachine.lp_leg_holds(leg_type, status)
   GROUP BY 1, 2;
$$;

-- Backfill: every enrolment gets its row, from the formula.
SELECT satmachine.lp_balances_rebuild();
