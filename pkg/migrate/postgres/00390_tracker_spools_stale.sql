-- +goose Up
-- Deletes the tracker_spools rows that report nothing spooled (oldest_at
-- NULL). The sink now keeps the clicks, identities and orders watermarks
-- below the last report of every such row (a tracker cut off from Postgres
-- may spool clicks after reporting none), and trackers now delete their row
-- on a clean stop; but trackers of the previous release never deleted theirs,
-- so rows of trackers that no longer run (autoscaled-away StatefulSet
-- ordinals; docker compose containers named by their container id, a new
-- row on every recreate) would hold every watermark for good, and every
-- order would wait the settler's maximum wait and be decided flagged.
--
-- Safe: a NULL row says the tracker holds nothing, so it stands for no
-- spooled record; a tracker that is running re-creates its row with its next
-- report, within about a second (-spool-report-interval, an upsert). The
-- sink of the previous release, which runs while this migration is applied,
-- ignores NULL rows anyway. Rows with oldest_at set stay: they stand for
-- records still to be replayed, and only an operator may delete them (once
-- that spool is replayed or given up; deploy/OPERATIONS.md, Upgrades).
DELETE FROM tracker_spools WHERE oldest_at IS NULL;

-- +goose Down
-- Nothing to restore: a running tracker has re-reported its row by now.
SELECT 1;
