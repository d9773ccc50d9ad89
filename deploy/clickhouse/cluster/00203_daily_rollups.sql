-- Cluster form of pkg/migrate/clickhouse/00203_daily_rollups.sql. Each shard rolls up its own
-- rows; the states (uniqExact, groupUniqArray, argMax, min) merge exactly across shards, so the
-- reports read the Distributed tables with the same -Merge functions as on one node. Nothing
-- inserts into these Distributed tables directly: their sharding key is only formal.

CREATE TABLE IF NOT EXISTS ${DB}.daily_clicks_local ON CLUSTER '${CLUSTER}' (
    day Date,
    partner_id String,
    link_id String,
    product_id String,
    clicks AggregateFunction(uniqExactIf, String, UInt8),
    bot_clicks AggregateFunction(uniqExactIf, String, UInt8),
    devices AggregateFunction(uniqExactIf, String, UInt8)
) ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/${DB}/daily_clicks_local', '{replica}')
PARTITION BY toYYYYMM(day)
ORDER BY (day, partner_id, link_id, product_id);

CREATE TABLE IF NOT EXISTS ${DB}.daily_clicks ON CLUSTER '${CLUSTER}' AS ${DB}.daily_clicks_local
ENGINE = Distributed('${CLUSTER}', '${DB}', 'daily_clicks_local', rand());

CREATE MATERIALIZED VIEW IF NOT EXISTS ${DB}.daily_clicks_mv ON CLUSTER '${CLUSTER}' TO ${DB}.daily_clicks_local
AS SELECT
    toDate(at) AS day,
    partner_id,
    link_id,
    product_id,
    uniqExactIfState(click_id, bot = 0) AS clicks,
    uniqExactIfState(click_id, bot != 0) AS bot_clicks,
    uniqExactIfState(device_token, bot = 0) AS devices
FROM ${DB}.clicks_local
GROUP BY day, partner_id, link_id, product_id;

-- Orders per product and day, from the shop's order events (all orders,
-- attributed or not). revenue: base (unit price x quantity - discount) of
-- placed lines; refunded: base of refunded lines (amount-only refunds are in
-- order_events.amount_minor).
CREATE TABLE IF NOT EXISTS ${DB}.daily_orders_local ON CLUSTER '${CLUSTER}' (
    day Date,
    product_id String,
    currency String,
    orders AggregateFunction(uniqExactIf, String, UInt8),
    units AggregateFunction(groupUniqArrayIf, Tuple(String, Int64), UInt8),
    revenue AggregateFunction(groupUniqArrayIf, Tuple(String, Int64), UInt8),
    refunded AggregateFunction(groupUniqArrayIf, Tuple(String, Int64), UInt8)
) ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/${DB}/daily_orders_local', '{replica}')
PARTITION BY toYYYYMM(day)
ORDER BY (day, product_id, currency);

CREATE TABLE IF NOT EXISTS ${DB}.daily_orders ON CLUSTER '${CLUSTER}' AS ${DB}.daily_orders_local
ENGINE = Distributed('${CLUSTER}', '${DB}', 'daily_orders_local', rand());

CREATE MATERIALIZED VIEW IF NOT EXISTS ${DB}.daily_orders_mv ON CLUSTER '${CLUSTER}' TO ${DB}.daily_orders_local
AS SELECT
    toDate(at) AS day,
    product_id,
    currency,
    uniqExactIfState(order_id, type = 'order.placed') AS orders,
    groupUniqArrayIfState((concat(event_id, '/', line_id), quantity), type = 'order.placed') AS units,
    groupUniqArrayIfState((concat(event_id, '/', line_id), amount_minor), type = 'order.placed') AS revenue,
    groupUniqArrayIfState((concat(event_id, '/', line_id), amount_minor), type = 'order.refunded') AS refunded
FROM ${DB}.order_lines_local
GROUP BY day, product_id, currency;

-- The current state of every commission, per partner: the latest fact by
-- (at, event_id) wins; first_at (the day the commission appeared) dates it
-- in daily reports. Read with argMaxMerge/minMerge GROUP BY commission_id.
CREATE TABLE IF NOT EXISTS ${DB}.commissions_current_local ON CLUSTER '${CLUSTER}' (
    partner_id String,
    commission_id String,
    first_at AggregateFunction(min, DateTime('UTC')),
    order_id AggregateFunction(argMax, String, Tuple(DateTime('UTC'), String)),
    line_id AggregateFunction(argMax, String, Tuple(DateTime('UTC'), String)),
    currency AggregateFunction(argMax, String, Tuple(DateTime('UTC'), String)),
    state AggregateFunction(argMax, String, Tuple(DateTime('UTC'), String)),
    amount_minor AggregateFunction(argMax, Int64, Tuple(DateTime('UTC'), String)),
    base_minor AggregateFunction(argMax, Int64, Tuple(DateTime('UTC'), String))
) ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/${DB}/commissions_current_local', '{replica}')
ORDER BY (partner_id, commission_id);

CREATE TABLE IF NOT EXISTS ${DB}.commissions_current ON CLUSTER '${CLUSTER}' AS ${DB}.commissions_current_local
ENGINE = Distributed('${CLUSTER}', '${DB}', 'commissions_current_local', rand());

CREATE MATERIALIZED VIEW IF NOT EXISTS ${DB}.commissions_current_mv ON CLUSTER '${CLUSTER}' TO ${DB}.commissions_current_local
AS SELECT
    partner_id,
    commission_id,
    minState(at) AS first_at,
    argMaxState(order_id, (at, event_id)) AS order_id,
    argMaxState(line_id, (at, event_id)) AS line_id,
    argMaxState(currency, (at, event_id)) AS currency,
    argMaxState(state, (at, event_id)) AS state,
    argMaxState(amount_minor, (at, event_id)) AS amount_minor,
    argMaxState(base_minor, (at, event_id)) AS base_minor
FROM ${DB}.commission_facts_local
GROUP BY partner_id, commission_id;
