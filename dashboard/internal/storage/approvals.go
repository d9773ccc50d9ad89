package storage

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/openaff/affiliate/pkg/events"
	"github.com/openaff/affiliate/pkg/ledger"
	"github.com/openaff/affiliate/pkg/money"
)

// MaxApproveBatch bounds one approval request (bulk approve).
const MaxApproveBatch = 5000

// ErrOrderUnsettled refuses to approve the commissions of an order that
// has changes the settlement pass has not applied yet.
var ErrOrderUnsettled = &FieldError{Field: "order_id",
	Msg: "has unsettled changes (cancelled, changed or re-attributed); wait for the next settlement pass", Err: ErrConflict}

// ErrOrderCancelled refuses to approve by order an order that is
// cancelled and settled: its commissions were voided.
var ErrOrderCancelled = &FieldError{Field: "order_id",
	Msg: "is cancelled: its commissions were voided and there is nothing to approve", Err: ErrConflict}

// Approval is what one approval request did.
type Approval struct {
	// Approved counts the commissions approved.
	Approved int
	// Skipped counts the pending commissions left pending because their
	// order has unsettled changes: it is cancelled, queued for the next
	// settlement pass, or attributed anew (the commission's attribution is
	// superseded). The pass voids or recomputes them first; approving them
	// now would credit money the pass then claws back.
	Skipped int
}

// ApproveCommissions is Approve returning only the approved count.
func (s *Storage) ApproveCommissions(ctx context.Context, l *ledger.Ledger, orderID string, ids []int64, adminID int64) (int, error) {
	a, err := s.Approve(ctx, l, orderID, ids, adminID)
	return a.Approved, err
}

// approveCandidateColumns are commissionColumns of c, the ledger
// reference and whether the commission must wait for the settlement pass:
// the guards of automatic approval (settler/internal/settle/approve.go).
const approveCandidateColumns = `c.id, c.order_id, c.line_id, c.partner_id, c.currency, c.base_minor, c.rate_upct,
	c.amount_minor, c.state, c.voided_amount_minor, c.clawed_back_amount_minor, c.created_at, c.approved_at, c.ledger_ref,
	(o.cancelled_at IS NOT NULL OR a.order_id IS NULL OR a.superseded_at IS NOT NULL
		OR EXISTS (SELECT 1 FROM settle_queue q WHERE q.order_id = c.order_id))`

