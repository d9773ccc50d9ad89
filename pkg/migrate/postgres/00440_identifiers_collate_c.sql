-- Identifiers compare as bytes (collation "C"), whatever the database's
-- locale. Every indexed text column is an identifier, key or code (order,
-- line, event, customer, product and category ids, ledger references and
-- idempotency keys, link codes, states): nothing a person reads in
-- alphabetical order. In a database created in en_US.UTF-8, as managed
-- Postgres services and the postgres image create them by default, each
-- comparison in their indexes went through strcoll, several times slower
-- than C's memcmp: the settlement pass took 1.25x its time in C (100k
-- orders, settler/bench/settle.sh with PG_LOCALE=en_US.UTF-8), and a table
-- with two such indexes filled 2.7x slower (psql, 900k rows). Byte order is
-- also the order Go and ClickHouse sort ids in, and a LIKE 'prefix%' on
-- these columns can use their indexes.
--
-- The customer e-mail and name indexes (lower(...)) keep the database's
-- collation; outbox.event_id too (the outbox_messages view depends on it;
-- one row per settlement batch). categories.parent_id, not indexed, follows
-- category_id: a recursive query over the tree refuses to mix collations.
--
-- Postgres rebuilds these columns' indexes (no table is rewritten; the
-- CHECKs on them are validated again), holding each table's lock
-- meanwhile, then the tables are analyzed again: run it in a quiet moment
-- (deploy/OPERATIONS.md gives the time it took here). Equality is the same
-- under every collation, so the previous release runs on the result, but
-- each of its connections fails once per prepared statement that returns
-- a converted column ("cached plan must not change result type"; pgx then
-- prepares it again): roll the deployments right after.

-- +goose Up
ALTER TABLE adjustments
    ALTER COLUMN idempotency_key TYPE text COLLATE "C";
ALTER TABLE attributions
    ALTER COLUMN order_id TYPE text COLLATE "C";
ALTER TABLE categories
    ALTER COLUMN category_id TYPE text COLLATE "C",
    ALTER COLUMN parent_id TYPE text COLLATE "C";
ALTER TABLE commission_rates
    ALTER COLUMN category_id TYPE text COLLATE "C",
    ALTER COLUMN product_id TYPE text COLLATE "C";
ALTER TABLE commissions
    ALTER COLUMN line_id TYPE text COLLATE "C",
    ALTER COLUMN order_id TYPE text COLLATE "C",
    ALTER COLUMN state TYPE text COLLATE "C";
ALTER TABLE customer_bindings
    ALTER COLUMN customer_id TYPE text COLLATE "C";
ALTER TABLE customers
    ALTER COLUMN customer_id TYPE text COLLATE "C";
ALTER TABLE identities
    ALTER COLUMN customer_id TYPE text COLLATE "C",
    ALTER COLUMN device_token TYPE text COLLATE "C",
    ALTER COLUMN event_id TYPE text COLLATE "C";
ALTER TABLE inbox
    ALTER COLUMN event_id TYPE text COLLATE "C",
    ALTER COLUMN topic TYPE text COLLATE "C";
ALTER TABLE ledger_accounts
    ALTER COLUMN currency TYPE text COLLATE "C",
    ALTER COLUMN kind TYPE text COLLATE "C",
    ALTER COLUMN owner TYPE text COLLATE "C";
ALTER TABLE ledger_pending
    ALTER COLUMN kind TYPE text COLLATE "C",
    ALTER COLUMN reference TYPE text COLLATE "C";
ALTER TABLE ledger_reserves
    ALTER COLUMN commission_id TYPE text COLLATE "C",
    ALTER COLUMN currency TYPE text COLLATE "C",
    ALTER COLUMN partner_id TYPE text COLLATE "C";
ALTER TABLE ledger_transfers
    ALTER COLUMN idempotency_key TYPE text COLLATE "C",
    ALTER COLUMN reference TYPE text COLLATE "C";
ALTER TABLE links
    ALTER COLUMN code TYPE text COLLATE "C",
    ALTER COLUMN target_url TYPE text COLLATE "C";
