package ledger

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"reflect"
	"time"
	"unicode/utf8"
)

// Op is one partner-money operation for ApplyBatch: one of the *Params types of this
// package (AccrueParams, ApproveParams, ...).
type Op interface {
	request() (request, error)
}

// opKind names an operation; it is stored in ledger_transfers.operation.
type opKind string

const (
	opAccrue              opKind = "accrue"
	opAccrueGroup         opKind = "accrue_group"
	opVoid                opKind = "void"
	opPartialVoid         opKind = "partial_void"
	opApprove             opKind = "approve"
	opReleaseReserve      opKind = "release_reserve"
	opClawback            opKind = "clawback"
	opPenalty             opKind = "penalty"
	opAdjustment          opKind = "adjustment"
	opPayoutRequest       opKind = "payout_request"
	opPayoutPaid          opKind = "payout_paid"
	opPayoutFailed        opKind = "payout_failed"
	opStoreCreditRequest  opKind = "store_credit_request"
	opStoreCreditApproved opKind = "store_credit_approved"
	opStoreCreditRejected opKind = "store_credit_rejected"
)

// request is a validated, normalised operation.
type request struct {
	op        opKind
	key       string
	hash      []byte
	partnerID string // empty when it comes from the referenced pending transfer or reserve
	currency  string
	ref       string // commission, payout or store-credit request id; order id for penalties
	amount    int64  // signed only for adjustments
	bp        int64
	releaseAt time.Time
	note      string
	items     []GroupAccrual // AccrueGroup only: the commissions; ref is the group, amount their total
}

// AccrueParams records a pending commission: a pending transfer from the program's
// commission expense to the partner, resolved later by Approve, Void or PartialVoid.
type AccrueParams struct {
	Key          string `json:"-"`
	PartnerID    string
	Currency     string
	AmountMinor  int64
	CommissionID string
}

// AccrueGroupParams records several pending commissions of one partner and currency (the
// lines of one order) as one pending transfer of their total: two postings instead of two
// per commission. Every commission still gets its own pending state, under its own id, and
// is resolved on its own afterwards (Approve, Void, PartialVoid by CommissionID) exactly as
// if it had been accrued alone; each resolution releases its part of the shared transfer.
// GroupID is the transfer's reference (the order), for statements; the transfer's note
// records the split (JSON: [{"CommissionID", "AmountMinor"}, ...]).
type AccrueGroupParams struct {
	Key         string `json:"-"`
	PartnerID   string
	Currency    string
	GroupID     string
	Commissions []GroupAccrual
}

// GroupAccrual is one commission of an AccrueGroupParams.
type GroupAccrual struct {
	CommissionID string
	AmountMinor  int64
}

func (p AccrueGroupParams) commissionCount() int { return len(p.Commissions) }

// maxGroupCommissions bounds the commissions of one AccrueGroupParams.
const maxGroupCommissions = 10000

// VoidParams voids whatever remains of a pending commission (cancelled or refunded before approval).
type VoidParams struct {
	Key          string `json:"-"`
	CommissionID string
}

// PartialVoidParams voids part of a pending commission (a partial refund before approval).
// A commission may be partially voided several times; a partial void of all that remains
// closes it like Void.
type PartialVoidParams struct {
	Key          string `json:"-"`
	CommissionID string
	AmountMinor  int64
}

// ApproveParams posts a pending commission: AmountMinor of it, or all that remains when
// AmountMinor is 0 (a partial post voids the rest, as in TigerBeetle). ReserveBasisPoints/10000
// of the posted amount (rounded down) goes to the partner's reserve until ReleaseAt, the
// rest to available.
type ApproveParams struct {
	Key                string `json:"-"`
	CommissionID       string
	ReserveBasisPoints int64
	ReleaseAt          time.Time
	AmountMinor        int64 `json:",omitempty"`
}

// ReleaseReserveParams moves what a commission's reserve still holds to available.
type ReleaseReserveParams struct {
	Key          string `json:"-"`
	CommissionID string
}

// ClawbackParams takes back part of an approved commission (a refund after approval):
// first from that commission's reserve, then from available, which may go negative.
type ClawbackParams struct {
	Key          string `json:"-"`
	CommissionID string
	AmountMinor  int64
}

// PenaltyParams charges the partner (e.g. a shipping-fee penalty); available may go negative.
type PenaltyParams struct {
	Key         string `json:"-"`
	PartnerID   string
	Currency    string
	AmountMinor int64
	OrderID     string
}

// AdjustmentParams credits (AmountMinor > 0) or debits (< 0) the partner's available balance.
type AdjustmentParams struct {
	Key         string `json:"-"`
	PartnerID   string
	Currency    string
	AmountMinor int64
	Reason      string
}

