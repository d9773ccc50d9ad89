package ledger

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// MaxPageSize bounds Statement and ReserveSchedule pages.
const MaxPageSize = 1000

// Balance is a partner's money in one currency, the shape of DESIGN §4.4.
type Balance struct {
	Currency string
	// PendingMinor is accrued commission not yet approved nor voided.
	PendingMinor int64
	// AvailableMinor is what the partner may withdraw now; it may be negative after a
	// clawback or penalty, and excludes requested payouts and store credit (InFlightMinor).
	AvailableMinor int64
	// ReservedMinor is the reserve share of approved commissions not yet released.
	ReservedMinor int64
	// PaidOutMinor is the total paid out.
	PaidOutMinor int64
	// InFlightMinor is requested payouts and store credit not yet paid, approved or rejected.
	InFlightMinor int64
}

// Balance returns the partner's balance in currency; a partner without accounts has a
// zero balance.
func (l *Ledger) Balance(ctx context.Context, partnerID, currency string) (Balance, error) {
	if err := checkText("PartnerID", partnerID, false); err != nil {
		return Balance{}, err
	}
	if !validCurrency(currency) {
		return Balance{}, &FieldError{Field: "Currency", Msg: fmt.Sprintf("%q is not a 3-letter upper-case ISO 4217 code", currency)}
	}
	bs, err := l.balances(ctx, partnerID, currency)
	if err != nil {
		return Balance{}, err
	}
	if len(bs) == 0 {
		return Balance{Currency: currency}, nil
	}
	return bs[0], nil
}

// Balances returns the partner's balance in every currency it has accounts in, sorted by currency.
func (l *Ledger) Balances(ctx context.Context, partnerID string) ([]Balance, error) {
	if err := checkText("PartnerID", partnerID, false); err != nil {
		return nil, err
	}
	return l.balances(ctx, partnerID, "")
}

