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

// storeCreditNamespace derives the store_credits event id from the
// request id, so approving twice enqueues the same event.
var storeCreditNamespace = uuid.MustParse("5d0c2a57-3f0e-4a8e-9a55-2b61f1d7c9a4")

// StoreCredit is a partner's request to move balance into store credit on
// a customer account.
type StoreCredit struct {
	ID          int64
	PartnerID   int64
	CustomerID  string
	AmountMinor int64
	Currency    string
	Status      string
	Reason      string
	RequestedAt time.Time
}

const storeCreditColumns = `id, partner_id, customer_id, amount_minor, currency, status, coalesce(reason, ''), requested_at`

func scanStoreCredit(r pgx.Row) (StoreCredit, error) {
	var c StoreCredit
	err := r.Scan(&c.ID, &c.PartnerID, &c.CustomerID, &c.AmountMinor, &c.Currency, &c.Status, &c.Reason, &c.RequestedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return StoreCredit{}, ErrNotFound
	}
	if err != nil {
		return StoreCredit{}, fmt.Errorf("cannot read store credit request: %w", err)
	}
	return c, nil
}

// ErrNoCreditableCustomer is the answer for a customer account a
// store-credit request cannot name. Like the claim flow's answer ("no
// unbound customer with that e-mail") it says the account cannot be used,
// not why, so a refusal added later can share it.
var ErrNoCreditableCustomer = &FieldError{Field: "customer",
	Msg: "names no customer account that can receive store credit (check the id or e-mail)", Err: ErrNotFound}

