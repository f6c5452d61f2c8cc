-- What the ingest forwarded to a settlement workflow, per machine: the ATM event it
-- signed, or a payment seen on its wallet (docs/operations.md "Worklist"). The worklist joins
-- the sightings that have no settlement row of the same operator yet as `waiting`
-- rows, so a settlement shows from its first signal on, not only once the workflow
-- files a row (stuck threshold, or both signals in). Written by the ingest only
-- after the signal reached Temporal; the workflow never reads it.
CREATE TABLE satmachine.settlement_sightings (
  payment_hash    text NOT NULL CHECK (payment_hash ~ '^[0-9a-f]{64}$'),
  machine_id      text NOT NULL REFERENCES satmachine.dca_machines (id) ON DELETE CASCADE,
  -- 'atm_event': the machine signed a kind-21000 event; 'payment': its wallet saw the payment
  signal          text NOT NULL CHECK (signal IN ('atm_event', 'payment')),
  event_id        text,
  -- from the machine's own (decrypted, validated) event
  tx_type         text CHECK (tx_type IN ('cash_out', 'cash_in')),
  wire_sats       bigint CHECK (wire_sats >= 0),
  fiat_amount     numeric(18, 2) CHECK (fiat_amount >= 0),
  fiat_code       text,
  -- from the payment observation
  direction       text CHECK (direction IN ('incoming', 'outgoing')),
  amount_sats     bigint CHECK (amount_sats >= 0),
  first_seen_at   timestamptz NOT NULL DEFAULT now(),
  -- re-deliveries and ingest replicas converge on one row (the first one kept)
  PRIMARY KEY (payment_hash, machine_id, signal)
);
CREATE INDEX settlement_sightings_machine_idx
  ON satmachine.settlement_sightings (machine_id, first_seen_at DESC);
