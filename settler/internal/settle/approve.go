package settle

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/openaff/affiliate/pkg/ledger"
)

type approveRow struct {
	OrderID string
	commissionRow
}

// AutoApprove approves, as of now, the pending commissions of settled
// orders delivered at least the program's auto_approve_after ago (when it
// is not 0s): the ledger posts what remains of each, the reserve share held
// until now + reserve_period. It works in batches and returns the count.
func (s *Settler) AutoApprove(ctx context.Context, now time.Time) (Counts, error) {
	var total Counts
	for i := 0; i < s.opts.MaxBatches; i++ {
		var c Counts
		err := s.inTx(ctx, func(tx pgx.Tx) error {
			c = Counts{}
			prog, err := loadProgram(ctx, tx)
			if err != nil || prog.AutoApproveAfter <= 0 {
				return err
			}
			rows, err := tx.Query(ctx, `SELECT c.order_id, c.id, c.line_id, c.attribution_version, c.partner_id, c.currency,
c.base_minor, c.amount_minor, c.voided_amount_minor, c.clawed_back_amount_minor, c.state, c.ledger_ref
FROM commissions c
JOIN orders o ON o.order_id = c.order_id
JOIN attributions a ON a.order_id = c.order_id AND a.version = c.attribution_version AND a.superseded_at IS NULL
WHERE c.state IN ('pending', 'partially_voided') AND o.delivered_at <= $1
  AND o.cancelled_at IS NULL AND NOT EXISTS (SELECT 1 FROM settle_queue q WHERE q.order_id = o.order_id)
ORDER BY c.id LIMIT $2 FOR UPDATE OF c SKIP LOCKED`, now.Add(-prog.AutoApproveAfter), s.opts.BatchSize)
			if err != nil {
				return fmt.Errorf("cannot read commissions due for approval: %w", err)
			}
			due, err := pgx.CollectRows(rows, pgx.RowToStructByPos[approveRow])
			if err != nil {
				return fmt.Errorf("cannot read commissions due for approval: %w", err)
			}
			c.Approved = len(due)
			return s.approve(ctx, tx, prog, due, now)
		})
		total.add(c)
		if err != nil {
			return total, fmt.Errorf("cannot auto-approve: %w", err)
		}
		if c.Approved < s.opts.BatchSize {
			return total, nil
		}
	}
	return total, fmt.Errorf("auto-approval stopped after %d batches", s.opts.MaxBatches)
}

func (s *Settler) approve(ctx context.Context, tx pgx.Tx, prog Program, due []approveRow, now time.Time) error {
	b := &batch{now: now}
	var ops []ledger.Op
	ids := make([]int64, len(due))
	for i, r := range due {
		ids[i] = r.ID
		if r.LedgerRef == nil {
			continue // a zero commission has nothing in the ledger
		}
		key := "approve:" + *r.LedgerRef
		ops = append(ops, ledger.ApproveParams{Key: key, CommissionID: *r.LedgerRef,
			ReserveBasisPoints: prog.ReserveBasisPoints, ReleaseAt: now.Add(prog.ReservePeriod)})
		r.State = "approved"
		b.addFact(r.OrderID, &r.commissionRow, key)
	}
	if err := flushFacts(ctx, tx, b); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE commissions SET state = 'approved', approved_at = $2, updated_at = $2 WHERE id = ANY($1)`, ids, now); err != nil {
		return fmt.Errorf("cannot mark commissions approved: %w", err)
	}
	if _, err := s.ledger.ApplyBatch(ctx, tx, ops); err != nil {
		return fmt.Errorf("cannot approve in the ledger: %w", err)
	}
	return nil
}

// ReleaseReserves releases, through the ledger, every reserve due at now.
func (s *Settler) ReleaseReserves(ctx context.Context, now time.Time) (Counts, error) {
	var c Counts
	for i := 0; i < s.opts.MaxBatches; i++ {
		n, err := s.ledger.ReleaseDue(ctx, now, s.opts.BatchSize)
		c.Released += n
		if err != nil {
			return c, err
		}
		if n < s.opts.BatchSize {
			return c, nil
		}
	}
	return c, fmt.Errorf("reserve release stopped after %d batches", s.opts.MaxBatches)
}
