package storage

import (
	"context"
	"errors"
	"testing"
)

// TestStoreCreditHidesUnknownCustomer: a store-credit request checks the
// amount and the balance before it looks the customer up, so a partner
// without the money learns nothing about which accounts exist; with the
// money, a reused request key does not tell them apart either.
func TestStoreCreditHidesUnknownCustomer(t *testing.T) {
	e := newStoreEnv(t)
	ctx := context.Background()
	pid := e.partner("ayla")
	e.exec(`INSERT INTO customers (customer_id, email, first_seen_at) VALUES ('c-1', 'buyer@example.net', now()), ('c-2', 'two@example.net', now())`)

	// Zero balance: the same answer for an existing and an unknown account.
	_, errKnown := e.s.RequestStoreCredit(ctx, e.l, pid, 0, "buyer@example.net", 500, "k-1")
	_, errUnknown := e.s.RequestStoreCredit(ctx, e.l, pid, 0, "nobody@example.net", 500, "k-2")
	if errKnown == nil || errUnknown == nil || errKnown.Error() != errUnknown.Error() ||
		errors.Is(errKnown, ErrNotFound) != errors.Is(errUnknown, ErrNotFound) || !errors.Is(errUnknown, ErrConflict) {
		t.Fatalf("zero balance: existing customer %v, unknown %v; want the same balance conflict", errKnown, errUnknown)
	}
	var fe *FieldError
	if !errors.As(errUnknown, &fe) || fe.Field != "amount" {
		t.Fatalf("zero balance, unknown customer = %v, want field amount", errUnknown)
	}
	// A non-positive amount is refused first as well.
	if _, err := e.s.RequestStoreCredit(ctx, e.l, pid, 0, "nobody@example.net", 0, "k-3"); !errors.As(err, &fe) || fe.Field != "amount" {
		t.Fatalf("zero amount, unknown customer = %v, want field amount", err)
	}

	// With the money: an unknown account is said plainly (the shop can only
	// credit an existing one) and nothing is reserved.
	if _, err := e.s.CreateAdjustment(ctx, e.l, Adjustment{PartnerID: pid, AmountMinor: 1000, Currency: "EUR", Reason: "bonus", Key: "adj-1"}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.RequestStoreCredit(ctx, e.l, pid, 0, "nobody@example.net", 500, "k-4"); !errors.Is(err, ErrNoCreditableCustomer) {
		t.Fatalf("unknown customer with the money = %v, want ErrNoCreditableCustomer", err)
	}
	sc, err := e.s.RequestStoreCredit(ctx, e.l, pid, 0, "buyer@example.net", 500, "k-5")
	if err != nil || sc.CustomerID != "c-1" {
		t.Fatalf("request = %+v, %v", sc, err)
	}
	// A replay returns the request although the balance is now reserved.
	if again, err := e.s.RequestStoreCredit(ctx, e.l, pid, 0, "buyer@example.net", 500, "k-5"); err != nil || again.ID != sc.ID {
		t.Fatalf("replay = %+v, %v, want request %d", again, err, sc.ID)
	}
	// The key reused for another account: the same answer whether it exists.
	_, errKnown = e.s.RequestStoreCredit(ctx, e.l, pid, 0, "two@example.net", 500, "k-5")
	_, errUnknown = e.s.RequestStoreCredit(ctx, e.l, pid, 0, "nobody@example.net", 500, "k-5")
	if !errors.Is(errKnown, ErrKeyReused) || !errors.Is(errUnknown, ErrKeyReused) {
		t.Fatalf("reused key: existing customer %v, unknown %v; want ErrKeyReused for both", errKnown, errUnknown)
	}
	if b := e.balance(pid); b.AvailableMinor != 500 || b.InFlightMinor != 500 {
		t.Fatalf("balance = %+v, want 5.00 available and 5.00 in flight", b)
	}
}
