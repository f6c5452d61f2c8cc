-- Alerts (docs/alerts.md): per-operator rules, the alerts they open and resolve,
-- webhook endpoints and every delivery attempt.

-- One row per operator that changed a default (no row = the defaults below).
CREATE TABLE satmachine.alert_settings (
  operator_user_id              text PRIMARY KEY REFERENCES satmachine.users (id) ON DELETE CASCADE,
  settlement_alerts             boolean NOT NULL DEFAULT true,
  stuck_after_minutes           integer NOT NULL DEFAULT 30 CHECK (stuck_after_minutes BETWEEN 1 AND 10080),
  offline_after_minutes         integer DEFAULT 15 CHECK (offline_after_minutes BETWEEN 1 AND 10080),
  cassette_min_count            integer CHECK (cassette_min_count BETWEEN 0 AND 100000),
  -- NULL: the settlement's own tolerance max(1, floor(principal × 0.001))
  fee_mismatch_tolerance_sats   bigint CHECK (fee_mismatch_tolerance_sats >= 0),
  fee_mismatch_alerts           boolean NOT NULL DEFAULT true,
  wallet_min_sats               bigint CHECK (wallet_min_sats >= 0),
  lp_remaining_min              numeric(18, 2) CHECK (lp_remaining_min >= 0),
  unreadable_alerts             boolean NOT NULL DEFAULT true,
  -- where Nostr direct messages go (hex x-only key; the API takes npub or hex)
  nostr_recipient_pubkey        text CHECK (nostr_recipient_pubkey ~ '^[0-9a-f]{64}$'),
  email_to                      text CHECK (length(email_to) <= 254),
  updated_at                    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX alert_settings_recipient_idx ON satmachine.alert_settings (nostr_recipient_pubkey)
  WHERE nostr_recipient_pubkey IS NOT NULL;

-- An LP's own threshold for "remaining balance below", over the operator's default.
CREATE TABLE satmachine.lp_alert_settings (
  user_id           text PRIMARY KEY REFERENCES satmachine.users (id) ON DELETE CASCADE,
  remaining_min     numeric(18, 2) CHECK (remaining_min >= 0),
  updated_at        timestamptz NOT NULL DEFAULT now()
);

-- Each alert opens once and resolves once. alert_key names rule and subject
-- (e.g. machine_offline:<machine id>); at most one open alert per operator and key.
CREATE TABLE satmachine.alerts (
  id                 text PRIMARY KEY,
  operator_user_id   text NOT NULL REFERENCES satmachine.users (id) ON DELETE CASCADE,
  rule               text NOT NULL,
  alert_key          text NOT NULL,
  subject_type       text NOT NULL,
  subject_id         text NOT NULL,
  severity           text NOT NULL DEFAULT 'warning' CHECK (severity IN ('warning', 'critical')),
  summary            text NOT NULL,
  details            jsonb NOT NULL DEFAULT '{}',
  status             text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved')),
  -- consecutive evaluations that found the condition gone (hysteresis: resolves at 2)
  clear_streak       integer NOT NULL DEFAULT 0,
  workflow_started   boolean NOT NULL DEFAULT false,
  opened_at          timestamptz NOT NULL DEFAULT now(),
  last_seen_at       timestamptz NOT NULL DEFAULT now(),
  resolved_at        timestamptz
);
CREATE UNIQUE INDEX alerts_open_key_uq ON satmachine.alerts (operator_user_id, alert_key) WHERE status = 'open';
CREATE INDEX alerts_operator_idx ON satmachine.alerts (operator_user_id, opened_at DESC, id DESC);

CREATE TABLE satmachine.alert_webhooks (
  id                 text PRIMARY KEY,
  operator_user_id   text NOT NULL REFERENCES satmachine.users (id) ON DELETE CASCADE,
  url                text NOT NULL CHECK (length(url) <= 2000),
  -- the HMAC key, sealed with SATMACHINE_SECRET_KEY (alert_webhooks:secret_enc:<id>)
  secret_enc         text NOT NULL,
  description        text,
  enabled            boolean NOT NULL DEFAULT true,
  created_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX alert_webhooks_operator_idx ON satmachine.alert_webhooks (operator_user_id, created_at);

-- Every delivery attempt on every channel (the delivery log).
CREATE TABLE satmachine.alert_deliveries (
  id                 text PRIMARY KEY,
  alert_id           text NOT NULL REFERENCES satmachine.alerts (id) ON DELETE CASCADE,
  operator_user_id   text NOT NULL REFERENCES satmachine.users (id) ON DELETE CASCADE,
  channel            text NOT NULL CHECK (channel IN ('webhook', 'nostr', 'email')),
  -- the webhook's id; the recipient for nostr and email
  endpoint           text NOT NULL,
  event              text NOT NULL CHECK (event IN ('open', 'resolve')),
  attempt            integer NOT NULL,
  outcome            text NOT NULL CHECK (outcome IN ('delivered', 'failed', 'refused')),
  http_status        integer,
  error              text,
  created_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX alert_deliveries_alert_idx ON satmachine.alert_deliveries (alert_id, created_at);
CREATE INDEX alert_deliveries_endpoint_idx ON satmachine.alert_deliveries (endpoint, created_at DESC);
-- one success per alert, event, channel and endpoint
CREATE UNIQUE INDEX alert_deliveries_once_uq ON satmachine.alert_deliveries (alert_id, event, channel, endpoint)
  WHERE outcome = 'delivered';
