-- +goose Up
-- What each tracker (tracker serve) holds in its disk spool: oldest_at is the
-- time its oldest spooled segment was started (NULL when the spool is
-- empty), refreshed every second or so, updated_at when the tracker looked.
-- The sink keeps every watermark below COALESCE(oldest_at, updated_at) of
-- every row (minus its -watermark-delay): a tracker may have spooled since
-- its last report, so the settler never decides an order while a click or
-- event for it waits in a spool. A tracker deletes its row on a clean stop
-- with nothing spooled; the row of one that died or was retired for good
-- must be deleted by an operator (the sink logs which row holds it back).
CREATE TABLE tracker_spools (
    tracker_id text PRIMARY KEY CHECK (length(tracker_id) BETWEEN 1 AND 300),
    oldest_at  timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE tracker_spools;
