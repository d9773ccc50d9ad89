-- Two ledger indexes no query uses, dropped from the settlement hot path.
-- A settlement pass writes three transfers and six postings per order
-- (1M orders: 3M and 6M rows), and every index costs an entry per row:
--   ledger_transfers_partner (partner_id, id): a partner's money is read
--     through its accounts (ledger_postings_account, then the transfer by
--     its primary key), never by scanning transfers by partner;
--   ledger_postings_transfer (transfer_id): Verify joins all postings to
--     all transfers (a hash join over both tables), and nothing looks up
--     one transfer's postings. To read them by hand on a large ledger, go
--     through the accounts the transfer touched:
--       SELECT * FROM ledger_postings WHERE account_id = ANY(…) AND transfer_id = …;
-- Measured: 100k-order settlement passes, three pairs against the same code
-- with the indexes: Postgres CPU per unit of settler CPU (the same Go work,
-- so a yardstick for the machine's speed of the moment) 3.02-3.11 against
-- 3.20-3.30, about 6 % less Postgres CPU (settler/README.md).

-- +goose Up
DROP INDEX ledger_transfers_partner;
DROP INDEX ledger_postings_transfer;

-- +goose Down
CREATE INDEX ledger_postings_transfer ON ledger_postings (transfer_id);
CREATE INDEX ledger_transfers_partner ON ledger_transfers (partner_id, id);
