-- Cash management (docs/operations.md "Cash management"): an operator's cash collection at a machine,
-- the bills counted per denomination. What the settlements since the previous
-- collection say should be there is computed when read (late settlements count).
CREATE TABLE satmachine.cash_collections (
  id                text PRIMARY KEY,
  machine_id        text NOT NULL REFERENCES satmachine.dca_machines (id) ON DELETE CASCADE,
  -- when the cash was taken out (the end of the period it closes)
  collected_at      timestamptz NOT NULL,
  note              text CHECK (length(note) <= 1000),
  created_by        text NOT NULL REFERENCES satmachine.users (id),
  created_at        timestamptz NOT NULL DEFAULT now(),
  -- periods never overlap: one collection per machine and instant
  UNIQUE (machine_id, collected_at)
);
CREATE INDEX cash_collections_machine_idx ON satmachine.cash_collections (machine_id, collected_at DESC);

-- bills counted per denomination (whole currency units, as the machines report them)
CREATE TABLE satmachine.cash_collection_bills (
  collection_id  text NOT NULL REFERENCES satmachine.cash_collections (id) ON DELETE CASCADE,
  denomination   integer NOT NULL CHECK (denomination > 0),
  count          integer NOT NULL CHECK (count >= 0),
  PRIMARY KEY (collection_id, denomination)
);

-- the reconciliation reads a machine's settlements by direction and time
CREATE INDEX dca_settlements_machine_type_idx ON satmachine.dca_settlements (machine_id, tx_type, created_at);
