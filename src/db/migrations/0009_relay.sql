-- The embedded relay streams stored results page by page, newest first with ties
-- broken by the lowest id (NIP-01 order), each page starting after the last
-- (created_at, id) sent. These indexes give that order without sorting every match.
DROP INDEX IF EXISTS nostr_relay.events_kind_created_idx;
CREATE INDEX events_kind_created_idx ON nostr_relay.events (kind, created_at DESC, id);
CREATE INDEX events_created_idx ON nostr_relay.events (created_at DESC, id);
