-- Daily rollups for reports, replay-safe by construction: a sum over a
-- replayed batch would count it twice (a materialized view sees every insert,
-- and ReplacingMergeTree dedupes only the base table), so the rollups keep
-- exact sets instead of sums.
--   counts:  uniqExact states of the event or click ids (a repeat adds nothing)
--   amounts: groupUniqArray states of (event_id, amount) pairs, summed on read
--            with arraySum(x -> tupleElement(x, 2), groupUniqArrayMerge(col)).
-- States merge across keys exactly, so one rollup keyed by
-- (day, partner_id, link_id, product_id) answers per partner, per link and per
-- product (unique devices stay exact across links). Amount sets hold one pair
-- per commission event: cheap at order volume; clicks only keep id hashes.

CREATE TABLE IF NOT EXISTS ${DB}.daily_clicks (
    day Date,
    partner_id String,
    link_id String,
    product_id String,
    clicks AggregateFunction(uniqExactIf, String, UInt8),
    bot_clicks AggregateFunction(uniqExactIf, String, UInt8),
    devices AggregateFunction(uniqExactIf, String, UInt8)
) ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (day, partner_id, link_id, product_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS ${DB}.daily_clicks_mv TO ${DB}.daily_clicks
AS SELECT
    toDate(at) AS day,
    partner_id,
    link_id,
    product_id,
    uniqExactIfState(click_id, bot = 0) AS clicks,
    uniqExactIfState(click_id, bot != 0) AS bot_clicks,
    uniqExactIfState(device_token, bot = 0) AS devices
FROM ${DB}.clicks
GROUP BY day, partner_id, link_id, product_id;

CREATE TABLE IF NOT EXISTS ${DB}.daily_sales (
    day Date,
    partner_id String,
    product_id String,
    currency String,
    orders AggregateFunction(uniqExactIf, String, UInt8),
    refunded_orders AggregateFunction(uniqExactIf, String, UInt8),
    revenue AggregateFunction(groupUniqArrayIf, Tuple(String, Int64), UInt8),
    commission AggregateFunction(groupUniqArray, Tuple(String, Int64)),
    voided AggregateFunction(groupUniqArrayIf, Tuple(String, Int64), UInt8),
    clawed_back AggregateFunction(groupUniqArrayIf, Tuple(String, Int64), UInt8)
) ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (day, partner_id, product_id, currency);

CREATE MATERIALIZED VIEW IF NOT EXISTS ${DB}.daily_sales_mv TO ${DB}.daily_sales
AS SELECT
    toDate(at) AS day,
    partner_id,
    product_id,
    currency,
    uniqExactIfState(order_id, kind = 'created') AS orders,
    uniqExactIfState(order_id, kind IN ('voided', 'clawed_back')) AS refunded_orders,
    groupUniqArrayIfState((event_id, base_minor), kind = 'created') AS revenue,
    groupUniqArrayState((event_id, multiIf(kind = 'created', amount_minor, kind IN ('voided', 'clawed_back'), -amount_minor, toInt64(0)))) AS commission,
    groupUniqArrayIfState((event_id, amount_minor), kind = 'voided') AS voided,
    groupUniqArrayIfState((event_id, amount_minor), kind = 'clawed_back') AS clawed_back
FROM ${DB}.commission_facts
GROUP BY day, partner_id, product_id, currency;
