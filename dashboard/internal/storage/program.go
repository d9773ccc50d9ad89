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
	var p Program
	var aw, bw, rp, aa int64
	err := s.pool.QueryRow(ctx, `SELECT `+programColumns+` FROM program_settings WHERE id`).Scan(
		&p.DefaultRateUPct, &aw, &p.AttributionModel, &bw, &p.ReserveUPct, &rp, &aa,
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

// UpdateProgram writes every setting of p in one statement. The currency
// cannot change once any order, commission or ledger account exists (a
// conflict on field currency): orders are ingested, and commissions and
// balances kept, in the program currency, and every balance, payout and
// store-credit request reads it, so a change would hide them all (an order
// stored before the change would still accrue in the old currency).
func (s *Storage) UpdateProgram(ctx context.Context, p Program) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		// Locked, so a manual sale (CreateManualSale reads the currency
		// FOR SHARE) is not recorded in the currency being replaced.
		var cur string
		if err := tx.QueryRow(ctx, `SELECT currency FROM program_settings WHERE id FOR UPDATE`).Scan(&cur); err != nil {
			return fmt.Errorf("cannot read program settings: %w", err)
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
		return updateProgram(ctx, tx, p)
	})
}

func updateProgram(ctx context.Context, tx pgx.Tx, p Program) error {
	_, err := tx.Exec(ctx, `UPDATE program_settings SET
		default_rate_upct = $1,
		attribution_window = $2::bigint * interval '1 microsecond',
		attribution_model = $3,
		binding_window = $4::bigint * interval '1 microsecond',
		reserve_upct = $5,
		reserve_period = $6::bigint * interval '1 microsecond',
		auto_approve_after = $7::bigint * interval '1 microsecond',
		min_payout_minor = $8,
		currency = $9,
		updated_at = now()
		WHERE id`,
		p.DefaultRateUPct, durationArg(p.AttributionWindow), p.AttributionModel,
		durationArg(p.BindingWindow), p.ReserveUPct, durationArg(p.ReservePeriod),
		durationArg(p.AutoApproveAfter), p.MinPayoutMinor, p.Currency)
	if err != nil {
		return fmt.Errorf("cannot update program settings: %w", err)
	}
	return nil
}
