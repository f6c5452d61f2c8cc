-- When a settlement started (again) to wait for its signals. NULL = since created_at.
-- An operator retry of a settlement force-reset while it waited restarts the wait:
-- the worklist counts "stuck pending" from here, as the workflow's stuck timer does.
ALTER TABLE satmachine.dca_settlements ADD COLUMN waiting_since timestamptz;
