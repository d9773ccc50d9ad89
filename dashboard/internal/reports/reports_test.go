package reports

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/openaff/affiliate/pkg/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

func TestDaily(t *testing.T) {
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
	clicks := []struct {
		id, partner string
		at          time.Time
		bot         uint8
	}{
		{"c1", "7", day1, 0},
		{"c2", "7", day1, 0},
		{"c2", "7", day1, 0}, // a replayed click counts once
		{"c3", "7", day1, 1}, // bots do not count
		{"c4", "8", day1, 0}, // another partner
		{"c5", "7", now, 0},
		{"c6", "7", now.AddDate(0, 0, -40), 0}, // outside the range
	}
	b, err := conn.PrepareBatch(ctx, "INSERT INTO "+db+".clicks (click_id, at, device_token, partner_id, link_id, link_kind, target, product_id, category_id, referer, user_agent, ip, bot)")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range clicks {
		if err := b.Append(c.id, c.at, "dev", c.partner, "1", "link", "https://shop.example/", "", "", "", "", "", c.bot); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	facts := []struct {
		event, commission, order, partner, state string
		at                                       time.Time
		amount                                   int64
	}{
		{"e1", "k1", "o1", "7", "pending", day1, 1000},
		{"e2", "k2", "o1", "7", "pending", day1, 500},
		{"e3", "k3", "o2", "7", "pending", day1, 700},
		{"e4", "k3", "o2", "7", "voided", day1.Add(time.Hour), 700}, // voided later: not counted
		{"e5", "k4", "o3", "8", "pending", day1, 9900},
	}
	b, err = conn.PrepareBatch(ctx, "INSERT INTO "+db+".commission_facts (event_id, at, commission_id, order_id, line_id, partner_id, currency, amount_minor, base_minor, state)")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range facts {
		if err := b.Append(f.event, f.at, f.commission, f.order, "1", f.partner, "EUR", f.amount, f.amount*10, f.state); err != nil {
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
	if len(days) != 30 || !days[29].Day.Equal(now.Truncate(24*time.Hour)) {
		t.Fatalf("days = %d, last %v", len(days), days[len(days)-1].Day)
	}
	if d := days[28]; d.Clicks != 2 || d.Orders != 1 || d.CommissionMinor != 1500 {
		t.Errorf("yesterday = %+v, want 2 clicks, 1 order, 1500", d)
	}
	if d := days[29]; d.Clicks != 1 || d.Orders != 0 {
		t.Errorf("today = %+v, want 1 click", d)
	}
	all, err := r.Daily(ctx, "", 30, now)
	if err != nil {
		t.Fatal(err)
	}
	if d := all[28]; d.Clicks != 3 || d.Orders != 2 || d.CommissionMinor != 11400 {
		t.Errorf("yesterday, all partners = %+v, want 3 clicks, 2 orders, 11400", d)
	}
	if _, err := r.Daily(ctx, "7", 0, now); err == nil {
		t.Error("Daily(days=0) accepted")
	}
}
