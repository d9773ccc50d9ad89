-- Cluster form of pkg/migrate/clickhouse/00204_commission_states.sql (the
-- commissions' current state ordered by lifecycle; see there). The backfill
-- reads and writes the Distributed tables, so it runs once through the node
-- apply.sh talks to; settler migrate's run of the same statement on any node
-- later adds nothing new (min and argMax states are idempotent).
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
ENGINE = Distributed('${CLUSTER}', '${DB}', 'commission_states_local', rand());

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

-- The facts stored before the view existed.
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
GROUP BY partner_id, commission_id;
