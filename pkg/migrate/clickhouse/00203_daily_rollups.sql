-- Rollups for reports, replay-safe by construction. A materialized view sees
-- every insert, including a batch the sink replays after a crash, and
-- ReplacingMergeTree dedupes only the base table, so a rollup of sums would
-- count a replay twice. These rollups keep idempotent states instead:
--   counts:  uniqExact states of event or click ids (a repeat adds nothing);
--   amounts: groupUniqArray states of (line key, amount) pairs, summed on
--            read with arraySum(x -> tupleElement(x, 2), groupUniqArrayMerge(col));
--   latest:  argMax states by (at, event_id) (a repeat is the same maximum).
-- States merge across keys exactly, so daily_clicks, keyed by
-- (day, partner_id, link_id, product_id), answers per partner, per link and
-- per product, and unique devices stay exact across links.

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

-- Orders per product and day, from the shop's order events (all orders,
-- attributed or not). revenue: base (unit price x quantity - discount) of
-- placed lines; refunded: base of refunded lines (amount-only refunds are in
-- order_events.amount_minor).
CREATE TABLE IF NOT EXISTS ${DB}.daily_orders (
    day Date,
    product_id String,
    currency String,
    orders AggregateFunction(uniqExactIf, String, UInt8),
    units AggregateFunction(groupUniqArrayIf, Tuple(String, Int64), UInt8),
    revenue AggregateFunction(groupUniqArrayIf, Tuple(String, Int64), UInt8),
    refunded AggregateFunction(groupUniqArrayIf, Tuple(String, Int64), UInt8)
) ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (day, product_id, currency);

CREATE MATERIALIZED VIEW IF NOT EXISTS ${DB}.daily_orders_mv TO ${DB}.daily_orders
AS SELECT
    toDate(at) AS day,
    product_id,
    currency,
    uniqExactIfState(order_id, type = 'order.placed') AS orders,
    groupUniqArrayIfState((concat(event_id, '/', line_id), quantity), type = 'order.placed') AS units,
    groupUniqArrayIfState((concat(event_id, '/', line_id), amount_minor), type = 'order.placed') AS revenue,
    groupUniqArrayIfState((concat(event_id, '/', line_id), amount_minor), type = 'order.refunded') AS refunded
FROM ${DB}.order_lines
GROUP BY day, product_id, currency;

-- The current state of every commission, per partner: the latest fact by
-- (at, event_id) wins; first_at (the day the commission appeared) dates it
-- in daily reports. Read with argMaxMerge/minMerge GROUP BY commission_id.
CREATE TABLE IF NOT EXISTS ${DB}.commissions_current (
    partner_id String,
    commission_id String,
    first_at AggregateFunction(min, DateTime('UTC')),
    order_id AggregateFunction(argMax, String, Tuple(DateTime('UTC'), String)),
    line_id AggregateFunction(argMax, String, Tuple(DateTime('UTC'), String)),
    currency AggregateFunction(argMax, String, Tuple(DateTime('UTC'), String)),
    state AggregateFunction(argMax, String, Tuple(DateTime('UTC'), String)),
    amount_minor AggregateFunction(argMax, Int64, Tuple(DateTime('UTC'), String)),
    base_minor AggregateFunction(argMax, Int64, Tuple(DateTime('UTC'), String))
) ENGINE = AggregatingMergeTree
ORDER BY (partner_id, commission_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS ${DB}.commissions_current_mv TO ${DB}.commissions_current
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
FROM ${DB}.commission_facts
GROUP BY partner_id, commission_id;
