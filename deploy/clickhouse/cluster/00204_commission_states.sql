-- Cluster form of pkg/migrate/clickhouse/00204_commission_states.sql (the
-- commissions' current state ordered by lifecycle; see there). The backfill
-- reads and writes the Distributed tables, so it runs once through the node
-- apply.sh talks to; settler migrate runs the same statement later on the
-- node it talks to, which then finds a state for every commission and
-- inserts nothing.
--
-- commission_states is sharded like commission_facts, by
-- cityHash64(commission_id): the view writes a commission's states on the
-- shard that holds its facts, and the backfill's rows must land there too,
-- or they would never merge with the view's (AggregatingMergeTree merges
-- within a shard only; a random key left every commission in two rows on
-- two shards for good, merged again by every query).
CREATE TABLE IF NOT EXISTS ${DB}.commission_states_local ON CLUSTER '${CLUSTER}' (
    partner_id String,
    commission_id String,
    first_at AggregateFunction(min, DateTime('UTC')),
    order_id AggregateFunction(argMax, String, Tuple(UInt64, Int64, DateTime('UTC'), String)),
    line_id AggregateFunction(argMax, String, Tuple(UInt64, Int64, DateTime('UTC'), String)),
    currency AggregateFunction(argMax, String, Tuple(UInt64, Int64, DateTime('UTC'), String)),
    current_state AggregateFunction(argMax, String, Tuple(UInt64, Int64, DateTime('UTC'), String)),
    current_amount_minor AggregateFunction(argMax, Int64, Tuple(UInt64, Int64, DateTime('UTC'), String)),
    base_minor AggregateFunction(argMax, Int64, Tuple(UInt64, Int64, DateTime('UTC'), String))
) ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/${DB}/commission_states_local', '{replica}')
ORDER BY (partner_id, commission_id);

CREATE TABLE IF NOT EXISTS ${DB}.commission_states ON CLUSTER '${CLUSTER}' AS ${DB}.commission_states_local
ENGINE = Distributed('${CLUSTER}', '${DB}', 'commission_states_local', cityHash64(commission_id));

CREATE MATERIALIZED VIEW IF NOT EXISTS ${DB}.commission_states_mv ON CLUSTER '${CLUSTER}' TO ${DB}.commission_states_local
AS SELECT
    partner_id,
    commission_id,
    minState(at) AS first_at,
    argMaxState(order_id, (indexOf(['pending', 'partially_voided', 'voided', 'approved', 'partially_clawed_back', 'clawed_back'], state), -amount_minor, at, event_id)) AS order_id,
    argMaxState(line_id, (indexOf(['pending', 'partially_voided', 'voided', 'approved', 'partially_clawed_back', 'clawed_back'], state), -amount_minor, at, event_id)) AS line_id,
    argMaxState(currency, (indexOf(['pending', 'partially_voided', 'voided', 'approved', 'partially_clawed_back', 'clawed_back'], state), -amount_minor, at, event_id)) AS currency,
    argMaxState(state, (indexOf(['pending', 'partially_voided', 'voided', 'approved', 'partially_clawed_back', 'clawed_back'], state), -amount_minor, at, event_id)) AS current_state,
    argMaxState(amount_minor, (indexOf(['pending', 'partially_voided', 'voided', 'approved', 'partially_clawed_back', 'clawed_back'], state), -amount_minor, at, event_id)) AS current_amount_minor,
    argMaxState(base_minor, (indexOf(['pending', 'partially_voided', 'voided', 'approved', 'partially_clawed_back', 'clawed_back'], state), -amount_minor, at, event_id)) AS base_minor
FROM ${DB}.commission_facts_local
GROUP BY partner_id, commission_id;

-- The facts stored before the view existed, once: skipped when every
-- commission of commission_facts already has a state: a second run, like
-- settler migrate after deploy/clickhouse/cluster/apply.sh (two runners at
-- once may both insert: harmless, min and argMax states are idempotent).
-- Not "when it has any row": the view may store the states of new facts
-- before this statement runs (the sink keeps inserting during an upgrade),
-- and the history would then never be filled in.
INSERT INTO ${DB}.commission_states
SELECT
    partner_id,
    commission_id,
    minState(at) AS first_at,
    argMaxState(order_id, (indexOf(['pending', 'partially_voided', 'voided', 'approved', 'partially_clawed_back', 'clawed_back'], state), -amount_minor, at, event_id)) AS order_id,
    argMaxState(line_id, (indexOf(['pending', 'partially_voided', 'voided', 'approved', 'partially_clawed_back', 'clawed_back'], state), -amount_minor, at, event_id)) AS line_id,
    argMaxState(currency, (indexOf(['pending', 'partially_voided', 'voided', 'approved', 'partially_clawed_back', 'clawed_back'], state), -amount_minor, at, event_id)) AS currency,
    argMaxState(state, (indexOf(['pending', 'partially_voided', 'voided', 'approved', 'partially_clawed_back', 'clawed_back'], state), -amount_minor, at, event_id)) AS current_state,
    argMaxState(amount_minor, (indexOf(['pending', 'partially_voided', 'voided', 'approved', 'partially_clawed_back', 'clawed_back'], state), -amount_minor, at, event_id)) AS current_amount_minor,
    argMaxState(base_minor, (indexOf(['pending', 'partially_voided', 'voided', 'approved', 'partially_clawed_back', 'clawed_back'], state), -amount_minor, at, event_id)) AS base_minor
FROM ${DB}.commission_facts
WHERE (SELECT uniqExact(commission_id) FROM ${DB}.commission_states) < (SELECT uniqExact(commission_id) FROM ${DB}.commission_facts)
GROUP BY partner_id, commission_id;
