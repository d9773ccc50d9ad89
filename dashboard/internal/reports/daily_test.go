package reports

import (
	"context"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/openaff/affiliate/pkg/testenv"
)

// TestDailyCurrencyAndClawback: the commission chart counts what each
// commission keeps in its current state (clawed back: nothing; partially
// voided or clawed back: the rest), follows the lifecycle rather than the
// clock for facts of one second, and never adds up two currencies.
func TestDailyCurrencyAndClawback(t *testing.T) {
	env := testenv.Get(t)
	db := env.ClickHouseDB(t)
	ctx := context.Background()
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{env.ClickHouseAddr()}, Auth: clickhouse.Auth{Database: db}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	day1 := now.AddDate(0, 0, -1)
	first := now.Truncate(24*time.Hour).AddDate(0, 0, -29).Add(30 * time.Minute) // the range's first UTC day
	facts := []struct {
		event, commission, order, partner, currency, state string
		at                                                 time.Time
		amount                                             int64
	}{
		{"e1", "k1", "o1", "7", "EUR", "pending", day1, 1000},
		{"e2", "k2", "o2", "7", "EUR", "approved", day1, 800},
		{"e3", "k2", "o2", "7", "EUR", "clawed_back", day1.Add(time.Hour), 0}, // nothing kept: no order, no amount
		{"e4", "k3", "o3", "7", "EUR", "approved", day1, 900},
		{"e5", "k3", "o3", "7", "EUR", "partially_clawed_back", day1.Add(time.Hour), 400}, // keeps 4.00
		{"e6", "k4", "o4", "7", "EUR", "pending", day1, 600},
		{"e7", "k4", "o4", "7", "EUR", "partially_voided", day1.Add(time.Hour), 250}, // keeps 2.50
		// Accrued and voided in one pass (one second): the voided fact has
		// the smaller id, yet it is the current state.
		{"f9", "k5", "o5", "7", "EUR", "pending", day1, 700},
		{"a1", "k5", "o5", "7", "EUR", "voided", day1, 0},
		{"e8", "k6", "o6", "7", "EUR", "pending", first, 300},
		// Another partner, in two currencies.
		{"e9", "k7", "o7", "9", "EUR", "pending", day1, 100},
		{"e10", "k8", "o8", "9", "USD", "pending", day1, 5000},
	}
	b, err := conn.PrepareBatch(ctx, "INSERT INTO "+db+".commission_facts (event_id, at, commission_id, order_id, line_id, partner_id, currency, amount_minor, base_minor, state)")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range facts {
		if err := b.Append(f.event, f.at, f.commission, f.order, "1", f.partner, f.currency, f.amount, f.amount*10, f.state); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	r, err := Open(ctx, env.ClickHouseAddr(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()

	days, err := r.Daily(ctx, "7", 30, now)
	if err != nil {
		t.Fatal(err)
	}
	if d := days[28]; d.Orders != 3 || d.CommissionMinor != 1000+400+250 {
		t.Errorf("yesterday = %+v, want 3 orders, 1650", d)
	}
	if d := days[0]; d.Orders != 1 || d.CommissionMinor != 300 {
		t.Errorf("first day = %+v, want 1 order, 300", d)
	}
	eur, err := r.DailyIn(ctx, "9", "EUR", 30, now)
	if err != nil {
		t.Fatal(err)
	}
	if d := eur[28]; d.Orders != 1 || d.CommissionMinor != 100 {
		t.Errorf("partner 9 in EUR = %+v, want 1 order, 100", d)
	}
	usd, err := r.DailyIn(ctx, "9", "USD", 30, now)
	if err != nil {
		t.Fatal(err)
	}
	if d := usd[28]; d.Orders != 1 || d.CommissionMinor != 5000 {
		t.Errorf("partner 9 in USD = %+v, want 1 order, 5000", d)
	}
	if _, err := r.Daily(ctx, "9", 30, now); err == nil {
		t.Error("Daily added up EUR and USD")
	}
	all, err := r.DailyIn(ctx, "", "EUR", 30, now)
	if err != nil {
		t.Fatal(err)
	}
	if d := all[28]; d.Orders != 4 || d.CommissionMinor != 1750 {
		t.Errorf("all partners in EUR = %+v, want 4 orders, 1750", d)
	}
}
