-- The dashboard's settlement runs page lists the failed runs alone when
-- asked: the relay job records a run every few seconds, so without the
-- filter a failed settle run is pages back within minutes. Failed runs are
-- few; a partial index keeps that list cheap however long the history.
-- (Listing one job's runs uses settlement_runs_job_idx.)
--
-- Additive, safe with the previous release running. Not CONCURRENTLY:
-- migrations run in a transaction, and the index covers only the failed
-- rows (the build still reads the table once, holding off inserts of run
-- records meanwhile: seconds for millions of runs).

-- +goose Up
CREATE INDEX settlement_runs_failed_idx ON settlement_runs (started_at DESC, id DESC) WHERE error IS NOT NULL;

-- +goose Down
DROP INDEX settlement_runs_failed_idx;
