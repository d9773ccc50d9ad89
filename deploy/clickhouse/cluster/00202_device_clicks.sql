-- Cluster form of pkg/migrate/clickhouse/00202_device_clicks.sql. The view runs on every replica
-- that receives a part of clicks_local and writes to the local device_clicks_local, so a device's
-- clicks and its lookup rows share a shard. Attribution lookups (pkg/attribution) read the
-- Distributed device_clicks; their external table of device tokens is sent to every shard.

CREATE TABLE IF NOT EXISTS ${DB}.device_clicks_local ON CLUSTER '${CLUSTER}' (
    device_token String,
    at DateTime('UTC'),
    click_id String,
    partner_id String,
    link_id String
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/${DB}/device_clicks_local', '{replica}')
PARTITION BY toYYYYMM(at)
ORDER BY (device_token, at, click_id);

CREATE TABLE IF NOT EXISTS ${DB}.device_clicks ON CLUSTER '${CLUSTER}' AS ${DB}.device_clicks_local
ENGINE = Distributed('${CLUSTER}', '${DB}', 'device_clicks_local', cityHash64(device_token));

CREATE MATERIALIZED VIEW IF NOT EXISTS ${DB}.device_clicks_mv ON CLUSTER '${CLUSTER}' TO ${DB}.device_clicks_local
AS SELECT device_token, at, click_id, partner_id, link_id
FROM ${DB}.clicks_local
WHERE bot = 0 AND partner_id != '' AND device_token != '';
