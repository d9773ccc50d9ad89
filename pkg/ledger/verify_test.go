package ledger

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestVerifyFindsDamage: Verify names exactly what was damaged behind the ledger's back.
func TestVerifyFindsDamage(t *testing.T) {
	l, pool := newLedger(t, 2)
	ctx := context.Background()
	if _, err := l.Accrue(ctx, AccrueParams{Key: "a", PartnerID: "p", Currency: "EUR", AmountMinor: 100, CommissionID: "c"}); err != nil {
		t.Fatal(err)
	}
	adj, err := l.Adjustment(ctx, AdjustmentParams{Key: "j", PartnerID: "p", Currency: "EUR", AmountMinor: 40, Reason: "r"})
	if err != nil {
		t.Fatal(err)
	}
	mustVerify(t, l)
	var avail int64
	if err := pool.QueryRow(ctx, `SELECT id FROM ledger_accounts WHERE owner = 'partner:p' AND kind = 'available'`).Scan(&avail); err != nil {
		t.Fatal(err)
	}
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := pool.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	// A balance edited by hand.
	exec(`UPDATE ledger_accounts SET credits_posted = credits_posted + 5 WHERE id = $1`, avail)
	// A stray posting appended to an existing transfer (appending is allowed; it unbalances it).
	exec(`INSERT INTO ledger_postings (transfer_id, account_id, phase, amount_minor, posted_after) VALUES ($1, $2, 0, 7, 0)`, adj.ID, avail)
	// Pending state edited by hand.
	exec(`UPDATE ledger_pending SET voided_minor = 10`)
	// A posting of a transfer that does not exist, on an account that does not exist.
	exec(`INSERT INTO ledger_postings (transfer_id, account_id, phase, amount_minor, posted_after) VALUES (999, 888, 0, 3, 0)`)

	r, err := l.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r.OK() {
		t.Fatal("Verify found nothing")
	}
	want := AccountDiff{AccountID: avail, Owner: "partner:p", Kind: KindAvailable, Currency: "EUR",
		Stored:  Columns{CreditsPending: 100, CreditsPosted: 45},
		Derived: Columns{CreditsPending: 100, CreditsPosted: 47}}
	if len(r.Accounts) != 1 || r.Accounts[0] != want {
		t.Errorf("Accounts = %+v, want [%+v]", r.Accounts, want)
	}
	if len(r.Currencies) != 1 || r.Currencies[0] != (Imbalance{Currency: "EUR", Phase: "posted", SumMinor: 7}) {
		t.Errorf("Currencies = %+v, want EUR posted 7", r.Currencies)
	}
	if len(r.Transfers) != 1 || r.Transfers[0] != (Imbalance{TransferID: adj.ID, Currency: "EUR", Phase: "posted", SumMinor: 7}) {
		t.Errorf("Transfers = %+v, want transfer %d posted 7", r.Transfers, adj.ID)
	}
	// The pending transfer as a whole, and its one pending row (commission c).
	if want := []PendingDiff{{TransferID: 1, Quantity: "remaining", Stored: 90, Derived: 100}, {TransferID: 1, Reference: "c", Quantity: "resolved", Stored: 10, Derived: 0}}; !slices.Equal(r.Pending, want) {
		t.Errorf("Pending = %+v, want %+v", r.Pending, want)
	}
	var dangling []string
	for _, d := range r.Dangling {
		if strings.HasPrefix(d, "posting ") {
			dangling = append(dangling, d[strings.Index(d, ":")+2:])
		}
	}
	if !slices.Equal(dangling, []string{"transfer 999 missing", "account 888 missing"}) {
		t.Errorf("Dangling = %q, want the missing transfer 999 and account 888", r.Dangling)
	}
	t.Logf("report:\n%s", r)
}

// TestApplyBatchInCallerTx: operations join the caller's transaction and vanish with its rollback.
func TestApplyBatchInCallerTx(t *testing.T) {
	l, pool := newLedger(t, 2)
	ctx := context.Background()
	ops := []Op{
		AccrueParams{Key: "a", PartnerID: "p", Currency: "EUR", AmountMinor: 100, CommissionID: "c"},
		ApproveParams{Key: "b", CommissionID: "c", ReserveBasisPoints: 2500, ReleaseAt: time.Now()},
	}
	rollback := errors.New("roll back")
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := l.ApplyBatch(ctx, tx, ops); err != nil {
			return err
		}
		return rollback
	})
	if !errors.Is(err, rollback) {
		t.Fatalf("first transaction: %v", err)
	}
	mustBalance(t, l, "p", Balance{Currency: "EUR"})
	if n := count(t, pool, "ledger_transfers"); n != 0 {
		t.Fatalf("%d transfers after rollback, want 0", n)
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		_, err := l.ApplyBatch(ctx, tx, ops)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	mustBalance(t, l, "p", Balance{Currency: "EUR", AvailableMinor: 75, ReservedMinor: 25})
	mustVerify(t, l)
}

// TestReleaseDueConcurrent: racing ReleaseDue calls release each due reserve exactly once
// and leave the ones not yet due.
func TestReleaseDueConcurrent(t *testing.T) {
	l, pool := newLedger(t, 6)
	ctx := context.Background()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	var ops []Op
	for i := range 60 {
		c := fmt.Sprintf("c%d", i)
		release := now.Add(-time.Hour)
		if i%3 == 0 {
			release = now.Add(time.Hour) // not due yet
		}
		ops = append(ops,
			AccrueParams{Key: "a" + c, PartnerID: fmt.Sprintf("p%d", i%4), Currency: "EUR", AmountMinor: 1000, CommissionID: c},
			ApproveParams{Key: "b" + c, CommissionID: c, ReserveBasisPoints: 1000, ReleaseAt: release})
	}
	if _, err := l.Batch(ctx, ops); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	released := make([]int, 4)
	errs := make([]error, 4)
	for w := range 4 {
		wg.Go(func() {
			for range 20 { // bounded: 40 due reserves in batches of 7
				n, err := l.ReleaseDue(ctx, now, 7)
				if err != nil {
					errs[w] = err
					return
				}
				released[w] += n
				if n == 0 {
					return
				}
			}
		})
	}
	wg.Wait()
	total := 0
	for w := range 4 {
		if errs[w] != nil {
			t.Fatal(errs[w])
		}
		total += released[w]
	}
	if total != 40 {
		t.Fatalf("released %d reserves, want 40", total)
	}
	var releases int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM ledger_transfers WHERE operation = 'release_reserve'`).Scan(&releases); err != nil || releases != 40 {
		t.Fatalf("%d release transfers (%v), want 40", releases, err)
	}
	// 15 commissions per partner, 5 of them not due: 5 × 100 still reserved.
	for p := range 4 {
		mustBalance(t, l, fmt.Sprintf("p%d", p), Balance{Currency: "EUR", AvailableMinor: 15*1000 - 500, ReservedMinor: 500})
	}
	sched, err := l.ReserveSchedule(ctx, "p0", "EUR", 100)
	if err != nil || len(sched) != 5 || !sched[0].ReleaseAt.Equal(now.Add(time.Hour)) {
		t.Fatalf("ReserveSchedule = %+v, %v; want 5 entries due at %v", sched, err, now.Add(time.Hour))
	}
	mustVerify(t, l)
}
