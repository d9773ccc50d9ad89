-- Base tables: one row per event (order lines: one row per line of an event).
-- ReplacingMergeTree keyed by the event id, so a batch the sink replays after a
-- crash collapses into the original rows on merge. Ad-hoc queries over these
-- tables dedupe with FINAL or GROUP BY the id; the reports in
-- deploy/clickhouse/reports read the replay-safe rollups of 00203 instead.
-- Times are DateTime('UTC') (seconds): no DateTime64 on 18.16.

CREATE TABLE IF NOT EXISTS ${DB}.clicks (
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
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(at)
ORDER BY (partner_id, at, click_id);

CREATE TABLE IF NOT EXISTS ${DB}.identities (
    event_id String,
    at DateTime('UTC'),
    device_token String,
    customer_id String,
    has_email UInt8,
    inserted_at DateTime('UTC') DEFAULT now()
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(at)
ORDER BY (device_token, at, event_id);

CREATE TABLE IF NOT EXISTS ${DB}.order_events (
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
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(at)
ORDER BY (order_id, at, event_id);

CREATE TABLE IF NOT EXISTS ${DB}.order_lines (
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
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(at)
ORDER BY (order_id, at, event_id, line_id);

-- Commission facts from the settler (events.Commission): each is the state of
-- one line's commission after a change; the latest by (at, event_id) per
-- commission_id is current. See commissions_current in 00203.
CREATE TABLE IF NOT EXISTS ${DB}.commission_facts (
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
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(at)
ORDER BY (partner_id, commission_id, at, event_id);
