-- +goose Up
-- What each tracker (tracker serve) holds in its disk spool: oldest_at is the
-- time its oldest spooled segment was started (NULL when the spool is
-- empty), refreshed every second or so. The sink keeps every watermark
-- below the oldest spooled time (minus its -watermark-delay), so the settler
-- never decides an order while a click or event for it waits in a spool.
-- A tracker retired with its spool lost must have its row deleted.
CREATE TABLE tracker_spools (
    tracker_id text PRIMARY KEY CHECK (length(tracker_id) BETWEEN 1 AND 300),
    oldest_at  timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE tracker_spools;
