-- Device-attribution lookup (pkg/attribution): the non-bot clicks that carry
-- a partner, ordered by device token so that a batch of lookups reads only the
-- granules of the asked devices. Fed by a materialized view on every insert
-- into clicks; a replayed click collapses on merge and is harmless to the
-- lookup anyway (the same click wins again).

CREATE TABLE IF NOT EXISTS ${DB}.device_clicks (
    device_token String,
    at DateTime('UTC'),
    click_id String,
    partner_id String,
    link_id String
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(at)
ORDER BY (device_token, at, click_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS ${DB}.device_clicks_mv TO ${DB}.device_clicks
AS SELECT device_token, at, click_id, partner_id, link_id
FROM ${DB}.clicks
WHERE bot = 0 AND partner_id != '' AND device_token != '';
