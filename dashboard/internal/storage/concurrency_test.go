package storage

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// Payouts and store-credit requests made at once never reserve more than
// is available: 24 requests of 3.00 against 10.00, exactly 3 go through.
func TestPayoutsAndStoreCreditNeverOverspend(t *testing.T) {
	e := newStoreEnv(t)
	ctx := context.Background()
	pid := e.partner("ayla")
	e.exec(`INSERT INTO customers (customer_id, email, first_seen_at) VALUES ('c-1', 'buyer@example.net', now())`)
	e.exec(`INSERT INTO bank_accounts (partner_id, holder, iban) VALUES ($1, 'A', 'DE89370400440532013000')`, pid)
	if _, err := e.s.CreateAdjustment(ctx, e.l, Adjustment{PartnerID: pid, AmountMinor: 1000, Currency: "EUR", Reason: "x", Key: "adj"}, 0); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for i := range 24 {
		wg.Go(func() {
			var err error
			if i%2 == 0 {
				_, err = e.s.RequestPayout(ctx, e.l, pid, 0, 300, fmt.Sprintf("p-%d", i))
			} else {
				_, err = e.s.RequestStoreCredit(ctx, e.l, pid, 0, "c-1", 300, fmt.Sprintf("s-%d", i))
			}
			if err == nil {
				mu.Lock()
				ok++
				mu.Unlock()
			} else if !errors.Is(err, ErrConflict) {
				t.Errorf("unexpected: %v", err)
			}
		})
	}
	wg.Wait()
	b := e.balance(pid)
	t.Logf("ok=%d balance=%+v", ok, b)
	if ok != 3 || b.AvailableMinor != 100 || b.InFlightMinor != 900 {
		t.Fatalf("ok=%d balance=%+v", ok, b)
	}
	r, err := e.l.Verify(ctx)
	if err != nil || !r.OK() {
		t.Fatalf("verify %v %v", r, err)
	}
}

// A double-submitted store-credit form (same request_id, so same key)
// answers both submissions with the one request: the second's balance
// check, after the first had reserved the amount, refused it as "more than
// the available balance" (2 of 300 rounds), and the browser showed that.
func TestStoreCreditDoubleSubmit(t *testing.T) {
	e := newStoreEnv(t)
	ctx := context.Background()
	pid := e.partner("ayla")
	e.exec(`INSERT INTO customers (customer_id, email, first_seen_at) VALUES ('c-1', 'buyer@example.net', now())`)
	bad := 0
	for i := range 300 {
		if _, err := e.s.CreateAdjustment(ctx, e.l, Adjustment{PartnerID: pid, AmountMinor: 500, Currency: "EUR", Reason: "x", Key: fmt.Sprint("adj-", i)}, 0); err != nil {
			t.Fatal(err)
		}
		key := fmt.Sprintf("store_credit:form:%032d:%d", i, pid)
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for j := range 2 {
			wg.Go(func() { _, errs[j] = e.s.RequestStoreCredit(ctx, e.l, pid, 0, "buyer@example.net", 500, key) })
		}
		wg.Wait()
		if errs[0] != nil || errs[1] != nil {
			bad++
			if bad == 1 {
				t.Logf("round %d: %v / %v; recorded: %d", i, errs[0], errs[1], e.count(`SELECT count(*) FROM store_credit_requests WHERE idempotency_key = $1`, key))
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of 300 double submits answered an error for a recorded request", bad)
	}
}

// Two admins attaching the same unbound customer at once both succeed, one
// after the other (the customer's row is locked); before, with no open
// binding to lock, one failed with a raw unique violation (a 500) in 39 of
// 80 attaches.
func TestConcurrentAttaches(t *testing.T) {
	e := newStoreEnv(t)
	ctx := context.Background()
	a, b := e.partner("pa"), e.partner("pb")
	fails := 0
	var first error
	for i := range 40 {
		cust := fmt.Sprint("cust-", i)
		e.exec(`INSERT INTO customers (customer_id, email, first_seen_at) VALUES ($1, $1 || '@example.net', now())`, cust)
		var wg sync.WaitGroup
		errs := make([]error, 2)
		wg.Go(func() { errs[0] = e.s.AttachCustomer(ctx, cust, a, 0) })
		wg.Go(func() { errs[1] = e.s.AttachCustomer(ctx, cust, b, 0) })
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				fails++
				if first == nil {
					first = err
				}
			}
		}
	}
	if fails > 0 {
		t.Errorf("%d of 80 concurrent attaches failed; first: %v", fails, first)
	}
	if n := e.count(`SELECT count(*) FROM customer_bindings WHERE detached_at IS NULL AND partner_id IN ($1, $2)`, a, b); n != 40 {
		t.Errorf("open bindings = %d, want one per customer (40)", n)
	}
}

