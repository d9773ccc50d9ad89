package storage

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Commission is one commission row.
type Commission struct {
	ID                    int64
	OrderID               string
	LineID                string
	PartnerID             int64
	Currency              string
	BaseMinor             int64
	RateUPct              int64
	AmountMinor           int64
	State                 string
	VoidedAmountMinor     int64
	ClawedBackAmountMinor int64
	CreatedAt             time.Time
	ApprovedAt            *time.Time
}

// KeptMinor is what the partner keeps of the commission: its amount less
// what refunds voided (before approval) and clawed back (after).
func (c Commission) KeptMinor() int64 {
	return c.AmountMinor - c.VoidedAmountMinor - c.ClawedBackAmountMinor
}

// TakenBackMinor is what refunds took back: voided plus clawed back.
func (c Commission) TakenBackMinor() int64 { return c.VoidedAmountMinor + c.ClawedBackAmountMinor }

const commissionColumns = `id, order_id, line_id, partner_id, currency, base_minor, rate_upct, amount_minor, state,
	voided_amount_minor, clawed_back_amount_minor, created_at, approved_at`

func scanCommission(row pgx.Row) (Commission, error) {
	var c Commission
	if err := row.Scan(&c.ID, &c.OrderID, &c.LineID, &c.PartnerID, &c.Currency, &c.BaseMinor, &c.RateUPct, &c.AmountMinor,
		&c.State, &c.VoidedAmountMinor, &c.ClawedBackAmountMinor, &c.CreatedAt, &c.ApprovedAt); err != nil {
		return Commission{}, fmt.Errorf("cannot read commission: %w", err)
	}
	return c, nil
}

// CommissionFilter narrows the commission list.
type CommissionFilter struct {
	PartnerID int64
	State     string
	OrderID   string
	From, To  time.Time
}

const commissionWhere = ` WHERE ($1 = 0 OR partner_id = $1) AND ($2 = '' OR state = $2) AND ($3 = '' OR order_id = $3)
	AND ($4::timestamptz IS NULL OR created_at >= $4) AND ($5::timestamptz IS NULL OR created_at < $5)`

// Commissions lists commissions newest first.
func (s *Storage) Commissions(ctx context.Context, f CommissionFilter, pg Page) ([]Commission, bool, error) {
	pg = pg.Normalize()
	rows, err := s.pool.Query(ctx, `SELECT `+commissionColumns+` FROM commissions`+commissionWhere+`
		ORDER BY created_at DESC, id DESC LIMIT $6 OFFSET $7`,
		f.PartnerID, f.State, f.OrderID, nullTime(f.From), nullTime(f.To), pg.Size+1, pg.Offset())
	if err != nil {
		return nil, false, fmt.Errorf("cannot list commissions: %w", err)
	}
	out, err := collect(rows, scanCommission)
	if err != nil {
		return nil, false, err
	}
	return trimPage(out, pg)
}

// OrderCommissions lists every commission of an order (all versions).
func (s *Storage) OrderCommissions(ctx context.Context, orderID string) ([]Commission, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+commissionColumns+` FROM commissions WHERE order_id = $1 ORDER BY id LIMIT 10000`, orderID)
	if err != nil {
		return nil, fmt.Errorf("cannot list order commissions: %w", err)
	}
	return collect(rows, scanCommission)
}

// MaxExportRows bounds one CSV export.
const MaxExportRows = 1_000_000

// EachCommission calls fn for every commission matching f in id order (a
// keyset scan in chunks, so memory stays flat), at most MaxExportRows.
func (s *Storage) EachCommission(ctx context.Context, f CommissionFilter, fn func(Commission) error) error {
	const chunk = 5000
	after := int64(0)
	for n := 0; n < MaxExportRows; {
		rows, err := s.pool.Query(ctx, `SELECT `+commissionColumns+` FROM commissions`+commissionWhere+`
			AND id > $6 ORDER BY id LIMIT $7`, f.PartnerID, f.State, f.OrderID, nullTime(f.From), nullTime(f.To), after, chunk)
		if err != nil {
			return fmt.Errorf("cannot export commissions: %w", err)
		}
		cs, err := collect(rows, scanCommission)
		if err != nil {
			return err
		}
		for _, c := range cs {
			if err := fn(c); err != nil {
				return err
			}
			after = c.ID
			n++
		}
		if len(cs) < chunk {
			return nil
		}
	}
	return nil
}

// PendingCommissions returns the approvable commissions among ids, or of
// orderID when ids is empty (bounded by limit).
func (s *Storage) PendingCommissions(ctx context.Context, orderID string, ids []int64, limit int) ([]Commission, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+commissionColumns+` FROM commissions
		WHERE state IN ('pending', 'partially_voided') AND (($1 <> '' AND order_id = $1) OR id = ANY($2))
		ORDER BY id LIMIT $3`, orderID, ids, limit)
	if err != nil {
		return nil, fmt.Errorf("cannot list pending commissions: %w", err)
	}
	return collect(rows, scanCommission)
}

// ExistingCommissionIDs returns which of ids exist.
func (s *Storage) ExistingCommissionIDs(ctx context.Context, ids []int64) (map[int64]bool, error) {
	rows, err := s.pool.Query(ctx, `SELECT id FROM commissions WHERE id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("cannot check commissions: %w", err)
	}
	defer rows.Close()
	out := map[int64]bool{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("cannot read commission id: %w", err)
		}
		out[id] = true
	}
	return out, rows.Err()
}
