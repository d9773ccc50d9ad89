package ledger

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/openaff/affiliate/pkg/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// newLedger returns a Ledger on a fresh, migrated database.
func newLedger(t testing.TB, maxConns int32) (*Ledger, *pgxpool.Pool) {
	t.Helper()
	url := testenv.Get(t).PostgresURL(t)
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatalf("ParseConfig: %v", err)
	}
	cfg.MaxConns = maxConns
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatalf("pgxpool: %v", err)
	}
	t.Cleanup(pool.Close)
	return New(pool, Options{}), pool
}

func mustVerify(t testing.TB, l *Ledger) {
	t.Helper()
	r, err := l.Verify(context.Background())
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if !r.OK() {
		t.Fatalf("Verify found differences:\n%s", r)
	}
}

func mustBalance(t testing.TB, l *Ledger, partner string, want Balance) {
	t.Helper()
	got, err := l.Balance(context.Background(), partner, want.Currency)
	if err != nil {
		t.Fatalf("Balance(%q): %v", partner, err)
	}
	if got != want {
		t.Fatalf("Balance(%q) = %+v, want %+v", partner, got, want)
	}
}

func count(t testing.TB, pool *pgxpool.Pool, table string) int64 {
	t.Helper()
	var n int64
	if err := pool.QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

// TestLifecycle walks one partner through every operation and checks the balance after each.
func TestLifecycle(t *testing.T) {
	l, _ := newLedger(t, 4)
	ctx := context.Background()
	const p, cur = "p1", "EUR"
	now := time.Now().UTC()
	step := func(name string, err error, want Balance) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want.Currency = cur
		mustBalance(t, l, p, want)
	}
	fails := func(name string, err, want error) {
		t.Helper()
		if !errors.Is(err, want) {
			t.Fatalf("%s: error %v, want %v", name, err, want)
		}
	}

	_, err := l.Accrue(ctx, AccrueParams{Key: "a1", PartnerID: p, Currency: cur, AmountMinor: 1000, CommissionID: "c1"})
	step("accrue c1", err, Balance{PendingMinor: 1000})
	// A refund of part of the order before approval.
	_, err = l.PartialVoid(ctx, PartialVoidParams{Key: "pv1", CommissionID: "c1", AmountMinor: 300})
	step("partial void c1", err, Balance{PendingMinor: 700})
	_, err = l.PartialVoid(ctx, PartialVoidParams{Key: "pv2", CommissionID: "c1", AmountMinor: 701})
	fails("partial void beyond what remains", err, ErrExceedsRemaining)
	// 10 % of 700 = 70 to the reserve.
	_, err = l.Approve(ctx, ApproveParams{Key: "ap1", CommissionID: "c1", ReserveBasisPoints: 1000, ReleaseAt: now.Add(time.Hour)})
	step("approve c1", err, Balance{AvailableMinor: 630, ReservedMinor: 70})
	_, err = l.Approve(ctx, ApproveParams{Key: "ap1b", CommissionID: "c1", ReserveBasisPoints: 1000, ReleaseAt: now})
	fails("second approval", err, ErrPendingResolved)
	_, err = l.Void(ctx, VoidParams{Key: "v1", CommissionID: "c1"})
	fails("void after approval", err, ErrPendingResolved)
	// A refund after approval: 70 from the reserve, 30 from available.
	_, err = l.Clawback(ctx, ClawbackParams{Key: "cb1", CommissionID: "c1", AmountMinor: 100})
	step("clawback c1", err, Balance{AvailableMinor: 600})
	_, err = l.Clawback(ctx, ClawbackParams{Key: "cb2", CommissionID: "c1", AmountMinor: 601})
	fails("clawback beyond approved", err, ErrExceedsRemaining)
	_, err = l.ReleaseReserve(ctx, ReleaseReserveParams{Key: "r1", CommissionID: "c1"})
	fails("release of a clawed-back reserve", err, ErrNothingToRelease)

	_, err = l.Accrue(ctx, AccrueParams{Key: "a2", PartnerID: p, Currency: cur, AmountMinor: 505, CommissionID: "c2"})
	step("accrue c2", err, Balance{PendingMinor: 505, AvailableMinor: 600})
	// 10 % of 505 = 50.5, rounded down to 50.
	_, err = l.Approve(ctx, ApproveParams{Key: "ap2", CommissionID: "c2", ReserveBasisPoints: 1000, ReleaseAt: now.Add(-time.Minute)})
	step("approve c2", err, Balance{AvailableMinor: 1055, ReservedMinor: 50})
	sched, err := l.ReserveSchedule(ctx, p, cur, 10)
	if err != nil || len(sched) != 1 || sched[0].CommissionID != "c2" || sched[0].HeldMinor != 50 {
		t.Fatalf("ReserveSchedule = %+v, %v; want c2 holding 50", sched, err)
	}
	n, err := l.ReleaseDue(ctx, now, 100)
	if n != 1 {
		t.Fatalf("ReleaseDue released %d, want 1", n)
	}
	step("release due", err, Balance{AvailableMinor: 1105})
	if n, err := l.ReleaseDue(ctx, now, 100); n != 0 || err != nil {
		t.Fatalf("second ReleaseDue = %d, %v; want 0, nil", n, err)
	}

	_, err = l.Penalty(ctx, PenaltyParams{Key: "pen1", PartnerID: p, Currency: cur, AmountMinor: 200, OrderID: "o1"})
	step("penalty", err, Balance{AvailableMinor: 905})
	_, err = l.Adjustment(ctx, AdjustmentParams{Key: "adj1", PartnerID: p, Currency: cur, AmountMinor: 50, Reason: "bonus"})
	step("adjustment +", err, Balance{AvailableMinor: 955})
	_, err = l.Adjustment(ctx, AdjustmentParams{Key: "adj2", PartnerID: p, Currency: cur, AmountMinor: -25, Reason: "fix"})
	step("adjustment -", err, Balance{AvailableMinor: 930})

	_, err = l.PayoutRequest(ctx, PayoutRequestParams{Key: "po1", PartnerID: p, Currency: cur, AmountMinor: 931, PayoutID: "po1"})
	fails("payout beyond available", err, ErrInsufficientFunds)
	_, err = l.PayoutRequest(ctx, PayoutRequestParams{Key: "po1", PartnerID: p, Currency: cur, AmountMinor: 900, PayoutID: "po1"})
	step("payout request", err, Balance{AvailableMinor: 30, InFlightMinor: 900})
	_, err = l.PayoutPaid(ctx, PayoutPaidParams{Key: "po1-paid", PayoutID: "po1"})
	step("payout paid", err, Balance{AvailableMinor: 30, PaidOutMinor: 900})
	_, err = l.PayoutFailed(ctx, PayoutFailedParams{Key: "po1-failed", PayoutID: "po1"})
	fails("failing a paid payout", err, ErrPendingResolved)
	_, err = l.PayoutRequest(ctx, PayoutRequestParams{Key: "po2", PartnerID: p, Currency: cur, AmountMinor: 30, PayoutID: "po2"})
	step("payout request 2", err, Balance{InFlightMinor: 30, PaidOutMinor: 900})
	_, err = l.PayoutFailed(ctx, PayoutFailedParams{Key: "po2-failed", PayoutID: "po2"})
	step("payout failed", err, Balance{AvailableMinor: 30, PaidOutMinor: 900})

	_, err = l.StoreCreditRequest(ctx, StoreCreditRequestParams{Key: "sc1", PartnerID: p, Currency: cur, AmountMinor: 20, RequestID: "sc1", CustomerID: "cust9"})
	step("store credit request", err, Balance{AvailableMinor: 10, InFlightMinor: 20, PaidOutMinor: 900})
	_, err = l.StoreCreditApproved(ctx, StoreCreditApprovedParams{Key: "sc1-ok", RequestID: "sc1"})
	step("store credit approved", err, Balance{AvailableMinor: 10, PaidOutMinor: 900})
	_, err = l.StoreCreditRequest(ctx, StoreCreditRequestParams{Key: "sc2", PartnerID: p, Currency: cur, AmountMinor: 10, RequestID: "sc2", CustomerID: "cust9"})
	step("store credit request 2", err, Balance{InFlightMinor: 10, PaidOutMinor: 900})
	_, err = l.StoreCreditRejected(ctx, StoreCreditRejectedParams{Key: "sc2-no", RequestID: "sc2"})
	step("store credit rejected", err, Balance{AvailableMinor: 10, PaidOutMinor: 900})

	// A partial post: 60 of 100 approved, the other 40 voided with it.
	_, err = l.Accrue(ctx, AccrueParams{Key: "a3", PartnerID: p, Currency: cur, AmountMinor: 100, CommissionID: "c3"})
	step("accrue c3", err, Balance{PendingMinor: 100, AvailableMinor: 10, PaidOutMinor: 900})
	_, err = l.Approve(ctx, ApproveParams{Key: "ap3", CommissionID: "c3", ReleaseAt: now, AmountMinor: 101})
	fails("approve more than pending", err, ErrExceedsRemaining)
	_, err = l.Approve(ctx, ApproveParams{Key: "ap3", CommissionID: "c3", ReleaseAt: now, AmountMinor: 60})
	step("partial approve c3", err, Balance{AvailableMinor: 70, PaidOutMinor: 900})
	_, err = l.PartialVoid(ctx, PartialVoidParams{Key: "pv3", CommissionID: "c3", AmountMinor: 1})
	fails("void after a partial post", err, ErrPendingResolved)

	_, err = l.Void(ctx, VoidParams{Key: "v9", CommissionID: "nope"})
	fails("void of an unknown commission", err, ErrNotFound)
	_, err = l.Accrue(ctx, AccrueParams{Key: "a1-again", PartnerID: p, Currency: cur, AmountMinor: 1, CommissionID: "c1"})
	fails("second accrual of a commission", err, ErrDuplicateReference)
	mustVerify(t, l)

	// The statement of available: the running posted balance ends at 70.
	entries, next, err := l.Statement(ctx, StatementParams{PartnerID: p, Currency: cur, Limit: 5})
	if err != nil || len(entries) != 5 || next == 0 {
		t.Fatalf("Statement page 1 = %d entries, next %d, %v", len(entries), next, err)
	}
	var last Entry
	for pages := 0; next != 0; pages++ {
		if pages > 100 {
			t.Fatal("Statement does not end")
		}
		var page []Entry
		page, next, err = l.Statement(ctx, StatementParams{PartnerID: p, Currency: cur, AfterID: next, Limit: 5})
		if err != nil {
			t.Fatalf("Statement: %v", err)
		}
		if len(page) > 0 {
			last = page[len(page)-1]
		}
	}
	if last.BalanceMinor != 70 || last.Operation != "approve" || last.Reference != "c3" {
		t.Fatalf("last statement entry = %+v, want the approval of c3 with balance 70", last)
	}
}

