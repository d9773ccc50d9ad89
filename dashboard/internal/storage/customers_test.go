package storage

import (
	"context"
	"errors"
	"testing"
)

// TestClaimRefusesOwnEmail: a partner cannot claim its own shop customer
// account by e-mail (the partner's or its login's, in any case), whether
// or not partners.customer_id is set; its own purchases would earn it
// commission through the binding.
func TestClaimRefusesOwnEmail(t *testing.T) {
	e := newStoreEnv(t)
	ctx := context.Background()
	pid := e.partner("ayla") // ayla@example.com, no customer_id (joined via /apply)
	e.exec(`INSERT INTO users (email, password_hash, role, partner_id) VALUES ('Login.Ayla@example.org', 'x', 'partner', $1)`, pid)
	e.exec(`INSERT INTO customers (customer_id, email, first_seen_at) VALUES
		('c-own', 'AYLA@example.com', now()), ('c-login', 'login.ayla@EXAMPLE.org', now()), ('c-buyer', 'buyer@example.net', now())`)
	f := func(email string) {
		t.Helper()
		_, err := e.s.ClaimCustomer(ctx, pid, 0, email)
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != "email" || !errors.Is(err, ErrConflict) {
			t.Errorf("ClaimCustomer(%q) = %v, want a conflict on email", email, err)
		}
	}
	f("ayla@example.com")       // the partner's e-mail
	f("Ayla@Example.COM")       // in another case
	f("login.ayla@example.org") // the login's e-mail
	if _, err := e.s.ClaimCustomer(ctx, pid, 0, "nobody@example.com"); !errors.Is(err, ErrNotFound) {
		t.Errorf("ClaimCustomer(unknown) = %v, want ErrNotFound", err)
	}
	if n := e.count(`SELECT count(*) FROM customer_bindings`); n != 0 {
		t.Fatalf("%d bindings after refused claims", n)
	}
	if id, err := e.s.ClaimCustomer(ctx, pid, 0, "buyer@example.net"); err != nil || id != "c-buyer" {
		t.Fatalf("ClaimCustomer(buyer) = %q, %v, want c-buyer", id, err)
	}
}

// TestClaimAfterAdminDetach: a customer the admin detached from a partner
// cannot be claimed back by that partner; the admin can attach it again,
// and another partner may still claim it.
func TestClaimAfterAdminDetach(t *testing.T) {
	e := newStoreEnv(t)
	ctx := context.Background()
	ayla := e.partner("ayla")
	bora := e.partner("bora")
	e.exec(`INSERT INTO customers (customer_id, email, first_seen_at) VALUES ('c-1', 'buyer@example.net', now()), ('c-2', 'two@example.net', now())`)
	if _, err := e.s.ClaimCustomer(ctx, ayla, 0, "buyer@example.net"); err != nil {
		t.Fatal(err)
	}
	if err := e.s.DetachCustomer(ctx, "c-1", ayla, 0); err != nil {
		t.Fatal(err)
	}
	_, err := e.s.ClaimCustomer(ctx, ayla, 0, "buyer@example.net")
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "email" || !errors.Is(err, ErrConflict) {
		t.Fatalf("claim after the admin's detach = %v, want a conflict on email", err)
	}
	if _, err := e.s.CurrentBinding(ctx, "c-1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("binding after a refused claim: %v, want none", err)
	}
	// The admin can attach it again; a claim is then a harmless repeat.
	if err := e.s.AttachCustomer(ctx, "c-1", ayla, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.ClaimCustomer(ctx, ayla, 0, "buyer@example.net"); err != nil {
		t.Fatalf("claim of a customer the admin bound to the partner again = %v", err)
	}
	// Moved by the admin to another partner, then detached from it: the
	// first partner still cannot take it back, the other neither.
	if err := e.s.AttachCustomer(ctx, "c-1", bora, 0); err != nil {
		t.Fatal(err)
	}
	if err := e.s.DetachCustomer(ctx, "c-1", bora, 0); err != nil {
		t.Fatal(err)
	}
	for _, p := range []int64{ayla, bora} {
		if _, err := e.s.ClaimCustomer(ctx, p, 0, "buyer@example.net"); !errors.Is(err, ErrConflict) {
			t.Errorf("claim by partner %d after the admin's detach = %v, want a conflict", p, err)
		}
	}
	// A partner the admin never detached it from may claim a customer.
	if err := e.s.AttachCustomer(ctx, "c-2", ayla, 0); err != nil {
		t.Fatal(err)
	}
	if err := e.s.DetachCustomer(ctx, "c-2", ayla, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.ClaimCustomer(ctx, bora, 0, "two@example.net"); err != nil {
		t.Fatalf("claim by another partner after a detach = %v", err)
	}
}
