-- The settlement queue as a table of its own instead of orders.settled_revision.
--
-- Until now a settlement pass marked every order it settled with
-- UPDATE orders SET settled_revision = revision. settled_revision was in the
-- predicate of the two partial indexes that found unsettled orders, so no such
-- update could be HOT: each wrote a new version of the order and an entry in
-- every index of orders (and left a dead version for vacuum). At 1M orders that
-- UPDATE was 24-36 µs of statement time per order, the fifth costliest
-- statement of the pass; a DELETE of the order's queue row costs about a
-- quarter of that (psql, 300k orders in batches of 500: 23.6 against 6.2 µs).
--
-- settle_queue holds one row per order whose latest revision is not settled
-- yet, with what the pass reads of the order as of that revision (joining
-- orders instead cost the pass as much as the UPDATE: 100k orders, 1.4 s more
-- statement time in the read, 1.6 s less in the marking). Statement-level
-- triggers on orders keep it: a new order is queued, an update that changes
-- the revision queues (or re-queues) it. The settler reads the queue FOR
-- UPDATE SKIP LOCKED and deletes the row of the revision it settled; a change
-- to the order meanwhile waits for that row lock in its trigger, then queues
-- the order again (TestPostgresSettleQueueLock). Settled = not in the queue.

-- +goose Up
CREATE TABLE settle_queue (
    order_id     text PRIMARY KEY,
    placed_at    timestamptz NOT NULL,
    revision     bigint NOT NULL CHECK (revision > 0),
    -- What the pass reads of the order at that revision, so that it reads
    -- the queue alone (joining orders cost as much as the UPDATE saved).
    customer_id  text,
    device_token text,
    currency     char(3) NOT NULL,
    cancelled    boolean NOT NULL,
    created_at   timestamptz NOT NULL
);
-- The pass reads the queue in (placed_at, order_id) order.
CREATE INDEX settle_queue_key_idx ON settle_queue (placed_at, order_id);

-- +goose StatementBegin
CREATE FUNCTION settle_queue_orders() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO settle_queue (order_id, placed_at, revision, customer_id, device_token, currency, cancelled, created_at)
        SELECT order_id, placed_at, revision, customer_id, device_token, currency, cancelled_at IS NOT NULL, created_at
        FROM new_orders
        ON CONFLICT (order_id) DO UPDATE SET placed_at = EXCLUDED.placed_at, revision = EXCLUDED.revision,
            customer_id = EXCLUDED.customer_id, device_token = EXCLUDED.device_token, currency = EXCLUDED.currency,
            cancelled = EXCLUDED.cancelled, created_at = EXCLUDED.created_at;
    ELSE
        INSERT INTO settle_queue (order_id, placed_at, revision, customer_id, device_token, currency, cancelled, created_at)
        SELECT n.order_id, n.placed_at, n.revision, n.customer_id, n.device_token, n.currency, n.cancelled_at IS NOT NULL, n.created_at
        FROM new_orders n JOIN old_orders o ON o.order_id = n.order_id
        WHERE n.revision <> o.revision
        ON CONFLICT (order_id) DO UPDATE SET placed_at = EXCLUDED.placed_at, revision = EXCLUDED.revision,
            customer_id = EXCLUDED.customer_id, device_token = EXCLUDED.device_token, currency = EXCLUDED.currency,
            cancelled = EXCLUDED.cancelled, created_at = EXCLUDED.created_at;
    END IF;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

-- Statement-level, so a COPY or a multi-row INSERT of orders queues them in
-- one INSERT rather than one trigger call per row.
CREATE TRIGGER orders_queue_insert AFTER INSERT ON orders
    REFERENCING NEW TABLE AS new_orders
    FOR EACH STATEMENT EXECUTE FUNCTION settle_queue_orders();
CREATE TRIGGER orders_queue_update AFTER UPDATE ON orders
    REFERENCING OLD TABLE AS old_orders NEW TABLE AS new_orders
    FOR EACH STATEMENT EXECUTE FUNCTION settle_queue_orders();

INSERT INTO settle_queue (order_id, placed_at, revision, customer_id, device_token, currency, cancelled, created_at)
SELECT order_id, placed_at, revision, customer_id, device_token, currency, cancelled_at IS NOT NULL, created_at
FROM orders WHERE settled_revision < revision;

DROP INDEX orders_unsettled_idx;
DROP INDEX orders_unsettled_key_idx;
ALTER TABLE orders DROP COLUMN settled_revision;

-- +goose Down
-- The triggers go first, so that marking the settled orders does not queue them.
DROP TRIGGER orders_queue_update ON orders;
DROP TRIGGER orders_queue_insert ON orders;
DROP FUNCTION settle_queue_orders();
ALTER TABLE orders ADD COLUMN settled_revision bigint NOT NULL DEFAULT 0;
UPDATE orders o SET settled_revision = o.revision
WHERE NOT EXISTS (SELECT 1 FROM settle_queue q WHERE q.order_id = o.order_id);
ALTER TABLE orders ADD CHECK (settled_revision BETWEEN 0 AND revision);
CREATE INDEX orders_unsettled_idx ON orders (placed_at) WHERE settled_revision < revision;
CREATE INDEX orders_unsettled_key_idx ON orders (placed_at, order_id) WHERE settled_revision < revision;
DROP TABLE settle_queue;
