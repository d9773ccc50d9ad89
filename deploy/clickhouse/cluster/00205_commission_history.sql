-- Cluster form of pkg/migrate/clickhouse/00205_commission_history.sql (per
-- commission, the amount it accrued and whether it was partially voided;
-- see there). The backfill reads and writes the Distributed tables, so it
-- runs once through the node apply.sh talks to; settler migrate runs the
-- same statement later on the node it talks to, which then finds a row for
-- every commission and inserts nothing.
--
-- commission_history is sharded like commission_facts and commission_states,
-- by cityHash64(commission_id): the view writes a commission's states on the
-- shard that holds its facts, and the backfill's rows land there too, so
-- they merge with the view's (AggregatingMergeTree merges within a shard
-- only).
CREATE TABLE IF NOT EXISTS ${DB}.commission_history_local ON CLUSTER '${CLUSTER}' (
    partner_id String,
    commission_id String,
    accrued_amount_minor AggregateFunction(max, Int64),
    was_partially_voided AggregateFunction(max, UInt8)
) ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/${DB}/commission_history_local', '{replica}')
ORDER BY (partner_id, commission_id);

CREATE TABLE IF NOT EXISTS ${DB}.commission_history ON CLUSTER '${CLUSTER}' AS ${DB}.commission_history_local
ENGINE = Distributed('${CLUSTER}', '${DB}', 'commission_history_local', cityHash64(commission_id));

CREATE MATERIALIZED VIEW IF NOT EXISTS ${DB}.commission_history_mv ON CLUSTER '${CLUSTER}' TO ${DB}.commission_history_local
AS SELECT
    partner_id,
    commission_id,
    maxState(amount_minor) AS accrued_amount_minor,
    maxState(state = 'partially_voided') AS was_partially_voided
FROM ${DB}.commission_facts_local
GROUP BY partner_id, commission_id;

-- The facts stored before the view existed, once: skipped when every
-- commission of commission_facts already has a row (a second run inserts
-- nothing; a repeat or an overlap with the view's rows is harmless, max
-- states are idempotent).
INSERT INTO ${DB}.commission_history
SELECT
    partner_id,
    commission_id,
    maxState(amount_minor) AS accrued_amount_minor,
    maxState(state = 'partially_voided') AS was_partially_voided
FROM ${DB}.commission_facts
WHERE (SELECT uniqExact(commission_id) FROM ${DB}.commission_history) < (SELECT uniqExact(commission_id) FROM ${DB}.commission_facts)
GROUP BY partner_id, commission_id;
