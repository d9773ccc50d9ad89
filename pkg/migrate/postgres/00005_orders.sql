-- Foundation schema, part 5: the ingest inbox, orders, their lines, the raw
-- order events and admin order overrides.

-- +goose Up

-- Exactly-once ingest: the consumer inserts the event id here in the same
-- transaction as the event's effects, and skips the event when the insert
-- conflicts. topic is the short name (orders, identities), not the prefixed
-- Kafka topic, so a prefix change does not reopen old ids.
CREATE TABLE inbox (
    topic           text NOT NULL CHECK (topic ~ '^[a-z_]{1,100}$'),
    event_id        text NOT NULL CHECK (length(event_id) BETWEEN 1 AND 200),
    -- SHA-256 of the message body: a repeat with another body goes to dlq.
    payload_sha256  bytea NOT NULL CHECK (length(payload_sha256) = 32),
    kafka_partition integer NOT NULL CHECK (kafka_partition >= 0),
    kafka_offset    bigint NOT NULL CHECK (kafka_offset >= 0),
    received_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, event_id)
);

CREATE TABLE orders (
    order_id           text PRIMARY KEY CHECK (length(order_id) BETWEEN 1 AND 200),
    customer_id        text CHECK (length(customer_id) BETWEEN 1 AND 200),
    device_token       text CHECK (length(device_token) BETWEEN 1 AND 200),
    currency           char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    placed_at          timestamptz NOT NULL,
    -- A summary of the events applied so far; delivered_at and the lines'
    -- refunded columns carry the detail (a delivered order may be refunded).
    status             text NOT NULL DEFAULT 'placed'
                       CHECK (status IN ('placed', 'cancelled', 'refunded', 'partially_refunded', 'delivered')),
    delivered_at       timestamptz,
    cancelled_at       timestamptz,
    shipping_fee_minor bigint NOT NULL DEFAULT 0 CHECK (shipping_fee_minor >= 0),
    -- A sales record created by the admin (its partner is an order override).
    manual             boolean NOT NULL DEFAULT false,
    created_by         bigint REFERENCES users (id),
    -- Settlement queue without a queue table: every change to the order
    -- (event applied, override) increments revision; a settlement pass
    -- handles orders whose settled_revision lags and then catches it up.
    revision           bigint NOT NULL DEFAULT 1 CHECK (revision > 0),
    settled_revision   bigint NOT NULL DEFAULT 0,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CHECK (settled_revision BETWEEN 0 AND revision),
    CHECK (status <> 'cancelled' OR cancelled_at IS NOT NULL),
    CHECK (status <> 'delivered' OR delivered_at IS NOT NULL)
);
CREATE INDEX orders_unsettled_idx ON orders (placed_at) WHERE settled_revision < revision;
CREATE INDEX orders_placed_idx ON orders (placed_at DESC);
CREATE INDEX orders_customer_idx ON orders (customer_id, placed_at DESC) WHERE customer_id IS NOT NULL;
-- Auto-approval N days after delivery.
CREATE INDEX orders_delivered_idx ON orders (delivered_at) WHERE delivered_at IS NOT NULL;

CREATE TABLE order_lines (
    order_id              text NOT NULL REFERENCES orders (order_id),
    line_id               text NOT NULL CHECK (length(line_id) BETWEEN 1 AND 200),
    product_id            text NOT NULL CHECK (length(product_id) BETWEEN 1 AND 200),
    category_id           text CHECK (length(category_id) BETWEEN 1 AND 200),
    quantity              bigint NOT NULL CHECK (quantity > 0),
    unit_price_minor      bigint NOT NULL CHECK (unit_price_minor >= 0),
    discount_minor        bigint NOT NULL DEFAULT 0
                          CHECK (discount_minor >= 0 AND discount_minor <= unit_price_minor * quantity),
    refunded_quantity     bigint NOT NULL DEFAULT 0,
    refunded_amount_minor bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (order_id, line_id),
    CHECK (refunded_quantity BETWEEN 0 AND quantity),
    CHECK (refunded_amount_minor BETWEEN 0 AND unit_price_minor * quantity - discount_minor)
);

-- Every order event as received. Events are applied to orders/order_lines
-- in event time once their order is known; an event that arrives before
-- its order.placed (a refund first) waits here with applied_at NULL and is
-- replayed when the order arrives. No foreign key to orders for that reason.
CREATE TABLE order_events (
    event_id    text PRIMARY KEY CHECK (length(event_id) BETWEEN 1 AND 200),
    order_id    text NOT NULL CHECK (length(order_id) BETWEEN 1 AND 200),
    type        text NOT NULL
                CHECK (type IN ('order.placed', 'order.cancelled', 'order.refunded', 'order.delivered')),
    at          timestamptz NOT NULL,
    payload     jsonb NOT NULL CHECK (jsonb_typeof(payload) = 'object'),
    received_at timestamptz NOT NULL DEFAULT now(),
    applied_at  timestamptz,
    -- Why an event was not applied (e.g. a second order.placed with other lines).
    ignored_reason text CHECK (length(ignored_reason) <= 1000)
);
CREATE INDEX order_events_order_idx ON order_events (order_id, at);
CREATE INDEX order_events_unapplied_idx ON order_events (order_id) WHERE applied_at IS NULL AND ignored_reason IS NULL;

-- Admin overrides of an order's partner, with history: the newest row wins.
-- partner_id NULL means "no partner" (the admin removed it).
CREATE TABLE order_overrides (
    id         bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    order_id   text NOT NULL REFERENCES orders (order_id),
    partner_id bigint REFERENCES partners (id),
    reason     text CHECK (length(reason) <= 1000),
    created_by bigint REFERENCES users (id),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX order_overrides_order_idx ON order_overrides (order_id, id DESC);

-- +goose Down
DROP TABLE order_overrides;
DROP TABLE order_events;
DROP TABLE order_lines;
DROP TABLE orders;
DROP TABLE inbox;
