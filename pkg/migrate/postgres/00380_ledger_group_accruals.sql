-- Group accruals: the settler accrues the commissions of an order (about
-- three lines) as one pending transfer of their total (ledger operation
-- accrue_group) instead of one transfer per commission: two postings and one
-- transfer per order instead of two postings and one transfer per line. Each
-- commission keeps its own ledger_pending row (its own amount, posted and
-- voided) under its own reference, so approvals, voids and clawbacks stay
-- per commission; its resolutions point at the shared transfer (pending_id)
-- and each commission is resolved finally once.
--
-- The unique index that allowed one final resolution per pending transfer
-- therefore becomes one per (pending transfer, reference): a resolution's
-- reference is the commission, payout or store-credit request it resolves,
-- and the pending transfers of payouts and store credit still have one
-- reference each, so for them nothing changes.
--
-- Runs with the previous release (deploy/OPERATIONS.md, upgrades): it only
-- relaxes an index. A previous release rolled back onto a ledger with group
-- accruals resolves their commissions correctly, but its Verify compares each
-- commission's pending row with its whole transfer and reports a difference
-- for every group transfer; this release's Verify sums a transfer's pending
-- rows. Down refuses (and changes nothing) once some pending transfer has
-- more than one final resolution, which the old index cannot hold.

-- +goose Up
CREATE UNIQUE INDEX ledger_transfers_final_resolution_ref ON ledger_transfers (pending_id, reference) WHERE final;
DROP INDEX ledger_transfers_final_resolution;

-- +goose Down
-- +goose StatementBegin
DO $$
DECLARE
    shared bigint;
BEGIN
    SELECT pending_id INTO shared FROM ledger_transfers WHERE final
    GROUP BY pending_id HAVING count(*) > 1 LIMIT 1;
    IF shared IS NOT NULL THEN
        RAISE EXCEPTION 'cannot go below 00380: pending transfer % has more than one final resolution (a group accrual''s commissions were resolved one by one)', shared;
    END IF;
END
$$;
-- +goose StatementEnd
CREATE UNIQUE INDEX ledger_transfers_final_resolution ON ledger_transfers (pending_id) WHERE final;
DROP INDEX ledger_transfers_final_resolution_ref;
