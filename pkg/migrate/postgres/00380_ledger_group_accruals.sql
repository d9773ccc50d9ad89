-- Group accruals: the settler accrues the commissions of an order (about
-- three lines) as one pending transfer of their total (ledger operation
-- accrue_group; its note records the split) instead of one transfer per
-- commission: one transfer and two postings per order instead of one
-- transfer and two postings per line. Each commission keeps its own
-- ledger_pending row (its own amount, posted and voided) under its own
-- reference, so approvals, voids and clawbacks stay per commission; its
-- resolutions point at the shared transfer (pending_id) and each commission
-- is resolved finally once.
--
-- The unique index that allowed one final resolution per pending transfer
-- therefore becomes one per (pending transfer, reference): a resolution's
-- reference is the commission, payout or store-credit request it resolves.
-- The pending transfers of payouts and store credit keep one final
-- resolution each, by a partial index over their resolving operations.
--
-- Runs with the previous release (deploy/OPERATIONS.md, upgrades): it only
-- relaxes an index. A previous release rolled back onto a ledger with group
-- accruals resolves their commissions correctly, but locks a group's
-- pending rows in no fixed order (two of its transactions resolving
-- commissions of one order can deadlock; Postgres aborts one and the ledger
-- retries it), and its Verify compares each commission's pending row with
-- the whole transfer, reporting a difference for every group. The index is
-- built without CONCURRENTLY, like the ledger's other migrations: writes to
-- ledger_transfers wait while it scans the table.
--
-- Down refuses, changing nothing, once any pending transfer has more than one
-- pending row (a group accrual): the old index could not hold the final
-- resolutions of its commissions. (00310's Down cannot run then either: its
-- unique accrual_transfer_key is shared by the commissions of an order.)

-- +goose Up
CREATE UNIQUE INDEX ledger_transfers_final_resolution_ref ON ledger_transfers (pending_id, reference) WHERE final;
CREATE UNIQUE INDEX ledger_transfers_final_resolution_request ON ledger_transfers (pending_id)
    WHERE final AND operation IN ('payout_paid', 'payout_failed', 'store_credit_approved', 'store_credit_rejected');
DROP INDEX ledger_transfers_final_resolution;

-- +goose Down
-- +goose StatementBegin
DO $$
DECLARE
    shared bigint;
BEGIN
    SELECT transfer_id INTO shared FROM ledger_pending GROUP BY transfer_id HAVING count(*) > 1 LIMIT 1;
    IF shared IS NOT NULL THEN
        RAISE EXCEPTION 'cannot go below 00380: pending transfer % is a group accrual (several commissions), which the index of 00100 cannot resolve one by one', shared;
    END IF;
END
$$;
-- +goose StatementEnd
CREATE UNIQUE INDEX ledger_transfers_final_resolution ON ledger_transfers (pending_id) WHERE final;
DROP INDEX ledger_transfers_final_resolution_request;
DROP INDEX ledger_transfers_final_resolution_ref;
