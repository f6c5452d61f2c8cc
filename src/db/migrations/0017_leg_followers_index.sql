-- The legs that follow another (an autoforward after its dca leg), found by their
-- parent: a page of a large fan-out reads its followers by index (pendingLegsInRange)
-- instead of scanning every leg of the settlement.
CREATE INDEX IF NOT EXISTS dca_payments_parent_idx ON satmachine.dca_payments (parent_leg_id)
  WHERE parent_leg_id IS NOT NULL;
