-- Whether the payment observer can read each registered LNbits wallet: an operator
-- sees a revoked or reset key in GET /api/v1/lnbits/wallets, not only in the logs.
ALTER TABLE satmachine.lnbits_wallets
  ADD COLUMN watched_at      timestamptz,
  ADD COLUMN watch_error     text,
  ADD COLUMN watch_error_at  timestamptz;
