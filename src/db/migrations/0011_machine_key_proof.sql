-- Machine keys cannot be squatted (docs/protocol.md §2.1). Several operators may
-- register the same machine public key; the machine's own signed events name their
-- operator (p tag) and the first one routed to a registration proves it.
--   unverified: registered, no event of the machine has proven it yet
--   proven:     an event signed by the key and addressed to this operator was recorded
--   unproven:   another operator's registration of the key was proven
ALTER TABLE satmachine.dca_machines
  ADD COLUMN key_state text NOT NULL DEFAULT 'unverified'
    CHECK (key_state IN ('unverified', 'proven', 'unproven')),
  ADD COLUMN key_proven_at timestamptz;

ALTER TABLE satmachine.dca_machines DROP CONSTRAINT dca_machines_machine_npub_key;
ALTER TABLE satmachine.dca_machines DROP CONSTRAINT dca_machines_machine_pubkey_hex_key;

-- one registration of a key per operator (routing by p tag picks exactly one row)
CREATE UNIQUE INDEX dca_machines_operator_pubkey_uq
  ON satmachine.dca_machines (machine_pubkey_hex, operator_user_id);
-- at most one proven registration per key
CREATE UNIQUE INDEX dca_machines_proven_pubkey_uq
  ON satmachine.dca_machines (machine_pubkey_hex) WHERE key_state = 'proven';

-- Until now a key had one registration. It is proven when the machine already
-- addressed its operator: a recorded settlement of its own event, fleet telemetry
-- or a cassette bootstrap (all signed by the key, p-tagged and encrypted to the
-- operator). Beacons name no operator and prove nothing.
UPDATE satmachine.dca_machines m
   SET key_state = 'proven', key_proven_at = now()
 WHERE EXISTS (SELECT 1 FROM satmachine.dca_settlements s
                WHERE s.machine_id = m.id AND s.wire_sats IS NOT NULL AND s.status <> 'rejected')
    OR EXISTS (SELECT 1 FROM satmachine.dca_telemetry t
                WHERE t.machine_id = m.id AND t.telemetry_event_id IS NOT NULL)
    OR EXISTS (SELECT 1 FROM satmachine.cassette_configs c
                WHERE c.machine_id = m.id AND c.state_event_id IS NOT NULL);