// RequestStoreCredit records a partner's store-credit request for the
// customer with the given id or e-mail (of several accounts with that
// e-mail, the oldest, as CustomerID resolves it) and reserves the amount.
// The amount and the available balance are checked before the customer is
// looked up, so a partner who cannot pay cannot use the request to learn
// which customer accounts exist (ErrNoCreditableCustomer otherwise); a
// replay of a recorded request skips the balance check (the reservation
// it made is in the balance).
func (s *Storage) RequestStoreCredit(ctx context.Context, l *ledger.Ledger, partnerID, userID int64, customer string, amountMinor int64, key string) (StoreCredit, error) {
	prog, err := s.Program(ctx)
	if err != nil {
		return StoreCredit{}, err
	}
	if amountMinor <= 0 {
		return StoreCredit{}, &FieldError{Field: "amount", Msg: "must be positive"}
	}
	recorded := func() (bool, error) {
		var ok bool
		if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM store_credit_requests WHERE idempotency_key = $1)`,
			key).Scan(&ok); err != nil {
			return false, fmt.Errorf("cannot read store credit request: %w", err)
		}
		return ok, nil
	}
	replay, err := recorded()
	if err != nil {
		return StoreCredit{}, err
	}
	if !replay {
		// The ledger checks again when it reserves; this check only comes
		// first so that the customer lookup below answers no one who
		// could not pay.
		bal, err := l.Balance(ctx, ledgerPartner(partnerID), prog.Currency)
		if err != nil {
			return StoreCredit{}, fmt.Errorf("cannot read balance: %w", err)
		}
		if bal.AvailableMinor < amountMinor {
			// A copy of this request (a double-submitted form) recorded
			// since the check above holds what the balance lacks: this is
			// its replay, not a refusal.
			if replay, err = recorded(); err != nil {
				return StoreCredit{}, err
			}
			if !replay {
				return StoreCredit{}, mapLedgerErr(ledger.ErrInsufficientFunds)
			}
		}
	}
	var customerID string
	err = s.pool.QueryRow(ctx, `SELECT customer_id FROM customers WHERE customer_id = $1 OR lower(email) = lower($1)
		ORDER BY customer_id = $1 DESC, first_seen_at, customer_id LIMIT 1`, customer).Scan(&customerID)
	if errors.Is(err, pgx.ErrNoRows) {
		if replay {
			// A recorded request names an existing account, so this is
			// another request; answered as one naming another existing
			// account would be, so a reused key probes nothing.
			return StoreCredit{}, ErrKeyReused
		}
		// Said now rather than held until the admin rejects it: the shop
		// can only credit an existing account.
		return StoreCredit{}, ErrNoCreditableCustomer
	}
	if err != nil {
		return StoreCredit{}, fmt.Errorf("cannot find customer: %w", err)
	}
	h := requestHash([]any{"store_credit", partnerID, customerID, amountMinor, prog.Currency})
	var out StoreCredit
	err = s.inMoneyTx(ctx, func(tx pgx.Tx) error {
		var id int64
		var stored []byte
		err := tx.QueryRow(ctx, `INSERT INTO store_credit_requests (partner_id, customer_id, amount_minor, currency, idempotency_key, request_sha256, requested_by)
			VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (idempotency_key) DO NOTHING RETURNING id`,
			partnerID, customerID, amountMinor, prog.Currency, key, h, nullID(userID)).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			if err := tx.QueryRow(ctx, `SELECT id, request_sha256 FROM store_credit_requests WHERE idempotency_key = $1`, key).Scan(&id, &stored); err != nil {
				return fmt.Errorf("cannot read store credit request: %w", err)
			}
			if err := checkReplay(stored, h); err != nil {
				return err
			}
		} else if err != nil {
			return fmt.Errorf("cannot insert store credit request: %w", err)
		} else {
			rid := strconv.FormatInt(id, 10)
			if _, err := l.ApplyBatch(ctx, tx, []ledger.Op{ledger.StoreCreditRequestParams{Key: "store_credit:" + rid + ":request",
				PartnerID: ledgerPartner(partnerID), Currency: prog.Currency, AmountMinor: amountMinor, RequestID: rid,
				CustomerID: customerID}}); err != nil {
				return err
			}
		}
		out, err = scanStoreCredit(tx.QueryRow(ctx, `SELECT `+storeCreditColumns+` FROM store_credit_requests WHERE id = $1`, id))
		return err
	})
	return out, mapLedgerErr(err)
}

// StoreCredits lists store-credit requests (one partner's when partnerID >
// 0, of a status when status != ""), newest first.
func (s *Storage) StoreCredits(ctx context.Context, partnerID int64, status string, pg Page) ([]StoreCredit, bool, error) {
	pg = pg.Normalize()
	rows, err := s.pool.Query(ctx, `SELECT `+storeCreditColumns+` FROM store_credit_requests
		WHERE ($1 = 0 OR partner_id = $1) AND ($2 = '' OR status = $2)
		ORDER BY requested_at DESC, id DESC LIMIT $3 OFFSET $4`, partnerID, status, pg.Size+1, pg.Offset())
	if err != nil {
		return nil, false, fmt.Errorf("cannot list store credit requests: %w", err)
	}
	out, err := collect(rows, scanStoreCredit)
	if err != nil {
		return nil, false, err
	}
	return trimPage(out, pg)
}

// DecideStoreCredit approves (telling the shop on the store_credits topic
// through the outbox) or rejects (with a reason; the money returns to
// available) a requested store-credit transfer.
func (s *Storage) DecideStoreCredit(ctx context.Context, l *ledger.Ledger, id int64, approve bool, reason string, adminID int64) error {
	err := s.inMoneyTx(ctx, func(tx pgx.Tx) error {
		c, err := scanStoreCredit(tx.QueryRow(ctx, `SELECT `+storeCreditColumns+` FROM store_credit_requests WHERE id = $1 FOR UPDATE`, id))
		if err != nil {
			return err
		}
		want := map[bool]string{true: "approved", false: "rejected"}[approve]
		if c.Status == want {
			return nil
		}
		if c.Status != "requested" {
			return &FieldError{Field: "status", Msg: "the request is already " + c.Status, Err: ErrConflict}
		}
		rid := strconv.FormatInt(id, 10)
		if !approve {
			if _, err := l.ApplyBatch(ctx, tx, []ledger.Op{ledger.StoreCreditRejectedParams{Key: "store_credit:" + rid + ":rejected", RequestID: rid}}); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `UPDATE store_credit_requests SET status = 'rejected', reason = $2, decided_by = $3, decided_at = now()
				WHERE id = $1`, id, reason, nullID(adminID))
			return err
		}
		if _, err := l.ApplyBatch(ctx, tx, []ledger.Op{ledger.StoreCreditApprovedParams{Key: "store_credit:" + rid + ":approved", RequestID: rid}}); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE store_credit_requests SET status = 'approved', decided_by = $2, decided_at = now()
			WHERE id = $1`, id, nullID(adminID)); err != nil {
			return fmt.Errorf("cannot approve store credit: %w", err)
		}
		cur, err := money.ParseCurrency(c.Currency)
		if err != nil {
			return fmt.Errorf("store credit %d: %w", id, err)
		}
		ev := events.StoreCredit{EventID: uuid.NewSHA1(storeCreditNamespace, []byte(rid)).String(), At: time.Now().UTC(),
			RequestID: rid, PartnerID: strconv.FormatInt(c.PartnerID, 10), CustomerID: c.CustomerID, Currency: cur,
			AmountMinor: c.AmountMinor}
		payload := events.AppendStoreCredit(nil, &ev)
		_, err = tx.Exec(ctx, `INSERT INTO outbox (topic, event_id, key, payload) VALUES ('store_credits', $1, $2, $3)
			ON CONFLICT (event_id) DO NOTHING`, ev.EventID, c.CustomerID, string(payload))
		if err != nil {
			return fmt.Errorf("cannot enqueue store credit event: %w", err)
		}
		return nil
	})
	return mapLedgerErr(err)
}