// PayoutRequestParams reserves AmountMinor of the partner's available balance for a payout;
// it fails with ErrInsufficientFunds when available is lower.
type PayoutRequestParams struct {
	Key         string `json:"-"`
	PartnerID   string
	Currency    string
	AmountMinor int64
	PayoutID    string
}

// PayoutPaidParams records that a requested payout was paid.
type PayoutPaidParams struct {
	Key      string `json:"-"`
	PayoutID string
}

// PayoutFailedParams records that a requested payout failed: the money goes back to available.
type PayoutFailedParams struct {
	Key      string `json:"-"`
	PayoutID string
}

// StoreCreditRequestParams reserves AmountMinor of available for store credit on a
// customer account; it fails with ErrInsufficientFunds when available is lower.
type StoreCreditRequestParams struct {
	Key         string `json:"-"`
	PartnerID   string
	Currency    string
	AmountMinor int64
	RequestID   string
	CustomerID  string
}

// StoreCreditApprovedParams records that the admin approved a store-credit request.
type StoreCreditApprovedParams struct {
	Key       string `json:"-"`
	RequestID string
}

// StoreCreditRejectedParams records that the admin rejected a store-credit request: the
// money goes back to available.
type StoreCreditRejectedParams struct {
	Key       string `json:"-"`
	RequestID string
}

func (p AccrueParams) request() (request, error) {
	r := request{op: opAccrue, key: p.Key, partnerID: p.PartnerID, currency: p.Currency, ref: p.CommissionID, amount: p.AmountMinor}
	return r.check(p, "CommissionID", true, true)
}

func (p AccrueGroupParams) request() (request, error) {
	n := len(p.Commissions)
	if n == 0 || n > maxGroupCommissions {
		return request{}, &FieldError{Field: "Commissions", Msg: fmt.Sprintf("%d commissions, want 1..%d", n, maxGroupCommissions)}
	}
	var total int64
	seen := make(map[string]bool, n)
	field := func(i int, name string) string { return fmt.Sprintf("Commissions[%d].%s", i, name) }
	for i, c := range p.Commissions {
		if err := checkText("CommissionID", c.CommissionID, false); err != nil {
			err.(*FieldError).Field = field(i, "CommissionID")
			return request{}, err
		}
		if seen[c.CommissionID] {
			return request{}, &FieldError{Field: field(i, "CommissionID"), Msg: fmt.Sprintf("%q appears twice", c.CommissionID)}
		}
		seen[c.CommissionID] = true
		if c.AmountMinor <= 0 || c.AmountMinor > MaxAmountMinor {
			return request{}, &FieldError{Field: field(i, "AmountMinor"), Msg: fmt.Sprintf("%d is outside 1..%d", c.AmountMinor, MaxAmountMinor)}
		}
		total += c.AmountMinor // no overflow: n ≤ 10^4 amounts ≤ 2^49
	}
	if total > MaxAmountMinor {
		return request{}, &FieldError{Field: "Commissions", Msg: fmt.Sprintf("total %d is above %d", total, MaxAmountMinor)}
	}
	// The split is recorded on the (append-only) transfer as its note, a JSON array of
	// {CommissionID, AmountMinor}: Verify checks every commission's pending row against it.
	split, err := json.Marshal(p.Commissions)
	if err != nil {
		panic(fmt.Sprintf("BUG: cannot encode group accrual: %v", err))
	}
	r := request{op: opAccrueGroup, key: p.Key, partnerID: p.PartnerID, currency: p.Currency, ref: p.GroupID,
		amount: total, items: p.Commissions, note: string(split)}
	return r.check(p, "GroupID", true, true)
}

func (p VoidParams) request() (request, error) {
	r := request{op: opVoid, key: p.Key, ref: p.CommissionID}
	return r.check(p, "CommissionID", false, false)
}

func (p PartialVoidParams) request() (request, error) {
	r := request{op: opPartialVoid, key: p.Key, ref: p.CommissionID, amount: p.AmountMinor}
	return r.check(p, "CommissionID", false, true)
}

func (p ApproveParams) request() (request, error) {
	if p.ReserveBasisPoints < 0 || p.ReserveBasisPoints > 10000 {
		return request{}, &FieldError{Field: "ReserveBasisPoints", Msg: fmt.Sprintf("%d is outside 0..10000", p.ReserveBasisPoints)}
	}
	if p.ReleaseAt.IsZero() {
		return request{}, &FieldError{Field: "ReleaseAt", Msg: "must be set"}
	}
	// Postgres keeps microseconds; normalise so the hash of a replay read back matches.
	p.ReleaseAt = p.ReleaseAt.UTC().Truncate(time.Microsecond)
	if p.AmountMinor < 0 || p.AmountMinor > MaxAmountMinor {
		return request{}, &FieldError{Field: "AmountMinor", Msg: fmt.Sprintf("%d is outside 0..%d", p.AmountMinor, MaxAmountMinor)}
	}
	r := request{op: opApprove, key: p.Key, ref: p.CommissionID, bp: p.ReserveBasisPoints, releaseAt: p.ReleaseAt, amount: p.AmountMinor}
	return r.check(p, "CommissionID", false, false)
}