ALTER TABLE login_attempts
    ALTER COLUMN email TYPE text COLLATE "C",
    ALTER COLUMN ip_prefix TYPE text COLLATE "C";
ALTER TABLE order_events
    ALTER COLUMN event_id TYPE text COLLATE "C",
    ALTER COLUMN order_id TYPE text COLLATE "C";
ALTER TABLE order_lines
    ALTER COLUMN line_id TYPE text COLLATE "C",
    ALTER COLUMN order_id TYPE text COLLATE "C";
ALTER TABLE order_overrides
    ALTER COLUMN order_id TYPE text COLLATE "C";
ALTER TABLE orders
    ALTER COLUMN customer_id TYPE text COLLATE "C",
    ALTER COLUMN order_id TYPE text COLLATE "C";
ALTER TABLE partner_applications
    ALTER COLUMN status TYPE text COLLATE "C";
ALTER TABLE partners
    ALTER COLUMN customer_id TYPE text COLLATE "C",
    ALTER COLUMN slug TYPE text COLLATE "C";
ALTER TABLE payouts
    ALTER COLUMN idempotency_key TYPE text COLLATE "C";
ALTER TABLE penalties
    ALTER COLUMN idempotency_key TYPE text COLLATE "C",
    ALTER COLUMN order_id TYPE text COLLATE "C";
ALTER TABLE products
    ALTER COLUMN category_id TYPE text COLLATE "C",
    ALTER COLUMN product_id TYPE text COLLATE "C";
ALTER TABLE self_referrals
    ALTER COLUMN order_id TYPE text COLLATE "C";
ALTER TABLE settle_queue
    ALTER COLUMN order_id TYPE text COLLATE "C";
ALTER TABLE settlement_runs
    ALTER COLUMN job TYPE text COLLATE "C";
ALTER TABLE sink_partitions
    ALTER COLUMN topic TYPE text COLLATE "C";
ALTER TABLE sink_watermarks
    ALTER COLUMN topic TYPE text COLLATE "C";
ALTER TABLE store_credit_requests
    ALTER COLUMN customer_id TYPE text COLLATE "C",
    ALTER COLUMN idempotency_key TYPE text COLLATE "C";
ALTER TABLE tracker_spools
    ALTER COLUMN tracker_id TYPE text COLLATE "C";
-- A column's new type drops its planner statistics, and autovacuum analyzes
-- again only after a tenth of a table has changed.
ANALYZE adjustments, attributions, categories, commission_rates, commissions, customer_bindings,
    customers, identities, inbox, ledger_accounts, ledger_pending, ledger_reserves,
    ledger_transfers, links, login_attempts, order_events, order_lines, order_overrides, orders,
    partner_applications, partners, payouts, penalties, products, self_referrals, settle_queue,
    settlement_runs, sink_partitions, sink_watermarks, store_credit_requests, tracker_spools;

-- +goose Down
ALTER TABLE adjustments
    ALTER COLUMN idempotency_key TYPE text COLLATE "default";
ALTER TABLE attributions
    ALTER COLUMN order_id TYPE text COLLATE "default";
ALTER TABLE categories
    ALTER COLUMN category_id TYPE text COLLATE "default",
    ALTER COLUMN parent_id TYPE text COLLATE "default";
ALTER TABLE commission_rates
    ALTER COLUMN category_id TYPE text COLLATE "default",
    ALTER COLUMN product_id TYPE text COLLATE "default";
ALTER TABLE commissions
    ALTER COLUMN line_id TYPE text COLLATE "default",
    ALTER COLUMN order_id TYPE text COLLATE "default",
    ALTER COLUMN state TYPE text COLLATE "default";
ALTER TABLE customer_bindings
    ALTER COLUMN customer_id TYPE text COLLATE "default";
ALTER TABLE customers
    ALTER COLUMN customer_id TYPE text COLLATE "default";
ALTER TABLE identities
    ALTER COLUMN customer_id TYPE text COLLATE "default",
    ALTER COLUMN device_token TYPE text COLLATE "default",
    ALTER COLUMN event_id TYPE text COLLATE "default";
