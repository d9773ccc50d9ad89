package storage

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Program is the single row of program-wide settings. Rates are parts per
// million of the base (10 % = 100000).
type Program struct {
	DefaultRateUPct   int64
	AttributionWindow time.Duration
	AttributionModel  string
	BindingWindow     time.Duration
	ReserveUPct       int64
	ReservePeriod     time.Duration
	AutoApproveAfter  time.Duration
	MinPayoutMinor    int64
	Currency          string
	UpdatedAt         time.Time
}

const programColumns = `default_rate_upct,
	(extract(epoch from attribution_window) * 1000000)::bigint,
	attribution_model,
	(extract(epoch from binding_window) * 1000000)::bigint,
	reserve_upct,
	(extract(epoch from reserve_period) * 1000000)::bigint,
	(extract(epoch from auto_approve_after) * 1000000)::bigint,
	min_payout_minor, currency, updated_at`

// Program reads the program settings.
func (s *Storage) Program(ctx context.Context) (Program, error) {
	return scanProgram(s.pool.QueryRow(ctx, `SELECT `+programColumns+` FROM program_settings WHERE id`))
}

func scanProgram(row pgx.Row) (Program, error) {
	var p Program
	var aw, bw, rp, aa int64
	err := row.Scan(&p.DefaultRateUPct, &aw, &p.AttributionModel, &bw, &p.ReserveUPct, &rp, &aa,
		&p.MinPayoutMinor, &p.Currency, &p.UpdatedAt)
	if err != nil {
		return Program{}, fmt.Errorf("cannot read program settings: %w", err)
	}
	p.AttributionWindow = time.Duration(aw) * time.Microsecond
	p.BindingWindow = time.Duration(bw) * time.Microsecond
	p.ReservePeriod = time.Duration(rp) * time.Microsecond
	p.AutoApproveAfter = time.Duration(aa) * time.Microsecond
	return p, nil
}

// Version is the settings' version for a form (UpdatedAt): a form saved
// with another is refused (ErrProgramChanged).
func (p Program) Version() string { return p.UpdatedAt.UTC().Format(time.RFC3339Nano) }

// ErrProgramChanged is a settings form's conflict when its version is not
// the settings' any more.
var ErrProgramChanged = &FieldError{Field: "version",
	Msg: "the settings were changed by someone else since this page was loaded; reload it and make the change again", Err: ErrConflict}

// ModifyProgram changes the program settings: apply gets them as they are
// now, locked until the change commits, so that two admins changing
// different settings at once both take effect (the later write does not
// put back what the earlier changed); apply's error is returned and
// nothing is written. The locked row also keeps a manual sale
// (CreateManualSale reads the currency FOR SHARE) from being recorded in
// a currency being replaced. The currency cannot change once any order,
// commission or ledger account exists (a conflict on field currency):
// orders are ingested, and commissions and balances kept, in the program
// currency, and every balance, payout and store-credit request reads it,
// so a change would hide them all (an order stored before the change
// would still accrue in the old currency).
func (s *Storage) ModifyProgram(ctx context.Context, apply func(*Program) error) (Program, error) {
	var p Program
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		if p, err = scanProgram(tx.QueryRow(ctx, `SELECT `+programColumns+` FROM program_settings WHERE id FOR UPDATE`)); err != nil {
			return err
		}
		cur := p.Currency
		if err := apply(&p); err != nil {
			return err
		}
		if p.Currency != cur {
			var used bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM commissions) OR EXISTS (SELECT 1 FROM ledger_accounts)
				OR EXISTS (SELECT 1 FROM orders)`).Scan(&used); err != nil {
				return fmt.Errorf("cannot check for balances: %w", err)
			}
			if used {
				return &FieldError{Field: "currency", Msg: "cannot change from " + cur +
					" once orders, commissions or balances exist: they are kept in " + cur, Err: ErrConflict}
			}
		}
		p.UpdatedAt, err = updateProgram(ctx, tx, p)
		return err
	})
	return p, err
}

func updateProgram(ctx context.Context, tx pgx.Tx, p Program) (time.Time, error) {
	var at time.Time
	err := tx.QueryRow(ctx, `UPDATE program_settings SET
		default_rate_upct = $1,
		attribution_window = $2::bigint * interval '1 microsecond',
		attribution_model = $3,
		binding_window = $4::bigint * interval '1 microsecond',
		reserve_upct = $5,
		reserve_period = $6::bigint * interval '1 microsecond',
		auto_approve_after = $7::bigint * interval '1 microsecond',
		min_payout_minor = $8,
		currency = $9,
		updated_at = clock_timestamp()
		WHERE id RETURNING updated_at`,
		p.DefaultRateUPct, durationArg(p.AttributionWindow), p.AttributionModel,
		durationArg(p.BindingWindow), p.ReserveUPct, durationArg(p.ReservePeriod),
		durationArg(p.AutoApproveAfter), p.MinPayoutMinor, p.Currency).Scan(&at)
	if err != nil {
		return at, fmt.Errorf("cannot update program settings: %w", err)
	}
	return at, nil
}