// Approve approves the pending commissions of orderID, or the given ids:
// each one's pending ledger transfer is posted (split between available
// and reserve by the program's reserve share, the reserve released after
// the reserve period) and the row marked approved, all in one transaction.
// Commissions already approved (or voided) are not touched, so a repeat is
// a no-op. Like automatic approval it leaves alone commissions whose order
// has unsettled changes: by order that is ErrOrderUnsettled, by ids they
// are counted in Skipped.
func (s *Storage) Approve(ctx context.Context, l *ledger.Ledger, orderID string, ids []int64, adminID int64) (Approval, error) {
	if len(ids) > MaxApproveBatch {
		return Approval{}, &FieldError{Field: "ids", Msg: fmt.Sprintf("at most %d per request", MaxApproveBatch)}
	}
	p, err := s.Program(ctx)
	if err != nil {
		return Approval{}, err
	}
	var out Approval
	err = s.inMoneyTx(ctx, func(tx pgx.Tx) error {
		out = Approval{}
		todo, held, err := lockApprovable(ctx, tx, orderID, ids)
		if err != nil {
			return err
		}
		if orderID != "" {
			// Read after the locks were granted, so a settlement pass that
			// held them has committed and its queue row is gone. With
			// nothing pending, an order whose commissions were approved
			// before is a repeat ({"approved": 0}, whatever is queued
			// since); one with none approved is unsettled (a 409: the pass
			// has not decided it yet, or re-decides it).
			// A cancelled order the pass has settled has nothing left to
			// approve, for good: said so (a 409 asking to wait would be
			// answered forever).
			var cancelled, queued, approvedBefore bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM orders WHERE order_id = $1 AND cancelled_at IS NOT NULL),
				EXISTS (SELECT 1 FROM settle_queue WHERE order_id = $1),
				EXISTS (SELECT 1 FROM commissions WHERE order_id = $1 AND approved_at IS NOT NULL)`, orderID).Scan(&cancelled, &queued, &approvedBefore); err != nil {
				return fmt.Errorf("cannot check order settlement: %w", err)
			}
			pending := len(todo) > 0 || held > 0
			switch {
			case queued && (pending || !approvedBefore), cancelled && pending:
				return ErrOrderUnsettled
			case cancelled && !approvedBefore:
				return ErrOrderCancelled
			}
		}
		out.Skipped = held
		if len(todo) == 0 {
			return nil
		}
		n, err := approveLocked(ctx, tx, l, p, todo, adminID)
		out.Approved = n
		return err
	})
	if err != nil {
		return Approval{}, err
	}
	return out, nil
}

// approvable is a locked pending commission with its ledger reference
// (nil for a zero commission, which has nothing in the ledger).
type approvable struct {
	c   Commission
	ref *string
}

// lockApprovable locks the pending commissions of orderID or ids and
// returns those that may be approved now, and how many must wait for the
// settlement pass.
func lockApprovable(ctx context.Context, tx pgx.Tx, orderID string, ids []int64) ([]approvable, int, error) {
	rows, err := tx.Query(ctx, `SELECT id FROM commissions
		WHERE state IN ('pending', 'partially_voided') AND (($1 <> '' AND order_id = $1) OR id = ANY($2))
		ORDER BY id LIMIT $3 FOR UPDATE`, orderID, ids, MaxApproveBatch)
	if err != nil {
		return nil, 0, fmt.Errorf("cannot lock commissions: %w", err)
	}
	locked, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, 0, fmt.Errorf("cannot lock commissions: %w", err)
	}
	if len(locked) == 0 {
		return nil, 0, nil
	}
	// A second statement, so that it sees what committed while the locks
	// were awaited (a cancellation queued meanwhile, a pass finished).
	rows, err = tx.Query(ctx, `SELECT `+approveCandidateColumns+` FROM commissions c
		JOIN orders o ON o.order_id = c.order_id
		LEFT JOIN attributions a ON a.order_id = c.order_id AND a.version = c.attribution_version
		WHERE c.id = ANY($1) AND c.state IN ('pending', 'partially_voided') ORDER BY c.id`, locked)
	if err != nil {
		return nil, 0, fmt.Errorf("cannot read commissions: %w", err)
	}
	defer rows.Close()
	var todo []approvable
	held := 0
	for rows.Next() {
		var d approvable
		var wait bool
		c := &d.c
		if err := rows.Scan(&c.ID, &c.OrderID, &c.LineID, &c.PartnerID, &c.Currency, &c.BaseMinor, &c.RateUPct, &c.AmountMinor,
			&c.State, &c.VoidedAmountMinor, &c.ClawedBackAmountMinor, &c.CreatedAt, &c.ApprovedAt, &d.ref, &wait); err != nil {
			return nil, 0, fmt.Errorf("cannot read commission: %w", err)
		}
		if wait {
			held++
			continue
		}
		todo = append(todo, d)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("cannot read commissions: %w", err)
	}
	return todo, held, nil
}

// approveLocked posts the approvals of todo (locked by lockApprovable) and
// marks them approved; it returns how many rows it marked.
func approveLocked(ctx context.Context, tx pgx.Tx, l *ledger.Ledger, p Program, todo []approvable, adminID int64) (int, error) {
	now := time.Now().UTC()
	releaseAt := now.Add(p.ReservePeriod)
	var ops []ledger.Op
	idList := make([]int64, len(todo))
	for i, d := range todo {
		idList[i] = d.c.ID
		if d.ref == nil {
			continue // a zero commission has nothing in the ledger
		}
		// The settler's key and reference (settle/approve.go), so a
		// dashboard approval and an automatic one can never both post.
		key := "approve:" + *d.ref
		ops = append(ops, ledger.ApproveParams{Key: key, CommissionID: *d.ref,
			ReserveBasisPoints: p.ReserveUPct / 10000, ReleaseAt: releaseAt})
		if err := commissionFact(ctx, tx, d.c, *d.ref, key, now); err != nil {
			return 0, err
		}
	}
	if _, err := l.ApplyBatch(ctx, tx, ops); err != nil {
		return 0, fmt.Errorf("cannot post approvals: %w", err)
	}
	tag, err := tx.Exec(ctx, `UPDATE commissions SET state = 'approved', approved_at = $3, approved_by = $2, updated_at = $3
		WHERE id = ANY($1)`, idList, nullID(adminID), now)
	if err != nil {
		return 0, fmt.Errorf("cannot mark commissions approved: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// Payout is a payout request.
type Payout struct {
	ID          int64
	PartnerID   int64
	AmountMinor int64
	Currency    string
	Status      string
	IBAN        string
	Holder      string
	Reference   string
	Failure     string
	RequestedAt time.Time
	PaidAt      *time.Time
}

const payoutColumns = `id, partner_id, amount_minor, currency, status, coalesce(iban, ''), coalesce(holder, ''),
	coalesce(reference, ''), coalesce(failure_reason, ''), requested_at, paid_at`

func scanPayout(r pgx.Row) (Payout, error) {
	var p Payout
	err := r.Scan(&p.ID, &p.PartnerID, &p.AmountMinor, &p.Currency, &p.Status, &p.IBAN, &p.Holder, &p.Reference,
		&p.Failure, &p.RequestedAt, &p.PaidAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Payout{}, ErrNotFound
	}
	if err != nil {
		return Payout{}, fmt.Errorf("cannot read payout: %w", err)
	}
	return p, nil
}

// RequestPayout records a partner's payout request and reserves the
// amount in the ledger. It needs bank details and at least the program's
// minimum; the ledger refuses more than the available balance.
func (s *Storage) RequestPayout(ctx context.Context, l *ledger.Ledger, partnerID, userID, amountMinor int64, key string) (Payout, error) {
	prog, err := s.Program(ctx)
	if err != nil {
		return Payout{}, err
	}
	if amountMinor <= 0 {
		return Payout{}, &FieldError{Field: "amount", Msg: "must be positive"}
	}
	if amountMinor < prog.MinPayoutMinor {
		return Payout{}, &FieldError{Field: "amount", Msg: "is below the minimum payout"}
	}
	bank, err := s.BankAccount(ctx, partnerID)
	if errors.Is(err, ErrNotFound) {
		return Payout{}, &FieldError{Field: "iban", Msg: "add bank details first", Err: ErrConflict}
	}
	if err != nil {
		return Payout{}, err
	}
	h := requestHash([]any{"payout", partnerID, amountMinor, prog.Currency})
	var out Payout
	err = s.inMoneyTx(ctx, func(tx pgx.Tx) error {
		var id int64
		var stored []byte
		err := tx.QueryRow(ctx, `INSERT INTO payouts (partner_id, amount_minor, currency, idempotency_key, request_sha256, iban, holder, requested_by)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (idempotency_key) DO NOTHING RETURNING id`,
			partnerID, amountMinor, prog.Currency, key, h, bank.IBAN, bank.Holder, nullID(userID)).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			if err := tx.QueryRow(ctx, `SELECT id, request_sha256 FROM payouts WHERE idempotency_key = $1`, key).Scan(&id, &stored); err != nil {
				return fmt.Errorf("cannot read payout: %w", err)
			}
			if err := checkReplay(stored, h); err != nil {
				return err
			}
		} else if err != nil {
			return fmt.Errorf("cannot insert payout: %w", err)
		} else {
			pid := strconv.FormatInt(id, 10)
			if _, err := l.ApplyBatch(ctx, tx, []ledger.Op{ledger.PayoutRequestParams{Key: "payout:" + pid + ":request",
				PartnerID: ledgerPartner(partnerID), Currency: prog.Currency, AmountMinor: amountMinor, PayoutID: pid}}); err != nil {
				return err
			}
		}
		out, err = scanPayout(tx.QueryRow(ctx, `SELECT `+payoutColumns+` FROM payouts WHERE id = $1`, id))
		return err
	})
	return out, mapLedgerErr(err)
}

// factNamespace is the settler's namespace for commission fact ids
// (settler/internal/settle/facts.go): the fact of an approval has the id
// SHA1(namespace, ledger key) whoever approves.
var factNamespace = uuid.MustParse("0b6f4f1e-8f3c-4d55-a0a9-7c9d2e4b1f60")

// commissionFact enqueues the approved state of c on the outbox
// (commissions topic, mirrored into ClickHouse), as the settler does.
func commissionFact(ctx context.Context, tx pgx.Tx, c Commission, ref, key string, now time.Time) error {
	cur, err := money.ParseCurrency(c.Currency)
	if err != nil {
		return fmt.Errorf("commission %d: %w", c.ID, err)
	}
	f := events.Commission{EventID: uuid.NewSHA1(factNamespace, []byte(key)).String(), At: now,
		CommissionID: ref, OrderID: c.OrderID, LineID: c.LineID, PartnerID: strconv.FormatInt(c.PartnerID, 10),
		Currency: cur, AmountMinor: c.AmountMinor - c.VoidedAmountMinor - c.ClawedBackAmountMinor,
		State: events.StateApproved, BaseMinor: c.BaseMinor}
	_, err = tx.Exec(ctx, `INSERT INTO outbox (topic, event_id, key, payload, created_at) VALUES ('commissions', $1, $2, $3, $4)
		ON CONFLICT (event_id) DO NOTHING`, f.EventID, f.PartnerID, string(events.AppendCommission(nil, &f)), now)
	if err != nil {
		return fmt.Errorf("cannot enqueue commission fact: %w", err)
	}
	return nil
}

// mapLedgerErr turns ledger sentinels into field errors for the caller.
func mapLedgerErr(err error) error {
	var be *ledger.BatchError
	if errors.As(err, &be) {
		err = be.Err
	}
	switch {
	case errors.Is(err, ledger.ErrInsufficientFunds):
		return &FieldError{Field: "amount", Msg: "is more than the available balance", Err: ErrConflict}
	case errors.Is(err, ledger.ErrPendingResolved):
		return &FieldError{Field: "status", Msg: "is already decided", Err: ErrConflict}
	}
	return err
}

// Payouts lists payouts (of one partner when partnerID > 0, of a status
// when status != ""), newest first.
func (s *Storage) Payouts(ctx context.Context, partnerID int64, status string, pg Page) ([]Payout, bool, error) {
	pg = pg.Normalize()
	rows, err := s.pool.Query(ctx, `SELECT `+payoutColumns+` FROM payouts WHERE ($1 = 0 OR partner_id = $1) AND ($2 = '' OR status = $2)
		ORDER BY requested_at DESC, id DESC LIMIT $3 OFFSET $4`, partnerID, status, pg.Size+1, pg.Offset())
	if err != nil {
		return nil, false, fmt.Errorf("cannot list payouts: %w", err)
	}
	out, err := collect(rows, scanPayout)
	if err != nil {
		return nil, false, err
	}
	return trimPage(out, pg)
}

// DecidePayout marks a requested payout paid (with a bank reference) or
// failed (with a reason), with its ledger transfer. Deciding the same way
// twice is a no-op; the other way is a conflict.
func (s *Storage) DecidePayout(ctx context.Context, l *ledger.Ledger, id int64, paid bool, note string, adminID int64) error {
	err := s.inMoneyTx(ctx, func(tx pgx.Tx) error {
		var status string
		err := tx.QueryRow(ctx, `SELECT status FROM payouts WHERE id = $1 FOR UPDATE`, id).Scan(&status)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("cannot read payout: %w", err)
		}
		want := map[bool]string{true: "paid", false: "failed"}[paid]
		if status == want {
			return nil
		}
		if status != "requested" {
			return &FieldError{Field: "status", Msg: "the payout is already " + status, Err: ErrConflict}
		}
		pid := strconv.FormatInt(id, 10)
		var op ledger.Op = ledger.PayoutPaidParams{Key: "payout:" + pid + ":paid", PayoutID: pid}
		q := `UPDATE payouts SET status = 'paid', paid_at = now(), reference = $2, decided_by = $3 WHERE id = $1`
		if !paid {
			op = ledger.PayoutFailedParams{Key: "payout:" + pid + ":failed", PayoutID: pid}
			q = `UPDATE payouts SET status = 'failed', failed_at = now(), failure_reason = $2, decided_by = $3 WHERE id = $1`
		}
		if _, err := l.ApplyBatch(ctx, tx, []ledger.Op{op}); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, q, id, nullStr(note), nullID(adminID)); err != nil {
			return fmt.Errorf("cannot update payout: %w", err)
		}
		return nil
	})
	return mapLedgerErr(err)
}