func (l *Ledger) balances(ctx context.Context, partnerID, currency string) ([]Balance, error) {
	rows, err := l.pool.Query(ctx, `
		SELECT currency, kind, debits_pending, credits_pending, debits_posted, credits_posted
		FROM ledger_accounts
		WHERE owner = $1 AND ($2 = '' OR currency = $2)
		ORDER BY currency`, PartnerOwner(partnerID), currency)
	if err != nil {
		return nil, fmt.Errorf("cannot read balance of partner %q: %w", partnerID, err)
	}
	defer rows.Close()
	var out []Balance
	for rows.Next() {
		var cur, kind string
		var a account
		if err := rows.Scan(&cur, &kind, &a.dp, &a.cp, &a.dpo, &a.cpo); err != nil {
			return nil, fmt.Errorf("cannot read balance of partner %q: %w", partnerID, err)
		}
		if len(out) == 0 || out[len(out)-1].Currency != cur {
			out = append(out, Balance{Currency: cur})
		}
		b := &out[len(out)-1]
		switch kind {
		case KindAvailable:
			b.PendingMinor = a.cp
			b.AvailableMinor = availableOf(&a)
			b.InFlightMinor = a.dp
		case KindReserved:
			b.ReservedMinor = a.cpo - a.dpo
		case KindPaidOut:
			b.PaidOutMinor = a.cpo - a.dpo
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot read balance of partner %q: %w", partnerID, err)
	}
	return out, nil
}

// StatementParams selects a page of an account's postings.
type StatementParams struct {
	PartnerID string
	Currency  string
	// Kind is the partner account kind; "" means KindAvailable.
	Kind string
	// AfterID is the keyset cursor: only postings with a larger id are returned (0 = from the start).
	AfterID int64
	// Limit is the page size, 1..MaxPageSize; 0 means 100.
	Limit int
}

// Entry is one line of a statement.
type Entry struct {
	PostingID  int64
	TransferID int64
	Operation  string
	Reference  string // commission, payout, store-credit request or order id
	Note       string // adjustment reason, store-credit customer id
	// Phase is "posted", "pending" (amount reserved) or "release" (a pending amount posted or voided).
	Phase       string
	AmountMinor int64 // > 0 credit, < 0 debit
	// BalanceMinor is the account's posted balance (credits - debits) after this posting.
	BalanceMinor int64
	At           time.Time
}

// Statement returns one page of the postings of a partner's account, oldest first, with
// the running posted balance, and the cursor of the next page (0 when this page is the last).
func (l *Ledger) Statement(ctx context.Context, p StatementParams) ([]Entry, int64, error) {
	if err := checkText("PartnerID", p.PartnerID, false); err != nil {
		return nil, 0, err
	}
	if !validCurrency(p.Currency) {
		return nil, 0, &FieldError{Field: "Currency", Msg: fmt.Sprintf("%q is not a 3-letter upper-case ISO 4217 code", p.Currency)}
	}
	switch p.Kind {
	case "":
		p.Kind = KindAvailable
	case KindAvailable, KindReserved, KindPaidOut:
	default:
		return nil, 0, &FieldError{Field: "Kind", Msg: fmt.Sprintf("%q is not a partner account kind", p.Kind)}
	}
	if p.Limit < 0 || p.Limit > MaxPageSize {
		return nil, 0, &FieldError{Field: "Limit", Msg: fmt.Sprintf("%d is outside 0..%d", p.Limit, MaxPageSize)}
	}
	if p.Limit == 0 {
		p.Limit = 100
	}
	rows, err := l.pool.Query(ctx, `
		SELECT p.id, p.transfer_id, t.operation, t.reference, t.note, p.phase, p.amount_minor, p.posted_after, t.created_at
		FROM ledger_accounts a
		JOIN ledger_postings p ON p.account_id = a.id
		JOIN ledger_transfers t ON t.id = p.transfer_id
		WHERE a.owner = $1 AND a.kind = $2 AND a.currency = $3 AND p.id > $4
		ORDER BY p.id
		LIMIT $5`, PartnerOwner(p.PartnerID), p.Kind, p.Currency, p.AfterID, p.Limit+1)
	if err != nil {
		return nil, 0, fmt.Errorf("cannot read statement: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Entry, error) {
		var e Entry
		var phase int16
		err := row.Scan(&e.PostingID, &e.TransferID, &e.Operation, &e.Reference, &e.Note, &phase, &e.AmountMinor, &e.BalanceMinor, &e.At)
		e.Phase = phaseName(phase)
		return e, err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("cannot read statement: %w", err)
	}
	var next int64
	if len(out) > p.Limit {
		out = out[:p.Limit]
		next = out[len(out)-1].PostingID
	}
	return out, next, nil
}

func phaseName(p int16) string {
	switch p {
	case phasePosted:
		return "posted"
	case phasePending:
		return "pending"
	case phaseRelease:
		return "release"
	}
	panic(fmt.Sprintf("BUG: unknown phase %d", p))
}

// ReserveEntry is one commission's reserve still held.
type ReserveEntry struct {
	CommissionID string
	HeldMinor    int64
	ReleaseAt    time.Time
}

// ReserveSchedule returns, soonest first, up to limit (1..MaxPageSize) reserves of the
// partner in currency that are still held, and when each is due for release.
func (l *Ledger) ReserveSchedule(ctx context.Context, partnerID, currency string, limit int) ([]ReserveEntry, error) {
	if err := checkText("PartnerID", partnerID, false); err != nil {
		return nil, err
	}
	if limit < 1 || limit > MaxPageSize {
		return nil, &FieldError{Field: "limit", Msg: fmt.Sprintf("%d is outside 1..%d", limit, MaxPageSize)}
	}
	rows, err := l.pool.Query(ctx, `
		SELECT commission_id, held_minor, release_at FROM ledger_reserves
		WHERE partner_id = $1 AND currency = $2 AND held_minor > 0
		ORDER BY release_at, commission_id
		LIMIT $3`, partnerID, currency, limit)
	if err != nil {
		return nil, fmt.Errorf("cannot read reserve schedule: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (ReserveEntry, error) {
		var r ReserveEntry
		err := row.Scan(&r.CommissionID, &r.HeldMinor, &r.ReleaseAt)
		return r, err
	})
	if err != nil {
		return nil, fmt.Errorf("cannot read reserve schedule: %w", err)
	}
	return out, nil
}

// ReleaseDue releases, in one transaction, up to limit (1..MaxBatchOps) reserves whose
// release time is at or before now, and returns how many it released. Each release uses
// the idempotency key "release:<commission id>", so concurrent callers never release
// twice (rows another caller holds are skipped; SKIP LOCKED never waits, so this select
// needs no lock order). Call it until it returns 0.
func (l *Ledger) ReleaseDue(ctx context.Context, now time.Time, limit int) (int, error) {
	if limit < 1 || limit > MaxBatchOps {
		return 0, &FieldError{Field: "limit", Msg: fmt.Sprintf("%d is outside 1..%d", limit, MaxBatchOps)}
	}
	n := 0
	err := l.inTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `
			SELECT commission_id FROM ledger_reserves
			WHERE held_minor > 0 AND release_at <= $1
			ORDER BY release_at
			LIMIT $2
			FOR UPDATE SKIP LOCKED`, now, limit)
		if err != nil {
			return fmt.Errorf("cannot select due reserves: %w", err)
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return fmt.Errorf("cannot select due reserves: %w", err)
		}
		ops := make([]Op, len(ids))
		for i, id := range ids {
			ops[i] = ReleaseReserveParams{Key: "release:" + id, CommissionID: id}
		}
		n = len(ops)
		_, err = l.ApplyBatch(ctx, tx, ops)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("cannot release due reserves: %w", err)
	}
	return n, nil
}
