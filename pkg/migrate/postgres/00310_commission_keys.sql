-- Settler: one unique index where there were three. ledger_ref and
-- accrual_transfer_key ("accrue:" || ledger_ref) are both derived from
-- (order_id, line_id, attribution_version), and each had its own unique
-- index besides UNIQUE (order_id, line_id, partner_id, attribution_version).
-- One unique index on the triple guards all of them (and, without
-- partner_id, also refuses a second partner's commission on the same line
-- of the same decision). Nothing looks commissions up by either key. Two
-- fewer text index entries per commission: the settlement pass writes one
-- commission per order line.

-- +goose Up
ALTER TABLE commissions
    DROP CONSTRAINT commissions_ledger_ref_key,
    DROP CONSTRAINT commissions_accrual_transfer_key_key,
    DROP CONSTRAINT commissions_order_id_line_id_partner_id_attribution_version_key,
    ADD CONSTRAINT commissions_line_version_key UNIQUE (order_id, line_id, attribution_version);

-- +goose Down
ALTER TABLE commissions
    DROP CONSTRAINT commissions_line_version_key,
    ADD CONSTRAINT commissions_order_id_line_id_partner_id_attribution_version_key UNIQUE (order_id, line_id, partner_id, attribution_version),
    ADD CONSTRAINT commissions_accrual_transfer_key_key UNIQUE (accrual_transfer_key),
    ADD CONSTRAINT commissions_ledger_ref_key UNIQUE (ledger_ref);
