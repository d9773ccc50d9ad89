package ledger

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/openaff/affiliate/pkg/testenv"
)

// TestConcurrentResolution: racing approvals, voids and approve-vs-void of one pending
// commission, with different keys, resolve it exactly once.
func TestConcurrentResolution(t *testing.T) {
	l, pool := newLedger(t, 12)
	ctx := context.Background()
	release := time.Now().Add(time.Hour)
	type racer func(c string, w int) (Transfer, error)
	approve := func(c string, w int) (Transfer, error) {
		return l.Approve(ctx, ApproveParams{Key: fmt.Sprintf("%s-approve-%d", c, w), CommissionID: c, ReserveBasisPoints: 1000, ReleaseAt: release})
	}
	void := func(c string, w int) (Transfer, error) {
		return l.Void(ctx, VoidParams{Key: fmt.Sprintf("%s-void-%d", c, w), CommissionID: c})
	}
	f := func(name string, racers []racer) {
		t.Helper()
		c := "c-" + name
		if _, err := l.Accrue(ctx, AccrueParams{Key: c, PartnerID: name, Currency: "EUR", AmountMinor: 1000, CommissionID: c}); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make([]error, len(racers))
		for w, r := range racers {
			wg.Go(func() { _, errs[w] = r(c, w) })
		}
		wg.Wait()
		winners := 0
		for w, err := range errs {
			switch {
			case err == nil:
				winners++
			case !errors.Is(err, ErrPendingResolved):
				t.Fatalf("%s: racer %d: %v", name, w, err)
			}
		}
		if winners != 1 {
			t.Fatalf("%s: %d racers resolved the commission, want exactly 1", name, winners)
		}
		var finals int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM ledger_transfers WHERE final AND reference = $1`, c).Scan(&finals); err != nil || finals != 1 {
			t.Fatalf("%s: %d final resolutions (%v), want 1", name, finals, err)
		}
		b, err := l.Balance(ctx, name, "EUR")
		if err != nil {
			t.Fatal(err)
		}
		approved := b == Balance{Currency: "EUR", AvailableMinor: 900, ReservedMinor: 100}
		voided := b == Balance{Currency: "EUR"}
		if !approved && !voided {
			t.Fatalf("%s: balance %+v is neither one approval nor one void", name, b)
		}
	}
	// two approvals
	f("approve2", []racer{approve, approve})
	// many approvals
	f("approve8", []racer{approve, approve, approve, approve, approve, approve, approve, approve})
	// two voids
	f("void2", []racer{void, void})
	// approvals against voids
	f("mixed", []racer{approve, void, approve, void, approve, void})
	mustVerify(t, l)
}

// TestPayoutRacesClawback: payout requests racing a clawback never take more than the
// partner had available at the moment each was granted.
func TestPayoutRacesClawback(t *testing.T) {
	l, pool := newLedger(t, 12)
	ctx := context.Background()
	for round := range 6 {
		p := fmt.Sprintf("racer%d", round)
		c := p + "-c"
		if _, err := l.Accrue(ctx, AccrueParams{Key: c, PartnerID: p, Currency: "EUR", AmountMinor: 1000, CommissionID: c}); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Approve(ctx, ApproveParams{Key: c + "-ok", CommissionID: c, ReleaseAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
		const workers = 10
		var wg sync.WaitGroup
		errs := make([]error, workers+1)
		for w := range workers {
			wg.Go(func() {
				id := fmt.Sprintf("%s-po%d", p, w)
				_, errs[w] = l.PayoutRequest(ctx, PayoutRequestParams{Key: id, PartnerID: p, Currency: "EUR", AmountMinor: 150, PayoutID: id})
			})
		}
		wg.Go(func() {
			_, errs[workers] = l.Clawback(ctx, ClawbackParams{Key: c + "-cb", CommissionID: c, AmountMinor: 600})
		})
		wg.Wait()
		if errs[workers] != nil {
			t.Fatalf("clawback: %v", errs[workers])
		}
		granted := 0
		for w := range workers {
			switch {
			case errs[w] == nil:
				granted++
			case !errors.Is(errs[w], ErrInsufficientFunds):
				t.Fatalf("payout %d: %v", w, errs[w])
			}
		}
		// Replay the partner's transfers in id order (ids are allocated under the
		// partner's lock, so id order is the order they were granted in).
		rows, err := pool.Query(ctx, `SELECT operation FROM ledger_transfers WHERE partner_id = $1 AND operation IN ('payout_request', 'clawback') ORDER BY id`, p)
		if err != nil {
			t.Fatal(err)
		}
		var ops []string
		for rows.Next() {
			var op string
			if err := rows.Scan(&op); err != nil {
				t.Fatal(err)
			}
			ops = append(ops, op)
		}
		if rows.Err() != nil || len(ops) != granted+1 || !slices.Contains(ops, "clawback") {
			t.Fatalf("transfers %v (%v), want %d payouts and a clawback", ops, rows.Err(), granted)
		}
		avail := int64(1000)
		for i, op := range ops {
			if op == "clawback" {
				avail -= 600
				continue
			}
			if avail < 150 {
				t.Fatalf("round %d: payout %d granted with only %d available (order %v)", round, i, avail, ops)
			}
			avail -= 150
		}
		mustBalance(t, l, p, Balance{Currency: "EUR", AvailableMinor: avail, InFlightMinor: int64(granted) * 150})
	}
	mustVerify(t, l)
}

// TestSharedPartnersNoDeadlock: workers apply random batches over the same partners with
// retries disabled; since every transaction takes its locks in one global order, no
// deadlock (or any other database error) may surface, only business refusals.
func TestSharedPartnersNoDeadlock(t *testing.T) {
	_, pool := newLedger(t, 10)
	l := New(pool, Options{MaxAttempts: 1})
	ctx := context.Background()
	const workers, steps = 4, 100
	var partners []string
	// Many partners, so that accounts are still being created concurrently late in the run.
	for p := range 60 {
		partners = append(partners, fmt.Sprintf("shared%d", p))
	}
	var wg sync.WaitGroup
	errs := make([]error, workers)
	applied := make([]int, workers)
	for w := range workers {
		wg.Go(func() {
			g := &gen{rng: rand.New(rand.NewPCG(uint64(w), 5)), prefix: fmt.Sprintf("s%d", w), m: newModel(), partners: partners}
			for range steps {
				// Mostly operations the worker's own model expects to succeed (its model
				// ignores the other workers, so some still fail).
				ops := make([]Op, 1+g.rng.IntN(20))
				for i := range ops {
					ops[i] = g.next()
					for try := 0; try < 20 && g.m.apply(ops[i]) != nil; try++ {
						ops[i] = g.next()
					}
				}
				_, err := l.Batch(ctx, ops)
				var be *BatchError
				switch {
				case err == nil:
					applied[w]++
				case errors.As(err, &be) && isRefusal(be.Err):
				default:
					errs[w] = err
					return
				}
			}
		})
	}
	wg.Wait()
	for w, err := range errs {
		if err != nil {
			t.Fatalf("worker %d: %v", w, err)
		}
		if applied[w] == 0 {
			t.Fatalf("worker %d applied no batch", w)
		}
	}
	t.Logf("batches applied per worker: %v of %d", applied, steps)
	mustVerify(t, l)
}

// isRefusal reports whether err is a business refusal rather than a database failure.
func isRefusal(err error) bool {
	for _, s := range []error{ErrNotFound, ErrPendingResolved, ErrDuplicateReference, ErrInsufficientFunds,
		ErrExceedsRemaining, ErrNothingToRelease} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// TestGroupResolutionNoDeadlock: workers resolving the commissions of one group accrual
// (its pending rows share a transfer) in different orders, with retries off, never
// deadlock; each commission is resolved finally once.
func TestGroupResolutionNoDeadlock(t *testing.T) {
	// The plan of a large ledger: pending rows found through the primary key in the
	// batch's order (a small table is hashed and read in heap order, the same for all).
	cfg, err := pgxpool.ParseConfig(testenv.Get(t).PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 10
	for _, p := range []string{"enable_seqscan", "enable_hashjoin", "enable_mergejoin", "enable_bitmapscan"} {
		cfg.ConnConfig.RuntimeParams[p] = "off"
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	l := New(pool, Options{MaxAttempts: 1})
	ctx := context.Background()
	const rounds, workers, size = 15, 4, 6
	release := time.Now().Add(time.Hour)
	rng := rand.New(rand.NewPCG(7, 7))
	for round := range rounds {
		g := AccrueGroupParams{Key: fmt.Sprintf("g%d", round), PartnerID: "p", Currency: "EUR", GroupID: fmt.Sprintf("o%d", round)}
		for i := range size {
			g.Commissions = append(g.Commissions, GroupAccrual{CommissionID: fmt.Sprintf("o%d/%d", round, i), AmountMinor: 1000})
		}
		if _, err := l.AccrueGroup(ctx, g); err != nil {
			t.Fatal(err)
		}
		batches := make([][]Op, workers)
		for w := range batches {
			for _, i := range rng.Perm(size)[:2+rng.IntN(size-1)] {
				c := g.Commissions[i].CommissionID
				key := fmt.Sprintf("%s-w%d", c, w)
				if rng.IntN(2) == 0 {
					batches[w] = append(batches[w], ApproveParams{Key: key, CommissionID: c, ReserveBasisPoints: 1000, ReleaseAt: release})
				} else {
					batches[w] = append(batches[w], VoidParams{Key: key, CommissionID: c})
				}
			}
		}
		var wg sync.WaitGroup
		errs := make([]error, workers)
		for w := range workers {
			wg.Go(func() { _, errs[w] = l.Batch(ctx, batches[w]) })
		}
		wg.Wait()
		for w, err := range errs {
			var be *BatchError
			if err != nil && !(errors.As(err, &be) && errors.Is(err, ErrPendingResolved)) {
				t.Fatalf("round %d, worker %d: %v", round, w, err)
			}
		}
	}
	var twice int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM (SELECT 1 FROM ledger_transfers WHERE final GROUP BY pending_id, reference HAVING count(*) > 1) x`).Scan(&twice); err != nil || twice != 0 {
		t.Fatalf("%d commissions resolved finally more than once (%v)", twice, err)
	}
	mustVerify(t, l)
}