// Paid and failed, approved and rejected, decided at once (with negative
// adjustments meanwhile): one decision wins each time, one store_credits
// event per approval, and the ledger stays consistent.
func TestConcurrentDecisions(t *testing.T) {
	e := newStoreEnv(t)
	ctx := context.Background()
	pid := e.partner("ayla")
	e.exec(`INSERT INTO customers (customer_id, email, first_seen_at) VALUES ('c-1', 'buyer@example.net', now())`)
	e.exec(`INSERT INTO bank_accounts (partner_id, holder, iban) VALUES ($1, 'A', 'DE89370400440532013000')`, pid)
	if _, err := e.s.CreateAdjustment(ctx, e.l, Adjustment{PartnerID: pid, AmountMinor: 100000, Currency: "EUR", Reason: "x", Key: "adj"}, 0); err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		p, err := e.s.RequestPayout(ctx, e.l, pid, 0, 1000, fmt.Sprint("p", i))
		if err != nil {
			t.Fatal(err)
		}
		sc, err := e.s.RequestStoreCredit(ctx, e.l, pid, 0, "c-1", 1000, fmt.Sprint("s", i))
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for j := range 4 {
			wg.Go(func() { _ = e.s.DecidePayout(ctx, e.l, p.ID, j%2 == 0, "n", 0) })
			wg.Go(func() { _ = e.s.DecideStoreCredit(ctx, e.l, sc.ID, j%2 == 0, "r", 0) })
			wg.Go(func() {
				_, _ = e.s.CreateAdjustment(ctx, e.l, Adjustment{PartnerID: pid, AmountMinor: -1, Currency: "EUR", Reason: "y", Key: fmt.Sprint("neg", i, j)}, 0)
			})
		}
		wg.Wait()
	}
	r, err := e.l.Verify(ctx)
	if err != nil || !r.OK() {
		t.Fatalf("verify %v %v", r, err)
	}
	var paid, failed, appr, rej, out int64
	e.s.pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE status='paid'), count(*) FILTER (WHERE status='failed') FROM payouts`).Scan(&paid, &failed)
	e.s.pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE status='approved'), count(*) FILTER (WHERE status='rejected') FROM store_credit_requests`).Scan(&appr, &rej)
	e.s.pool.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE topic = 'store_credits'`).Scan(&out)
	b := e.balance(pid)
	t.Logf("paid %d failed %d approved %d rejected %d outbox %d balance %+v", paid, failed, appr, rej, out, b)
	if paid+failed != 30 || appr+rej != 30 || out != appr || b.PaidOutMinor != paid*1000 || b.InFlightMinor != 0 ||
		b.AvailableMinor != 100000-120-paid*1000-appr*1000 {
		t.Fatal("inconsistent")
	}
}

// A binding that starts in the future (bound by a release that took an
// identity's time from a shop clock ahead of ours) can still be detached
// and moved by the admin: closed at its start rather than failing the
// table's CHECK (detached_at >= bound_at) with a 500.
func TestDetachFutureBinding(t *testing.T) {
	e := newStoreEnv(t)
	ctx := context.Background()
	a, b := e.partner("pa"), e.partner("pb")
	for _, c := range []string{"c-detach", "c-move"} {
		e.exec(`INSERT INTO customers (customer_id, first_seen_at) VALUES ($1, now())`, c)
		e.exec(`INSERT INTO customer_bindings (customer_id, partner_id, source, bound_at, identity_event_id) VALUES ($1, $2, 'identity', now() + interval '2 hours', 'ev-' || $1)`, c, a)
	}
	if err := e.s.DetachCustomer(ctx, "c-detach", a, 0); err != nil {
		t.Fatalf("detach: %v", err)
	}
	if err := e.s.AttachCustomer(ctx, "c-move", b, 0); err != nil {
		t.Fatalf("move to another partner: %v", err)
	}
	if n := e.count(`SELECT count(*) FROM customer_bindings WHERE partner_id = $1 AND detached_at = bound_at`, a); n != 2 {
		t.Fatalf("future bindings closed at their start = %d, want 2", n)
	}
}

// An attach's lock on the customer (lockCustomer) does not deadlock with
// the settler's binding insert for the same customer landing between the
// lock and the attach's own insert (with FOR UPDATE Postgres aborted one
// of them: a 500, or the settler's whole binding batch). The statements
// are the attach's and the settler's (bind.go), interleaved on purpose.
func TestAttachLockAllowsSettlerBind(t *testing.T) {
	e := newStoreEnv(t)
	ctx := context.Background()
	a, b := e.partner("pa"), e.partner("pb")
	e.exec(`INSERT INTO customers (customer_id, first_seen_at) VALUES ('c', now())`)
	admin, err := e.s.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Rollback(ctx)
	settler, err := e.s.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer settler.Rollback(ctx)
	if _, err := admin.Exec(ctx, lockCustomer, "c"); err != nil {
		t.Fatal(err)
	}
	settlerDone := make(chan error, 1)
	go func() {
		_, err := settler.Exec(ctx, `INSERT INTO customer_bindings (customer_id, partner_id, source, bound_at, identity_event_id)
SELECT 'c', $1, 'identity', now(), 'ev1'
WHERE NOT EXISTS (SELECT 1 FROM customer_bindings b WHERE b.customer_id = 'c' AND (b.detached_at IS NULL OR b.detached_at > now()))
ON CONFLICT (customer_id) WHERE detached_at IS NULL DO NOTHING`, b)
		if err == nil {
			err = settler.Commit(ctx)
		}
		settlerDone <- err
	}()
	time.Sleep(300 * time.Millisecond) // the settler's insert is in, waiting or done
	_, adminErr := admin.Exec(ctx, `INSERT INTO customer_bindings (customer_id, partner_id, source, bound_at, created_by)
VALUES ('c', $1, 'admin', now(), NULL) ON CONFLICT (customer_id) WHERE detached_at IS NULL DO NOTHING`, a)
	settlerErr := <-settlerDone
	if adminErr != nil || settlerErr != nil {
		t.Fatalf("admin attach: %v; settler bind: %v", adminErr, settlerErr)
	}
}
