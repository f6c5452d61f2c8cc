-- Storage of the embedded Nostr relay (`satmachine relay`, part of `satmachine start`).
-- A production deployment points NOSTR_RELAYS at real relays and never uses this.
CREATE SCHEMA IF NOT EXISTS nostr_relay;

CREATE TABLE nostr_relay.events (
  id          text PRIMARY KEY,
  pubkey      text NOT NULL,
  kind        integer NOT NULL,
  created_at  bigint NOT NULL,
  tags        jsonb NOT NULL,
  content     text NOT NULL,
  sig         text NOT NULL,
  -- the d tag of a parameterised replaceable event ('' for others)
  d_tag       text NOT NULL DEFAULT '',
  received_at timestamptz NOT NULL DEFAULT now(),
  -- ephemeral events kept for catch-up (kind 21000) expire; NULL = kept
  expires_at  timestamptz
);
CREATE INDEX events_kind_created_idx ON nostr_relay.events (kind, created_at DESC);
CREATE INDEX events_pubkey_idx ON nostr_relay.events (pubkey, kind, created_at DESC);
CREATE INDEX events_expires_idx ON nostr_relay.events (expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX events_replaceable_idx ON nostr_relay.events (pubkey, kind, d_tag);

CREATE TABLE nostr_relay.event_tags (
  event_id  text NOT NULL REFERENCES nostr_relay.events (id) ON DELETE CASCADE,
  name      text NOT NULL,
  value     text NOT NULL
);
CREATE INDEX event_tags_lookup_idx ON nostr_relay.event_tags (name, value, event_id);
CREATE INDEX event_tags_event_idx ON nostr_relay.event_tags (event_id);
