package settle

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// The admin detaches a customer from partner A while an identity of that
// customer through partner B's link, made while the customer was bound to
// A, waits for the sink watermark. The binding step must not bind the
// customer to B as of the identity's time, inside A's binding (it did: an
// order placed while the customer was bound to A then went to B, and the
// customer stayed bound to B).
func TestNoBindingInsideADetachedOne(t *testing.T) {
	f := newFixture(t)
	a, b := f.partner("anna"), f.partner("bert")
	f.exec(`INSERT INTO customers (customer_id, first_seen_at) VALUES ('cust', $1)`, T0.Add(-2*time.Hour))
	// T0-1h: the admin attached the customer to A (AttachCustomer: source admin).
	f.exec(`INSERT INTO customer_bindings (customer_id, partner_id, source, bound_at) VALUES ('cust', $1, 'admin', $2)`, a, T0.Add(-time.Hour))
	f.click("dev-b", b, T0)
	f.events(identity("i1", "cust", "dev-b", T0.Add(time.Minute)),
		placed("e1", "o1", "cust", "dev-other", T0.Add(2*time.Minute), line("l1", "x", 1, "100.00")))
	// T0+3m: the admin detaches the customer from A (DetachCustomer).
	f.exec(`UPDATE customer_bindings SET detached_at = $1 WHERE customer_id = 'cust' AND detached_at IS NULL`, T0.Add(3*time.Minute))
	f.watermark(T0.Add(10 * time.Minute))
	f.settle(T0.Add(10 * time.Minute))
	if got := f.attribution("o1"); got.PartnerID == nil || *got.PartnerID != a || got.Rule != "customer_binding" {
		to := "no partner"
		if got.PartnerID != nil {
			to = fmt.Sprint("partner ", *got.PartnerID)
		}
		t.Fatalf("order placed while the customer was bound to A (%d): attributed to %s by %s, want A by customer_binding", a, to, got.Rule)
	}
	var open int
	if err := f.pool.QueryRow(context.Background(), `SELECT count(*) FROM customer_bindings WHERE customer_id = 'cust' AND detached_at IS NULL`).Scan(&open); err != nil || open != 0 {
		t.Fatalf("open bindings of the detached customer = %d (%v), want 0", open, err)
	}
}

// An identity dated ahead of the settler's clock (a shop clock 3 h fast)
// binds from now, not from its time: bound from the future, the binding
// applied to no order yet, blocked every other binding of the customer,
// and the admin's detach (detached_at = now()) failed the table's CHECK.
func TestFutureIdentityBindsFromNow(t *testing.T) {
	f := newFixture(t)
	a := f.partner("anna")
	now := time.Now().UTC().Truncate(time.Second)
	f.click("dev-a", a, now.Add(-time.Minute))
	f.events(identity("i1", "cust", "dev-a", now.Add(3*time.Hour)))
	f.watermark(now.Add(4 * time.Hour))
	f.settle(now)
	var bound time.Time
	if err := f.pool.QueryRow(context.Background(), `SELECT bound_at FROM customer_bindings WHERE customer_id = 'cust' AND detached_at IS NULL`).Scan(&bound); err != nil {
		t.Fatal(err)
	}
	if !bound.Equal(now) {
		t.Fatalf("bound_at = %s, want the pass's time %s", bound, now)
	}
	// The admin's detach (DetachCustomer's statement).
	if _, err := f.pool.Exec(context.Background(), `UPDATE customer_bindings SET detached_at = now()
		WHERE customer_id = 'cust' AND partner_id = $1 AND detached_at IS NULL`, a); err != nil {
		t.Fatalf("admin detach: %v", err)
	}
}

// The mirror case: the identity through B's link (T0+1m) waits for the
// watermark while the admin attaches the customer to A (T0+2m, which would
// have closed B's binding had it existed) and detaches it again (T0+3m).
// The late identity must not bind the customer to B from T0+1m for good
// (it did: an order placed after the admin's detach went to B).
func TestNoBindingAcrossALaterDetachedOne(t *testing.T) {
	f := newFixture(t)
	a, b := f.partner("anna"), f.partner("bert")
	f.exec(`INSERT INTO customers (customer_id, first_seen_at) VALUES ('cust', $1)`, T0.Add(-2*time.Hour))
	f.click("dev-b", b, T0)
	f.events(identity("i1", "cust", "dev-b", T0.Add(time.Minute)),
		placed("e1", "o1", "cust", "dev-other", T0.Add(5*time.Minute), line("l1", "x", 1, "100.00")))
	f.exec(`INSERT INTO customer_bindings (customer_id, partner_id, source, bound_at, detached_at) VALUES ('cust', $1, 'admin', $2, $3)`,
		a, T0.Add(2*time.Minute), T0.Add(3*time.Minute))
	f.watermark(T0.Add(10 * time.Minute))
	f.settle(T0.Add(10 * time.Minute))
	var open int
	if err := f.pool.QueryRow(context.Background(), `SELECT count(*) FROM customer_bindings WHERE customer_id = 'cust' AND detached_at IS NULL`).Scan(&open); err != nil {
		t.Fatal(err)
	}
	if got := f.attribution("o1"); open != 0 || got.Rule == "customer_binding" {
		t.Fatalf("after the admin's detach: %d open bindings, o1 (placed after it) attributed by %s; want none open, not by a binding", open, got.Rule)
	}
}