// TestIdempotency: the same key and body replays, another body conflicts, concurrent
// repeats write once.
func TestIdempotency(t *testing.T) {
	l, pool := newLedger(t, 10)
	ctx := context.Background()
	p := AdjustmentParams{Key: "k1", PartnerID: "p1", Currency: "USD", AmountMinor: 500, Reason: "welcome"}
	first, err := l.Adjustment(ctx, p)
	if err != nil || first.Replayed {
		t.Fatalf("first Adjustment = %+v, %v", first, err)
	}
	postings := count(t, pool, "ledger_postings")
	again, err := l.Adjustment(ctx, p)
	if err != nil || !again.Replayed || again.ID != first.ID {
		t.Fatalf("repeat Adjustment = %+v, %v; want replay of %d", again, err, first.ID)
	}
	if n := count(t, pool, "ledger_postings"); n != postings {
		t.Fatalf("a replay wrote postings: %d, want %d", n, postings)
	}
	p.AmountMinor = 501
	if _, err := l.Adjustment(ctx, p); !errors.Is(err, ErrIdempotencyConflict) {
		t.Fatalf("same key, other amount: %v, want ErrIdempotencyConflict", err)
	}
	// The same key for another operation is a conflict too.
	if _, err := l.Penalty(ctx, PenaltyParams{Key: "k1", PartnerID: "p1", Currency: "USD", AmountMinor: 500, OrderID: "o"}); !errors.Is(err, ErrIdempotencyConflict) {
		t.Fatalf("same key, other operation: %v, want ErrIdempotencyConflict", err)
	}
	mustBalance(t, l, "p1", Balance{Currency: "USD", AvailableMinor: 500})

	// Concurrent repeats: exactly one writes, all return the same transfer.
	const workers = 8
	for round := range 5 {
		op := AccrueParams{Key: "acc-" + string(rune('a'+round)), PartnerID: "p2", Currency: "USD", AmountMinor: 100, CommissionID: "c" + string(rune('a'+round))}
		var wg sync.WaitGroup
		results := make([]Transfer, workers)
		errs := make([]error, workers)
		for w := range workers {
			wg.Go(func() { results[w], errs[w] = l.Accrue(ctx, op) })
		}
		wg.Wait()
		fresh := 0
		for w := range workers {
			if errs[w] != nil {
				t.Fatalf("round %d worker %d: %v", round, w, errs[w])
			}
			if results[w].ID != results[0].ID {
				t.Fatalf("round %d: transfer ids differ: %d and %d", round, results[w].ID, results[0].ID)
			}
			if !results[w].Replayed {
				fresh++
			}
		}
		if fresh != 1 {
			t.Fatalf("round %d: %d workers wrote, want exactly 1", round, fresh)
		}
	}
	mustBalance(t, l, "p2", Balance{Currency: "USD", PendingMinor: 500})

	// In one batch: a repeat replays the first, a changed body fails the whole batch.
	out, err := l.Batch(ctx, []Op{
		AdjustmentParams{Key: "b1", PartnerID: "p3", Currency: "USD", AmountMinor: 7, Reason: "x"},
		AdjustmentParams{Key: "b1", PartnerID: "p3", Currency: "USD", AmountMinor: 7, Reason: "x"},
	})
	if err != nil || out[0].ID != out[1].ID || !out[1].Replayed {
		t.Fatalf("batch with a repeat = %+v, %v", out, err)
	}
	_, err = l.Batch(ctx, []Op{
		AdjustmentParams{Key: "b2", PartnerID: "p3", Currency: "USD", AmountMinor: 7, Reason: "x"},
		AdjustmentParams{Key: "b2", PartnerID: "p3", Currency: "USD", AmountMinor: 8, Reason: "x"},
	})
	var be *BatchError
	if !errors.As(err, &be) || be.Index != 1 || !errors.Is(err, ErrIdempotencyConflict) {
		t.Fatalf("batch with a conflicting repeat: %v, want BatchError at 1 with ErrIdempotencyConflict", err)
	}
	mustBalance(t, l, "p3", Balance{Currency: "USD", AvailableMinor: 7})
	mustVerify(t, l)
}

