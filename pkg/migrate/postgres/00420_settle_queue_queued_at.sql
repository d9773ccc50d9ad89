-- When an order entered the settle queue, for the settler's metric of how
-- long the oldest queued order has waited (aff_settler_queued_orders_oldest_seconds).
-- settle_queue.created_at is the order's first receipt (orders.created_at,
-- which the MaxWait rule counts from), also when a delivery, refund, cancel
-- or override re-queues an order settled long ago: measured from it, the
-- metric said days whenever an old order changed.
--
-- The queue trigger (00350) names its columns, so new rows take the default;
-- a change to an order still queued leaves queued_at as it was (ON CONFLICT
-- updates the listed columns only): the order has waited since then. A row
-- there now reads the migration's time. Adding a column whose default is
-- now() (stable) rewrites nothing; safe with the previous release running.

-- +goose Up
ALTER TABLE settle_queue ADD COLUMN queued_at timestamptz NOT NULL DEFAULT now();

-- +goose Down
ALTER TABLE settle_queue DROP COLUMN queued_at;
