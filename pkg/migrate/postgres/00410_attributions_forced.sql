-- The dashboard lists the orders the settler decided after its maximum wait
-- without the clicks watermark (attributions.watermark_forced), for an admin
-- to review: a click that reached ClickHouse later was not seen. They are
-- few; a partial index finds them without reading every attribution.
--
-- Additive, safe with the previous release running. Built in the migration's
-- transaction (one read of attributions, holding off the settler's writes to
-- it meanwhile: seconds for millions of orders).

-- +goose Up
CREATE INDEX attributions_forced_idx ON attributions (order_id) WHERE watermark_forced AND superseded_at IS NULL;

-- +goose Down
DROP INDEX attributions_forced_idx;
