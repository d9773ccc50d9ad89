-- The current state of every commission, ordered by its lifecycle rather
-- than by clock. commissions_current (00203) takes the latest fact by
-- (at, event_id), but the settler stamps every fact of a pass with the
-- pass's time (to the second, as the column keeps it) and fact ids are
-- name-based UUIDs: an order accrued and cancelled in one pass has a
-- pending and a voided fact of the same second, and the random larger id
-- won, so about half such commissions read as pending; an approval stamped
-- by the dashboard's clock and a clawback by the settler's can likewise
-- cross by clock skew. A commission only moves forward:
--   pending -> partially_voided -> voided, or (from either of the first two)
--   approved -> partially_clawed_back -> clawed_back,
-- and what it keeps (amount_minor) only shrinks. So the latest fact is the
-- greatest by (position of the state in that order, -amount_minor, at,
-- event_id): the lifecycle decides, the clock and the id only between
-- repeats of one state. Read with argMaxMerge/minMerge GROUP BY
-- commission_id, like commissions_current, whose state and amount_minor
-- are current_state and current_amount_minor here (ClickHouse 18.16 refuses
-- an output named like a column the ordering key reads: "cyclic aliases").
--
-- commissions_current stays (its view still fills it) for queries written
-- against it; the reports read commission_states. Additive only: on a
-- cluster deploy/clickhouse/cluster/00204 creates these first and the
-- statements below find them in place (the backfill then finds a state for
-- every commission and inserts nothing).
CREATE TABLE IF NOT EXISTS ${DB}.commission_states (
    partner_id String,
    commission_id String,
    first_at AggregateFunction(min, DateTime('UTC')),
    order_id AggregateFunction(argMax, String, Tuple(UInt64, Int64, DateTime('UTC'), String)),
    line_id AggregateFunction(argMax, String, Tuple(UInt64, Int64, DateTime('UTC'), String)),
    currency AggregateFunction(argMax, String, Tuple(UInt64, Int64, DateTime('UTC'), String)),
    current_state AggregateFunction(argMax, String, Tuple(UInt64, Int64, DateTime('UTC'), String)),
    current_amount_minor AggregateFunction(argMax, Int64, Tuple(UInt64, Int64, DateTime('UTC'), String)),
    base_minor AggregateFunction(argMax, Int64, Tuple(UInt64, Int64, DateTime('UTC'), String))
) ENGINE = AggregatingMergeTree
ORDER BY (partner_id, commission_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS ${DB}.commission_states_mv TO ${DB}.commission_states
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
FROM ${DB}.commission_facts
GROUP BY partner_id, commission_id;

-- The facts stored before the view existed, once: skipped when every
-- commission of commission_facts already has a state: a second run, like
-- settler migrate after deploy/clickhouse/cluster/apply.sh (two runners at
-- once may both insert: harmless, min and argMax states are idempotent).
-- Not "when it has any row": the view may store the states of new facts
-- before this statement runs (the sink keeps inserting during an upgrade),
-- and the history would then never be filled in. Left: should every
-- commission of the history get a new fact between the view's creation and
-- this statement (a tiny program during an upgrade), the counts match and
-- first_at is the new fact's time.
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