// TestDuplicateReferenceInBatch: an accrual, payout or store-credit request for a
// reference that already has a pending transfer (under another key) fails its batch with
// ErrDuplicateReference naming that operation, whether the batch's pending rows go in by
// INSERT (few) or by COPY (many), and writes nothing.
func TestDuplicateReferenceInBatch(t *testing.T) {
	l, pool := newLedger(t, 4)
	ctx := context.Background()
	if _, err := l.Batch(ctx, []Op{
		AccrueParams{Key: "first", PartnerID: "p1", Currency: "EUR", AmountMinor: 100, CommissionID: "taken"},
		AdjustmentParams{Key: "funds", PartnerID: "p1", Currency: "EUR", AmountMinor: 1000, Reason: "x"},
		PayoutRequestParams{Key: "pay-first", PartnerID: "p1", Currency: "EUR", AmountMinor: 10, PayoutID: "pay-taken"},
		StoreCreditRequestParams{Key: "sc-first", PartnerID: "p1", Currency: "EUR", AmountMinor: 10, RequestID: "sc-taken", CustomerID: "cu"},
	}); err != nil {
		t.Fatal(err)
	}
	transfers, pendings := count(t, pool, "ledger_transfers"), count(t, pool, "ledger_pending")
	for _, tc := range []struct {
		name string
		dup  Op
	}{
		{"accrual", AccrueParams{Key: "second", PartnerID: "p1", Currency: "EUR", AmountMinor: 5, CommissionID: "taken"}},
		{"payout", PayoutRequestParams{Key: "pay-second", PartnerID: "p1", Currency: "EUR", AmountMinor: 5, PayoutID: "pay-taken"}},
		{"store credit", StoreCreditRequestParams{Key: "sc-second", PartnerID: "p1", Currency: "EUR", AmountMinor: 5, RequestID: "sc-taken", CustomerID: "cu"}},
		{"group accrual", AccrueGroupParams{Key: "group-second", PartnerID: "p1", Currency: "EUR", GroupID: "o",
			Commissions: []GroupAccrual{{CommissionID: "fresh", AmountMinor: 3}, {CommissionID: "taken", AmountMinor: 5}}}},
	} {
		for _, size := range []int{3, 2 * copyThreshold} {
			var ops []Op
			for i := range size {
				ops = append(ops, AccrueParams{Key: fmt.Sprintf("%s-%d-%d", tc.name, size, i), PartnerID: "p2", Currency: "EUR",
					AmountMinor: 1, CommissionID: fmt.Sprintf("%s-%d-%d", tc.name, size, i)})
			}
			at := size - 2
			ops[at] = tc.dup
			_, err := l.Batch(ctx, ops)
			var be *BatchError
			if !errors.As(err, &be) || be.Index != at || !errors.Is(err, ErrDuplicateReference) {
				t.Errorf("%s in a batch of %d: %v; want BatchError at %d with ErrDuplicateReference", tc.name, size, err, at)
			}
		}
	}
	if n, m := count(t, pool, "ledger_transfers"), count(t, pool, "ledger_pending"); n != transfers || m != pendings {
		t.Errorf("refused batches wrote: %d transfers and %d pending rows, want %d and %d", n, m, transfers, pendings)
	}
	mustVerify(t, l)
}