func (p ReleaseReserveParams) request() (request, error) {
	r := request{op: opReleaseReserve, key: p.Key, ref: p.CommissionID}
	return r.check(p, "CommissionID", false, false)
}

func (p ClawbackParams) request() (request, error) {
	r := request{op: opClawback, key: p.Key, ref: p.CommissionID, amount: p.AmountMinor}
	return r.check(p, "CommissionID", false, true)
}

func (p PenaltyParams) request() (request, error) {
	r := request{op: opPenalty, key: p.Key, partnerID: p.PartnerID, currency: p.Currency, ref: p.OrderID, amount: p.AmountMinor}
	return r.check(p, "OrderID", true, true)
}

func (p AdjustmentParams) request() (request, error) {
	if p.AmountMinor == 0 {
		return request{}, &FieldError{Field: "AmountMinor", Msg: "must not be zero"}
	}
	if p.AmountMinor < -MaxAmountMinor || p.AmountMinor > MaxAmountMinor {
		return request{}, &FieldError{Field: "AmountMinor", Msg: fmt.Sprintf("%d is beyond ±%d", p.AmountMinor, MaxAmountMinor)}
	}
	if err := checkText("Reason", p.Reason, true); err != nil {
		return request{}, err
	}
	r := request{op: opAdjustment, key: p.Key, partnerID: p.PartnerID, currency: p.Currency, amount: p.AmountMinor, note: p.Reason}
	return r.check(p, "", true, false)
}

func (p PayoutRequestParams) request() (request, error) {
	r := request{op: opPayoutRequest, key: p.Key, partnerID: p.PartnerID, currency: p.Currency, ref: p.PayoutID, amount: p.AmountMinor}
	return r.check(p, "PayoutID", true, true)
}

func (p PayoutPaidParams) request() (request, error) {
	r := request{op: opPayoutPaid, key: p.Key, ref: p.PayoutID}
	return r.check(p, "PayoutID", false, false)
}

func (p PayoutFailedParams) request() (request, error) {
	r := request{op: opPayoutFailed, key: p.Key, ref: p.PayoutID}
	return r.check(p, "PayoutID", false, false)
}

func (p StoreCreditRequestParams) request() (request, error) {
	if err := checkText("CustomerID", p.CustomerID, false); err != nil {
		return request{}, err
	}
	r := request{op: opStoreCreditRequest, key: p.Key, partnerID: p.PartnerID, currency: p.Currency, ref: p.RequestID, amount: p.AmountMinor, note: p.CustomerID}
	return r.check(p, "RequestID", true, true)
}

func (p StoreCreditApprovedParams) request() (request, error) {
	r := request{op: opStoreCreditApproved, key: p.Key, ref: p.RequestID}
	return r.check(p, "RequestID", false, false)
}

func (p StoreCreditRejectedParams) request() (request, error) {
	r := request{op: opStoreCreditRejected, key: p.Key, ref: p.RequestID}
	return r.check(p, "RequestID", false, false)
}

// check validates the common fields of r and computes its request hash from body, the
// params struct (whose Key is excluded by its json tag). refField names the reference
// field ("" when the op has none); withPartner and positiveAmount say what r must carry.
func (r request) check(body any, refField string, withPartner, positiveAmount bool) (request, error) {
	if err := checkText("Key", r.key, false); err != nil {
		return request{}, err
	}

	if refField != "" {
		if err := checkText(refField, r.ref, false); err != nil {
			return request{}, err
		}
	}
	if withPartner {
		if err := checkText("PartnerID", r.partnerID, false); err != nil {
			return request{}, err
		}
		if !validCurrency(r.currency) {
			return request{}, &FieldError{Field: "Currency", Msg: fmt.Sprintf("%q is not a 3-letter upper-case ISO 4217 code", r.currency)}
		}
	}
	if positiveAmount && (r.amount <= 0 || r.amount > MaxAmountMinor) {
		return request{}, &FieldError{Field: "AmountMinor", Msg: fmt.Sprintf("%d is outside 1..%d", r.amount, MaxAmountMinor)}
	}
	r.hash = requestHash(r.op, body)
	return r, nil
}

// requestHash is the SHA-256 of the canonical request body: the operation name and the
// JSON encoding of its params (fields in declaration order, idempotency key excluded).
// A field added to a params type later must be `json:",omitempty"` so that requests
// recorded before it keep their hash.
// (ApproveParams.AmountMinor is one.)
func requestHash(op opKind, body any) []byte {
	b, err := json.Marshal(body)
	if err != nil {
		panic(fmt.Sprintf("BUG: cannot encode %s request: %v", op, err))
	}
	h := sha256.New()
	h.Write([]byte(op))
	h.Write([]byte{0})
	h.Write(b)
	return h.Sum(nil)
}

