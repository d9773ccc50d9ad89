package storage

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestCurrencyFixedOnceMoneyExists: the program currency cannot change
// once a commission or a ledger account exists (balances, payouts and
// store credit all read it); other settings still can.
func TestCurrencyFixedOnceMoneyExists(t *testing.T) {
	f := func(name string, seed func(e *storeEnv, pid int64)) {
		t.Helper()
		e := newStoreEnv(t)
		ctx := context.Background()
		pid := e.partner("ayla")
		setCurrency := func(cur string) error {
			_, err := e.s.ModifyProgram(ctx, func(p *Program) error { p.Currency = cur; return nil })
			return err
		}
		// Nothing yet: free to change, and back.
		if err := setCurrency("USD"); err != nil {
			t.Fatalf("%s: change before any money = %v", name, err)
		}
		if err := setCurrency("EUR"); err != nil {
			t.Fatalf("%s: change back = %v", name, err)
		}
		seed(e, pid)
		err := setCurrency("USD")
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != "currency" || !errors.Is(err, ErrConflict) {
			t.Fatalf("%s: change with money = %v, want a conflict on currency", name, err)
		}
		p, err := e.s.Program(ctx)
		if err != nil || p.Currency != "EUR" {
			t.Fatalf("%s: currency after the refusal = %q, %v", name, p.Currency, err)
		}
		// The same currency with another setting is saved.
		if _, err := e.s.ModifyProgram(ctx, func(p *Program) error { p.MinPayoutMinor = 4200; return nil }); err != nil {
			t.Fatalf("%s: update keeping the currency = %v", name, err)
		}
		if p, _ := e.s.Program(ctx); p.MinPayoutMinor != 4200 {
			t.Fatalf("%s: min payout = %d, want 4200", name, p.MinPayoutMinor)
		}
	}
	f("commission", func(e *storeEnv, pid int64) { e.seedPending("o-1", pid, 1000) })
	// An order waiting for settlement would accrue in the old currency.
	f("order only", func(e *storeEnv, pid int64) {
		e.exec(`INSERT INTO orders (order_id, customer_id, currency, placed_at) VALUES ('o-2', 'c-2', 'EUR', now())`)
	})
	f("ledger account only", func(e *storeEnv, pid int64) {
		if _, err := e.s.CreateAdjustment(context.Background(), e.l, Adjustment{PartnerID: pid, AmountMinor: 100, Currency: "EUR",
			Reason: "bonus", Key: "adj-1"}, 0); err != nil {
			t.Fatal(err)
		}
	})
}

// TestManualSaleInProgramCurrency: a manual sales record in another
// currency than the program's is refused, naming the field, and writes
// nothing.
func TestManualSaleInProgramCurrency(t *testing.T) {
	e := newStoreEnv(t)
	ctx := context.Background()
	pid := e.partner("ayla")
	sale := ManualSale{OrderID: "m-1", Currency: "USD", PlacedAt: time.Now().UTC(), PartnerID: pid,
		Lines: []OrderLine{{LineID: "1", ProductID: "p1", Quantity: 1, UnitPriceMinor: 1000}}}
	err := e.s.CreateManualSale(ctx, sale, 0)
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "currency" {
		t.Fatalf("CreateManualSale(USD) = %v, want an error on currency", err)
	}
	if n := e.count(`SELECT count(*) FROM orders`) + e.count(`SELECT count(*) FROM order_events`); n != 0 {
		t.Fatalf("%d rows written by a refused sale", n)
	}
	sale.Currency = "EUR"
	if err := e.s.CreateManualSale(ctx, sale, 0); err != nil {
		t.Fatalf("CreateManualSale(EUR) = %v", err)
	}
}