// TestValidation: bad input fails before any database work, naming the field.
func TestValidation(t *testing.T) {
	f := func(op Op, field string) {
		t.Helper()
		_, err := newRequest(op)
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != field || !errors.Is(err, ErrInvalid) {
			t.Fatalf("newRequest(%#v) = %v, want a FieldError on %s", op, err, field)
		}
	}
	ok := AccrueParams{Key: "k", PartnerID: "p", Currency: "EUR", AmountMinor: 1, CommissionID: "c"}
	if _, err := newRequest(ok); err != nil {
		t.Fatalf("valid accrual refused: %v", err)
	}
	// every required text field
	f(AccrueParams{PartnerID: "p", Currency: "EUR", AmountMinor: 1, CommissionID: "c"}, "Key")
	f(AccrueParams{Key: "k", Currency: "EUR", AmountMinor: 1, CommissionID: "c"}, "PartnerID")
	f(AccrueParams{Key: "k", PartnerID: "p", AmountMinor: 1, CommissionID: "c"}, "Currency")
	f(AccrueParams{Key: "k", PartnerID: "p", Currency: "EUR", AmountMinor: 1}, "CommissionID")
	// currency must be an upper-case ISO code
	f(AccrueParams{Key: "k", PartnerID: "p", Currency: "eur", AmountMinor: 1, CommissionID: "c"}, "Currency")
	// amounts: positive and bounded
	f(AccrueParams{Key: "k", PartnerID: "p", Currency: "EUR", AmountMinor: 0, CommissionID: "c"}, "AmountMinor")
	f(AccrueParams{Key: "k", PartnerID: "p", Currency: "EUR", AmountMinor: -5, CommissionID: "c"}, "AmountMinor")
	f(AccrueParams{Key: "k", PartnerID: "p", Currency: "EUR", AmountMinor: MaxAmountMinor + 1, CommissionID: "c"}, "AmountMinor")
	f(AdjustmentParams{Key: "k", PartnerID: "p", Currency: "EUR"}, "AmountMinor")
	f(PartialVoidParams{Key: "k", CommissionID: "c"}, "AmountMinor")
	// the reserve share is 0..100 %
	f(ApproveParams{Key: "k", CommissionID: "c", ReserveBasisPoints: 10001, ReleaseAt: time.Now()}, "ReserveBasisPoints")
	f(ApproveParams{Key: "k", CommissionID: "c", ReserveBasisPoints: -1, ReleaseAt: time.Now()}, "ReserveBasisPoints")
	f(ApproveParams{Key: "k", CommissionID: "c", ReserveBasisPoints: 1000}, "ReleaseAt")
	f(ApproveParams{Key: "k", CommissionID: "c", ReleaseAt: time.Now(), AmountMinor: -1}, "AmountMinor")
	// ids are bounded and clean text
	f(PayoutPaidParams{Key: "k", PayoutID: string(make([]byte, 201))}, "PayoutID")
	f(PayoutPaidParams{Key: "k", PayoutID: "a\x00b"}, "PayoutID")
	f(PayoutPaidParams{Key: "k", PayoutID: "\xff"}, "PayoutID")
	f(StoreCreditRequestParams{Key: "k", PartnerID: "p", Currency: "EUR", AmountMinor: 1, RequestID: "r"}, "CustomerID")
	// group accruals: 1..10000 distinct commissions, each amount and the total bounded
	g := func(cs ...GroupAccrual) AccrueGroupParams {
		return AccrueGroupParams{Key: "k", PartnerID: "p", Currency: "EUR", GroupID: "o", Commissions: cs}
	}
	f(g(), "Commissions")
	f(g(make([]GroupAccrual, maxGroupCommissions+1)...), "Commissions")
	f(g(GroupAccrual{AmountMinor: 1}), "Commissions[0].CommissionID")
	f(g(GroupAccrual{"a", 1}, GroupAccrual{"a", 2}), "Commissions[1].CommissionID")
	f(g(GroupAccrual{"a", 1}, GroupAccrual{"b", 0}), "Commissions[1].AmountMinor")
	f(g(GroupAccrual{"a", MaxAmountMinor}, GroupAccrual{"b", 1}), "Commissions")
	noGroup := g(GroupAccrual{"a", 1})
	noGroup.GroupID = ""
	f(noGroup, "GroupID")
	f(nil, "op")

	// A batch names the failing operation and its key.
	_, err := (&Ledger{}).ApplyBatch(context.Background(), nil, []Op{ok, AccrueParams{Key: "bad", PartnerID: "p"}})
	var be *BatchError
	if !errors.As(err, &be) || be.Index != 1 || be.Key != "bad" || !errors.Is(err, ErrInvalid) {
		t.Fatalf("ApplyBatch with an invalid operation = %v, want a BatchError for index 1, key \"bad\"", err)
	}
}

