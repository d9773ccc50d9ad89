-- What each commission went through, beside its current state (00204):
-- accrued_amount_minor, the largest amount_minor over its facts (what it
-- keeps only shrinks, so the largest is what it accrued), and
-- was_partially_voided, 1 once any of its facts is partially_voided.
-- commission_states keeps the latest fact in the lifecycle only, and a
-- partial refund before approval does not stay the latest: approval (by an
-- admin, or automatically after delivery, the normal path) makes the
-- commission approved with the reduced amount (facts: pending 2898 ->
-- partially_voided 1449 -> approved 1449). A report by current state lost
-- those (refunds_and_clawbacks_by_partner showed 0-4 partially voided
-- commissions a partner where Postgres held 33-42 approved commissions with
-- voided_amount_minor > 0). The commission's taken-back amount (voids and
-- clawbacks) is accrued_amount_minor minus commission_states'
-- current_amount_minor. Read with maxMerge GROUP BY partner_id,
-- commission_id, joined to commission_states on those two.
--
-- A table of its own, not new columns of commission_states: ClickHouse 18.16
-- has no ALTER TABLE ... ADD COLUMN IF NOT EXISTS, and a plain ADD COLUMN
-- fails when run again (settler migrate after
-- deploy/clickhouse/cluster/apply.sh, or two runners at once); dropping and
-- recreating commission_states or its view would lose the facts the sink
-- inserts meanwhile. Max states are idempotent: a replayed fact, a
-- repeated backfill or a fact both the view and the backfill stored changes
-- nothing. Additive only: on a cluster deploy/clickhouse/cluster/00205
-- creates these first and the statements below find them in place.
CREATE TABLE IF NOT EXISTS ${DB}.commission_history (
    partner_id String,
    commission_id String,
    accrued_amount_minor AggregateFunction(max, Int64),
    was_partially_voided AggregateFunction(max, UInt8)
) ENGINE = AggregatingMergeTree
ORDER BY (partner_id, commission_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS ${DB}.commission_history_mv TO ${DB}.commission_history
AS SELECT
    partner_id,
    commission_id,
    maxState(amount_minor) AS accrued_amount_minor,
    maxState(state = 'partially_voided') AS was_partially_voided
FROM ${DB}.commission_facts
GROUP BY partner_id, commission_id;

-- The facts stored before the view existed, once: skipped when every
-- commission of commission_facts already has a row, as 00204's backfill (a
-- second run, like settler migrate after deploy/clickhouse/cluster/apply.sh,
-- inserts nothing; two runners at once may both insert, and the view may
-- have stored some of these facts too: harmless, max states are
-- idempotent). Not "when it has any row": the view stores the history of
-- new facts before this statement runs (the sink keeps inserting during an
-- upgrade), and the older facts would then never be read. Left: should
-- every commission of the history get a new fact between the view's
-- creation and this statement (a tiny program during an upgrade), the
-- counts match and those commissions' older facts are not read (a partial
-- void before that new fact is missed, and the accrued amount is the new
-- fact's).
INSERT INTO ${DB}.commission_history
SELECT
    partner_id,
    commission_id,
    maxState(amount_minor) AS accrued_amount_minor,
    maxState(state = 'partially_voided') AS was_partially_voided
FROM ${DB}.commission_facts
WHERE (SELECT uniqExact(commission_id) FROM ${DB}.commission_history) < (SELECT uniqExact(commission_id) FROM ${DB}.commission_facts)
GROUP BY partner_id, commission_id;
