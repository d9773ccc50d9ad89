-- A link the program's admin turned off (for a partner's link that sends
-- traffic the program does not want) stays off until the admin turns it
-- on: the partner's "turn on again" (dashboard, since the turned-off links
-- list) refuses it. A link the partner turned off has the flag false, as
-- every link has today.
--
-- Additive (a constant default rewrites nothing); the previous release
-- neither reads nor writes it.

-- +goose Up
ALTER TABLE links ADD COLUMN off_by_admin boolean NOT NULL DEFAULT false;

-- +goose Down
ALTER TABLE links DROP COLUMN off_by_admin;
