-- Foundation schema, part 1: program settings.
--
-- Conventions of every foundation table (see pkg/migrate/README.md):
--   * times are timestamptz; money is bigint minor units (*_minor) with a
--     char(3) ISO-4217 currency beside it;
--   * rates and shares are bigint micro-percent (*_upct), the unit of
--     pkg/money.Rate: 10 % = 10000000, 100 % = 100000000;
--   * durations are interval without months or years, so they convert to
--     Go's time.Duration exactly (pgx scans interval into time.Duration);
--   * every row that comes from outside has a natural unique key, so every
--     write path can be an idempotent INSERT ... ON CONFLICT;
--   * states and non-negative quantities are CHECK constraints; logic lives
--     in Go, not in triggers.

-- +goose Up
CREATE TABLE program_settings (
    -- Exactly one row: the key can only be true.
    id                 boolean PRIMARY KEY DEFAULT true CHECK (id),
    default_rate_upct  bigint NOT NULL DEFAULT 10000000
                       CHECK (default_rate_upct BETWEEN 0 AND 100000000),
    attribution_window interval NOT NULL DEFAULT interval '365 days'
                       CHECK (attribution_window > interval '0'
                              AND date_part('month', attribution_window) = 0
                              AND date_part('year', attribution_window) = 0),
    attribution_model  text NOT NULL DEFAULT 'last_click'
                       CHECK (attribution_model IN ('last_click', 'first_click')),
    binding_window     interval NOT NULL DEFAULT interval '24 hours'
                       CHECK (binding_window > interval '0'
                              AND date_part('month', binding_window) = 0
                              AND date_part('year', binding_window) = 0),
    -- Share of an approved commission kept in reserve (10 % by default).
    reserve_upct       bigint NOT NULL DEFAULT 10000000
                       CHECK (reserve_upct BETWEEN 0 AND 100000000),
    reserve_period     interval NOT NULL DEFAULT interval '30 days'
                       CHECK (reserve_period >= interval '0'
                              AND date_part('month', reserve_period) = 0
                              AND date_part('year', reserve_period) = 0),
    -- Zero means auto-approval is off.
    auto_approve_after interval NOT NULL DEFAULT interval '0'
                       CHECK (auto_approve_after >= interval '0'
                              AND date_part('month', auto_approve_after) = 0
                              AND date_part('year', auto_approve_after) = 0),
    min_payout_minor   bigint NOT NULL DEFAULT 0 CHECK (min_payout_minor >= 0),
    currency           char(3) NOT NULL DEFAULT 'EUR' CHECK (currency ~ '^[A-Z]{3}$'),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE program_settings IS 'The single row of program-wide settings (PUT /api/admin/program).';

INSERT INTO program_settings (id) VALUES (true) ON CONFLICT (id) DO NOTHING;

-- +goose Down
DROP TABLE program_settings;