ALTER TABLE inbox
    ALTER COLUMN event_id TYPE text COLLATE "default",
    ALTER COLUMN topic TYPE text COLLATE "default";
ALTER TABLE ledger_accounts
    ALTER COLUMN currency TYPE text COLLATE "default",
    ALTER COLUMN kind TYPE text COLLATE "default",
    ALTER COLUMN owner TYPE text COLLATE "default";
ALTER TABLE ledger_pending
    ALTER COLUMN kind TYPE text COLLATE "default",
    ALTER COLUMN reference TYPE text COLLATE "default";
ALTER TABLE ledger_reserves
    ALTER COLUMN commission_id TYPE text COLLATE "default",
    ALTER COLUMN currency TYPE text COLLATE "default",
    ALTER COLUMN partner_id TYPE text COLLATE "default";
ALTER TABLE ledger_transfers
    ALTER COLUMN idempotency_key TYPE text COLLATE "default",
    ALTER COLUMN reference TYPE text COLLATE "default";
ALTER TABLE links
    ALTER COLUMN code TYPE text COLLATE "default",
    ALTER COLUMN target_url TYPE text COLLATE "default";
ALTER TABLE login_attempts
    ALTER COLUMN email TYPE text COLLATE "default",
    ALTER COLUMN ip_prefix TYPE text COLLATE "default";
ALTER TABLE order_events
    ALTER COLUMN event_id TYPE text COLLATE "default",
    ALTER COLUMN order_id TYPE text COLLATE "default";
ALTER TABLE order_lines
    ALTER COLUMN line_id TYPE text COLLATE "default",
    ALTER COLUMN order_id TYPE text COLLATE "default";
ALTER TABLE order_overrides
    ALTER COLUMN order_id TYPE text COLLATE "default";
ALTER TABLE orders
    ALTER COLUMN customer_id TYPE text COLLATE "default",
    ALTER COLUMN order_id TYPE text COLLATE "default";
ALTER TABLE partner_applications
    ALTER COLUMN status TYPE text COLLATE "default";
ALTER TABLE partners
    ALTER COLUMN customer_id TYPE text COLLATE "default",
    ALTER COLUMN slug TYPE text COLLATE "default";
ALTER TABLE payouts
    ALTER COLUMN idempotency_key TYPE text COLLATE "default";
ALTER TABLE penalties
    ALTER COLUMN idempotency_key TYPE text COLLATE "default",
    ALTER COLUMN order_id TYPE text COLLATE "default";
ALTER TABLE products
    ALTER COLUMN category_id TYPE text COLLATE "default",
    ALTER COLUMN product_id TYPE text COLLATE "default";
ALTER TABLE self_referrals
    ALTER COLUMN order_id TYPE text COLLATE "default";
ALTER TABLE settle_queue
    ALTER COLUMN order_id TYPE text COLLATE "default";
ALTER TABLE settlement_runs
    ALTER COLUMN job TYPE text COLLATE "default";
ALTER TABLE sink_partitions
    ALTER COLUMN topic TYPE text COLLATE "default";
ALTER TABLE sink_watermarks
    ALTER COLUMN topic TYPE text COLLATE "default";
ALTER TABLE store_credit_requests
    ALTER COLUMN customer_id TYPE text COLLATE "default",
    ALTER COLUMN idempotency_key TYPE text COLLATE "default";
ALTER TABLE tracker_spools
    ALTER COLUMN tracker_id TYPE text COLLATE "default";
-- A column's new type drops its planner statistics, and autovacuum analyzes
-- again only after a tenth of a table has changed.
ANALYZE adjustments, attributions, categories, commission_rates, commissions, customer_bindings,
    customers, identities, inbox, ledger_accounts, ledger_pending, ledger_reserves,
    ledger_transfers, links, login_attempts, order_events, order_lines, order_overrides, orders,
    partner_applications, partners, payouts, penalties, products, self_referrals, settle_queue,
    settlement_runs, sink_partitions, sink_watermarks, store_credit_requests, tracker_spools;