// TestAppendOnly: the database itself refuses to rewrite transfers and postings.
func TestAppendOnly(t *testing.T) {
	l, pool := newLedger(t, 2)
	ctx := context.Background()
	if _, err := l.Accrue(ctx, AccrueParams{Key: "k", PartnerID: "p", Currency: "EUR", AmountMinor: 5, CommissionID: "c"}); err != nil {
		t.Fatal(err)
	}
	for _, sql := range []string{
		"UPDATE ledger_postings SET amount_minor = amount_minor * 2",
		"DELETE FROM ledger_postings",
		"TRUNCATE ledger_postings CASCADE",
		"UPDATE ledger_transfers SET amount_minor = 1",
		"DELETE FROM ledger_transfers",
		"TRUNCATE ledger_transfers CASCADE",
		// accounts and state rows are updated in place, never deleted
		"DELETE FROM ledger_accounts",
		"TRUNCATE ledger_accounts CASCADE",
		"DELETE FROM ledger_pending",
		"TRUNCATE ledger_reserves",
	} {
		_, err := pool.Exec(ctx, sql)
		if err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Fatalf("%s: error %v, want the append-only refusal", sql, err)
		}
	}
	if n := count(t, pool, "ledger_postings"); n != 2 {
		t.Fatalf("postings after refused changes: %d, want 2", n)
	}
	mustVerify(t, l)
}
