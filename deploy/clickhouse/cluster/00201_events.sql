-- Cluster form of pkg/migrate/clickhouse/00201_events.sql: per shard a replicated local table
-- <name>_local, and a Distributed table <name> over them with the single-node name, so the sink,
-- the settler and the reports use the same names on one node and on a cluster.
-- Sharding keys keep the repeats of an event on one shard (ReplacingMergeTree collapses them only
-- within a shard): clicks and identities by device token (a device's clicks also stay beside its
-- device_clicks rows, see 00202), order events and lines by order id, commission facts by
-- commission id. deploy/check/clusterddl_test.go keeps columns, keys and views equal to the migrations.

CREATE TABLE IF NOT EXISTS ${DB}.clicks_local ON CLUSTER '${CLUSTER}' (
    click_id String,
    at DateTime('UTC'),
    device_token String,
    partner_id String,
    link_id String,
    link_kind String,
    target String,
    product_id String,
    category_id String,
    referer String,
    user_agent String,
    ip String,
    bot UInt8,
    inserted_at DateTime('UTC') DEFAULT now()
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/${DB}/clicks_local', '{replica}')
PARTITION BY toYYYYMM(at)
ORDER BY (partner_id, at, click_id);

CREATE TABLE IF NOT EXISTS ${DB}.clicks ON CLUSTER '${CLUSTER}' AS ${DB}.clicks_local
ENGINE = Distributed('${CLUSTER}', '${DB}', 'clicks_local', cityHash64(device_token));

CREATE TABLE IF NOT EXISTS ${DB}.identities_local ON CLUSTER '${CLUSTER}' (
    event_id String,
    at DateTime('UTC'),
    device_token String,
    customer_id String,
    has_email UInt8,
    inserted_at DateTime('UTC') DEFAULT now()
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/${DB}/identities_local', '{replica}')
PARTITION BY toYYYYMM(at)
ORDER BY (device_token, at, event_id);

CREATE TABLE IF NOT EXISTS ${DB}.identities ON CLUSTER '${CLUSTER}' AS ${DB}.identities_local
ENGINE = Distributed('${CLUSTER}', '${DB}', 'identities_local', cityHash64(device_token));

CREATE TABLE IF NOT EXISTS ${DB}.order_events_local ON CLUSTER '${CLUSTER}' (
    event_id String,
    type String,
    order_id String,
    at DateTime('UTC'),
    customer_id String,
    device_token String,
    currency String,
    lines UInt32,
    amount_minor Int64,
    shipping_fee_minor Int64,
    inserted_at DateTime('UTC') DEFAULT now()
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/${DB}/order_events_local', '{replica}')
PARTITION BY toYYYYMM(at)
ORDER BY (order_id, at, event_id);

CREATE TABLE IF NOT EXISTS ${DB}.order_events ON CLUSTER '${CLUSTER}' AS ${DB}.order_events_local
ENGINE = Distributed('${CLUSTER}', '${DB}', 'order_events_local', cityHash64(order_id));

CREATE TABLE IF NOT EXISTS ${DB}.order_lines_local ON CLUSTER '${CLUSTER}' (
    event_id String,
    type String,
    order_id String,
    at DateTime('UTC'),
    line_id String,
    product_id String,
    category_id String,
    quantity Int64,
    unit_price_minor Int64,
    discount_minor Int64,
    amount_minor Int64,
    currency String,
    inserted_at DateTime('UTC') DEFAULT now()
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/${DB}/order_lines_local', '{replica}')
PARTITION BY toYYYYMM(at)
ORDER BY (order_id, at, event_id, line_id);

CREATE TABLE IF NOT EXISTS ${DB}.order_lines ON CLUSTER '${CLUSTER}' AS ${DB}.order_lines_local
ENGINE = Distributed('${CLUSTER}', '${DB}', 'order_lines_local', cityHash64(order_id));

-- Commission facts from the settler (events.Commission): each is the state of
-- one line's commission after a change; the latest by (at, event_id) per
-- commission_id is current. See commissions_current in 00203.
CREATE TABLE IF NOT EXISTS ${DB}.commission_facts_local ON CLUSTER '${CLUSTER}' (
    event_id String,
    at DateTime('UTC'),
    commission_id String,
    order_id String,
    line_id String,
    partner_id String,
    currency String,
    amount_minor Int64,
    base_minor Int64,
    state String,
    inserted_at DateTime('UTC') DEFAULT now()
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/${DB}/commission_facts_local', '{replica}')
PARTITION BY toYYYYMM(at)
ORDER BY (partner_id, commission_id, at, event_id);

CREATE TABLE IF NOT EXISTS ${DB}.commission_facts ON CLUSTER '${CLUSTER}' AS ${DB}.commission_facts_local
ENGINE = Distributed('${CLUSTER}', '${DB}', 'commission_facts_local', cityHash64(commission_id));
