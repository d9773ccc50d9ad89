-- The outbox's payload is compressed with LZ4 rather than pglz. Since 00320 a
-- settlement batch's commission facts share one outbox row (about 500 kB of
-- JSON for 500 orders), which Postgres compresses when it moves the value to
-- TOAST. With pglz that compression was about 2.5 % of the CPU samples of a
-- settlement pass (perf, 100k orders). Inserting 100 such rows (515 kB of
-- JSON, 1500 facts each) took 1.48-1.61 s with pglz and 0.99-1.09 s with LZ4
-- (psql, three runs each), for 4 % more bytes. Rows written before the change
-- keep pglz until rewritten; Postgres reads both.
--
-- Postgres 14+ built without LZ4 (not the case for the Debian and PGDG
-- packages) refuses the method: the migration then keeps pglz instead of
-- failing.

-- +goose Up
-- +goose StatementBegin
DO $$
BEGIN
    ALTER TABLE outbox ALTER COLUMN payload SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'outbox.payload keeps pglz: this Postgres is built without LZ4';
END
$$;
-- +goose StatementEnd

-- +goose Down
ALTER TABLE outbox ALTER COLUMN payload SET COMPRESSION DEFAULT;
