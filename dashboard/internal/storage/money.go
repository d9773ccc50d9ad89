package storage

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/openaff/affiliate/pkg/ledger"
)

// maxTxAttempts bounds the retries of a money transaction on a
// serialization failure or a concurrent insert of the same key.
const maxTxAttempts = 5

// inMoneyTx runs fn in a transaction with bounded retries on errors the
// ledger calls retryable.
func (s *Storage) inMoneyTx(ctx context.Context, fn func(pgx.Tx) error) error {
	var err error
	for attempt := 1; attempt <= maxTxAttempts; attempt++ {
		err = s.inTx(ctx, fn)
		if err == nil || !ledger.IsRetryable(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(attempt) * 5 * time.Millisecond):
		}
	}
	return err
}

// ledgerPartner is the partner id as the ledger spells it.
func ledgerPartner(id int64) string { return strconv.FormatInt(id, 10) }

// requestHash is the SHA-256 of a request's canonical JSON.
func requestHash(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("BUG: cannot encode request: " + err.Error())
	}
	h := sha256.Sum256(b)
	return h[:]
}

// ErrKeyReused reports an idempotency key already used with another request.
var ErrKeyReused = &FieldError{Field: "idempotency_key", Msg: "was already used with another request", Err: ErrConflict}

// checkReplay compares a stored request hash with the new one.
func checkReplay(stored, fresh []byte) error {
	if string(stored) != string(fresh) {
		return ErrKeyReused
	}
	return nil
}

// Adjustment is a manual balance adjustment.
type Adjustment struct {
	ID          int64
	PartnerID   int64
	AmountMinor int64
	Currency    string
	Reason      string
	Key         string
	CreatedAt   time.Time
}

// CreateAdjustment writes an adjustment and its ledger transfer in one
// transaction. A repeat with the same key and body returns the first.
func (s *Storage) CreateAdjustment(ctx context.Context, l *ledger.Ledger, a Adjustment, adminID int64) (Adjustment, error) {
	h := requestHash([]any{"adjustment", a.PartnerID, a.AmountMinor, a.Currency, a.Reason})
	err := s.inMoneyTx(ctx, func(tx pgx.Tx) error {
		if err := partnerExists(ctx, tx, a.PartnerID); err != nil {
			return err
		}
		var stored []byte
		err := tx.QueryRow(ctx, `INSERT INTO adjustments (partner_id, amount_minor, currency, reason, idempotency_key, request_sha256, created_by)
			VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (idempotency_key) DO NOTHING RETURNING id, created_at`,
			a.PartnerID, a.AmountMinor, a.Currency, a.Reason, a.Key, h, nullID(adminID)).Scan(&a.ID, &a.CreatedAt)
		if errors.Is(err, pgx.ErrNoRows) {
			if err := tx.QueryRow(ctx, `SELECT id, created_at, request_sha256 FROM adjustments WHERE idempotency_key = $1`,
				a.Key).Scan(&a.ID, &a.CreatedAt, &stored); err != nil {
				return fmt.Errorf("cannot read adjustment: %w", err)
			}
			return checkReplay(stored, h)
		}
		if err != nil {
			return fmt.Errorf("cannot insert adjustment: %w", err)
		}
		_, err = l.ApplyBatch(ctx, tx, []ledger.Op{ledger.AdjustmentParams{
			Key: "adjustment:" + strconv.FormatInt(a.ID, 10), PartnerID: ledgerPartner(a.PartnerID),
			Currency: a.Currency, AmountMinor: a.AmountMinor, Reason: a.Reason}})
		return err
	})
	return a, err
}

// Penalty is a shipping-fee penalty tied to an order.
type Penalty struct {
	ID          int64
	PartnerID   int64
	OrderID     string
	AmountMinor int64
	Currency    string
	Reason      string
	Key         string
	CreatedAt   time.Time
}

