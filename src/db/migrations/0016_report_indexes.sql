-- Reports and exports (docs/reports.md) read settlements and legs by date range in
-- (created_at, id) order, a keyset batch at a time: these indexes keep every batch an
-- index range scan, whatever the size of the range.
CREATE INDEX IF NOT EXISTS dca_settlements_created_idx ON satmachine.dca_settlements (created_at, id);
CREATE INDEX IF NOT EXISTS dca_settlements_machine_created_idx
  ON satmachine.dca_settlements (machine_id, created_at, id);
CREATE INDEX IF NOT EXISTS dca_payments_created_idx ON satmachine.dca_payments (created_at, id);
CREATE INDEX IF NOT EXISTS dca_payments_operator_created_idx
  ON satmachine.dca_payments (operator_user_id, created_at, id);
-- deposits of an enrolment by when they were confirmed (LP statements)
CREATE INDEX IF NOT EXISTS dca_deposits_client_confirmed_idx
  ON satmachine.dca_deposits (client_id, confirmed_at) WHERE status = 'confirmed';