func checkText(field, s string, emptyOK bool) error {
	limit := maxTextBytes
	if field == "Key" {
		limit = maxKeyBytes
	}
	switch {
	case s == "" && !emptyOK:
		return &FieldError{Field: field, Msg: "must not be empty"}
	case len(s) > limit:
		return &FieldError{Field: field, Msg: fmt.Sprintf("%d bytes, at most %d", len(s), limit)}
	case !utf8.ValidString(s):
		return &FieldError{Field: field, Msg: "not valid UTF-8"}
	}
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			return &FieldError{Field: field, Msg: "contains a NUL byte"}
		}
	}
	return nil
}

func validCurrency(c string) bool {
	if len(c) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		if c[i] < 'A' || c[i] > 'Z' {
			return false
		}
	}
	return true
}

func newRequest(op Op) (request, error) {
	if op == nil {
		return request{}, &FieldError{Field: "op", Msg: "is nil"}
	}
	return op.request()
}

// opKey returns the Key field of an operation that failed validation (every params type has one).
func opKey(op Op) string {
	v := reflect.Indirect(reflect.ValueOf(op))
	if v.Kind() != reflect.Struct {
		return ""
	}
	if f := v.FieldByName("Key"); f.IsValid() && f.Kind() == reflect.String {
		return f.String()
	}
	return ""
}

// Accrue records a pending commission. See AccrueParams.
func (l *Ledger) Accrue(ctx context.Context, p AccrueParams) (Transfer, error) { return l.one(ctx, p) }

// AccrueGroup records several pending commissions as one transfer. See AccrueGroupParams.
func (l *Ledger) AccrueGroup(ctx context.Context, p AccrueGroupParams) (Transfer, error) {
	return l.one(ctx, p)
}

// Void voids what remains of a pending commission. See VoidParams.
func (l *Ledger) Void(ctx context.Context, p VoidParams) (Transfer, error) { return l.one(ctx, p) }

// PartialVoid voids part of a pending commission. See PartialVoidParams.
func (l *Ledger) PartialVoid(ctx context.Context, p PartialVoidParams) (Transfer, error) {
	return l.one(ctx, p)
}

// Approve posts a pending commission, split between available and reserve. See ApproveParams.
func (l *Ledger) Approve(ctx context.Context, p ApproveParams) (Transfer, error) {
	return l.one(ctx, p)
}

// ReleaseReserve releases one commission's reserve to available. See ReleaseReserveParams.
func (l *Ledger) ReleaseReserve(ctx context.Context, p ReleaseReserveParams) (Transfer, error) {
	return l.one(ctx, p)
}

// Clawback takes back part of an approved commission. See ClawbackParams.
func (l *Ledger) Clawback(ctx context.Context, p ClawbackParams) (Transfer, error) {
	return l.one(ctx, p)
}

// Penalty charges the partner. See PenaltyParams.
func (l *Ledger) Penalty(ctx context.Context, p PenaltyParams) (Transfer, error) {
	return l.one(ctx, p)
}

// Adjustment credits or debits the partner. See AdjustmentParams.
func (l *Ledger) Adjustment(ctx context.Context, p AdjustmentParams) (Transfer, error) {
	return l.one(ctx, p)
}

// PayoutRequest reserves available money for a payout. See PayoutRequestParams.
func (l *Ledger) PayoutRequest(ctx context.Context, p PayoutRequestParams) (Transfer, error) {
	return l.one(ctx, p)
}

// PayoutPaid records a paid payout. See PayoutPaidParams.
func (l *Ledger) PayoutPaid(ctx context.Context, p PayoutPaidParams) (Transfer, error) {
	return l.one(ctx, p)
}

// PayoutFailed records a failed payout. See PayoutFailedParams.
func (l *Ledger) PayoutFailed(ctx context.Context, p PayoutFailedParams) (Transfer, error) {
	return l.one(ctx, p)
}

// StoreCreditRequest reserves available money for store credit. See StoreCreditRequestParams.
func (l *Ledger) StoreCreditRequest(ctx context.Context, p StoreCreditRequestParams) (Transfer, error) {
	return l.one(ctx, p)
}

// StoreCreditApproved records an approved store-credit request. See StoreCreditApprovedParams.
func (l *Ledger) StoreCreditApproved(ctx context.Context, p StoreCreditApprovedParams) (Transfer, error) {
	return l.one(ctx, p)
}

// StoreCreditRejected records a rejected store-credit request. See StoreCreditRejectedParams.
func (l *Ledger) StoreCreditRejected(ctx context.Context, p StoreCreditRejectedParams) (Transfer, error) {
	return l.one(ctx, p)
}