// CreatePenalty writes a penalty and its ledger transfer in one
// transaction. The order must exist and be, or have been, attributed to
// the partner: by a decision of the settler's, or by an admin's override
// or manual sale (counted at once, before the pass decides).
func (s *Storage) CreatePenalty(ctx context.Context, l *ledger.Ledger, p Penalty, adminID int64) (Penalty, error) {
	h := requestHash([]any{"penalty", p.PartnerID, p.OrderID, p.AmountMinor, p.Currency, p.Reason})
	err := s.inMoneyTx(ctx, func(tx pgx.Tx) error {
		if err := partnerExists(ctx, tx, p.PartnerID); err != nil {
			return err
		}
		var ok, theirs bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM orders WHERE order_id = $1),
			EXISTS (SELECT 1 FROM attributions WHERE order_id = $1 AND partner_id = $2)
			OR EXISTS (SELECT 1 FROM order_overrides WHERE order_id = $1 AND partner_id = $2)`, p.OrderID, p.PartnerID).Scan(&ok, &theirs); err != nil {
			return fmt.Errorf("cannot check order: %w", err)
		}
		if !ok {
			return &FieldError{Field: "order_id", Msg: "no such order", Err: ErrNotFound}
		}
		if !theirs {
			// Another partner's order: the penalty would charge this
			// partner for it and show them its id.
			return &FieldError{Field: "order_id", Msg: "is not attributed to this partner (now or before)", Err: ErrConflict}
		}
		var stored []byte
		err := tx.QueryRow(ctx, `INSERT INTO penalties (partner_id, order_id, amount_minor, currency, reason, idempotency_key, request_sha256, created_by)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (idempotency_key) DO NOTHING RETURNING id, created_at`,
			p.PartnerID, p.OrderID, p.AmountMinor, p.Currency, nullStr(p.Reason), p.Key, h, nullID(adminID)).Scan(&p.ID, &p.CreatedAt)
		if errors.Is(err, pgx.ErrNoRows) {
			if err := tx.QueryRow(ctx, `SELECT id, created_at, request_sha256 FROM penalties WHERE idempotency_key = $1`,
				p.Key).Scan(&p.ID, &p.CreatedAt, &stored); err != nil {
				return fmt.Errorf("cannot read penalty: %w", err)
			}
			return checkReplay(stored, h)
		}
		if err != nil {
			return fmt.Errorf("cannot insert penalty: %w", err)
		}
		_, err = l.ApplyBatch(ctx, tx, []ledger.Op{ledger.PenaltyParams{
			Key: "penalty:" + strconv.FormatInt(p.ID, 10), PartnerID: ledgerPartner(p.PartnerID),
			Currency: p.Currency, AmountMinor: p.AmountMinor, OrderID: p.OrderID}})
		return err
	})
	return p, err
}

// LedgerEntry is a line of a partner's money history (adjustments and
// penalties), shown on the admin's partner page and to the partner.
type LedgerEntry struct {
	ID          int64  // the adjustment's or the penalty's id
	Kind        string // adjustment or penalty
	AmountMinor int64  // signed as it moves the balance: a penalty is negative
	Currency    string
	OrderID     string // the penalised order; "" for an adjustment
	Reason      string // the admin's reason (may be "" for a penalty)
	// Note is the one-line summary: the reason, for a penalty prefixed
	// with "order <id>".
	Note string
	At   time.Time
}

// MoneyHistory lists a partner's latest adjustments and penalties, newest
// first, at most limit (and at most MaxPageSize) of them.
func (s *Storage) MoneyHistory(ctx context.Context, partnerID int64, limit int) ([]LedgerEntry, error) {
	es, _, err := s.MoneyHistoryPage(ctx, partnerID, Page{Size: limit})
	return es, err
}

// MoneyHistoryPage lists a page of a partner's adjustments and penalties,
// newest first. Each side reads only the rows the page can need, through
// its (partner_id, created_at) index.
func (s *Storage) MoneyHistoryPage(ctx context.Context, partnerID int64, pg Page) ([]LedgerEntry, bool, error) {
	pg = pg.Normalize()
	need := pg.Offset() + pg.Size + 1
	rows, err := s.pool.Query(ctx, `SELECT id, kind, amount, currency, order_id, reason, at FROM (
		(SELECT id, 'adjustment' AS kind, amount_minor AS amount, currency, '' AS order_id, reason, created_at AS at
			FROM adjustments WHERE partner_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2)
		UNION ALL
		(SELECT id, 'penalty', -amount_minor, currency, order_id, coalesce(reason, ''), created_at
			FROM penalties WHERE partner_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2)
	) x ORDER BY at DESC, kind, id DESC LIMIT $3 OFFSET $4`, partnerID, need, pg.Size+1, pg.Offset())
	if err != nil {
		return nil, false, fmt.Errorf("cannot list money history: %w", err)
	}
	out, err := collect(rows, func(r pgx.Row) (LedgerEntry, error) {
		var e LedgerEntry
		if err := r.Scan(&e.ID, &e.Kind, &e.AmountMinor, &e.Currency, &e.OrderID, &e.Reason, &e.At); err != nil {
			return LedgerEntry{}, fmt.Errorf("cannot read money history: %w", err)
		}
		e.Note = e.Reason
		if e.OrderID != "" {
			e.Note = "order " + e.OrderID
			if e.Reason != "" {
				e.Note += ": " + e.Reason
			}
		}
		return e, nil
	})
	if err != nil {
		return nil, false, err
	}
	return trimPage(out, pg)
}
