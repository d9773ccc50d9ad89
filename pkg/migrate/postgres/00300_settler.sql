-- Settler additions (00300-00399).

-- +goose Up

-- The commission's id in the ledger (ledger_pending.reference,
-- ledger_reserves.commission_id, "accrue:<ledger_ref>" ...). It is derived
-- from (order_id, line_id, attribution_version), not from the row id, so a
-- settlement pass that is interrupted and run again writes the very same
-- ledger transfers as a clean run. NULL for a zero commission, which has no
-- ledger transfer.
ALTER TABLE commissions ADD COLUMN ledger_ref text UNIQUE CHECK (length(ledger_ref) BETWEEN 1 AND 150);

-- The attribution pass reads orders in (placed_at, order_id) order.
CREATE INDEX orders_unsettled_key_idx ON orders (placed_at, order_id) WHERE settled_revision < revision;

-- +goose Down
DROP INDEX orders_unsettled_key_idx;
ALTER TABLE commissions DROP COLUMN ledger_ref;
