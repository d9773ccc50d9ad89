package ui

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/openaff/affiliate/dashboard/internal/links"
	"github.com/openaff/affiliate/dashboard/internal/reports"
	"github.com/openaff/affiliate/pkg/testenv"
)

func TestBarChart(t *testing.T) {
	svg := string(barChart([]string{"a", "b", "c"}, []int64{1, 4, 2}, func(v int64) string { return "<" + itoa(v) + ">" }))
	if strings.Count(svg, "<rect") != 3 || !strings.Contains(svg, "max &lt;4&gt;") || strings.Contains(svg, "<4>") {
		t.Fatalf("barChart = %s", svg)
	}
	if empty := string(barChart(nil, nil, nil)); !strings.HasPrefix(empty, "<svg") || strings.Contains(empty, "<rect") {
		t.Fatalf("empty chart = %s", empty)
	}
}

// TestPartnerCharts renders the partner home with charts read from a real
// ClickHouse: only the partner's own clicks count.
func TestPartnerCharts(t *testing.T) {
	f := newFixture(t, false)
	env := testenv.Get(t)
	db := env.ClickHouseDB(t)
	ctx := context.Background()
	a := f.partner("ayla")
	b := f.partner("bora")
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{env.ClickHouseAddr()}, Auth: clickhouse.Auth{Database: db}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	batch, err := conn.PrepareBatch(ctx, "INSERT INTO "+db+".clicks (click_id, at, device_token, partner_id, link_id, link_kind, target, product_id, category_id, referer, user_agent, ip, bot)")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	for i, pid := range []int64{a, a, a, b, b, b, b, b} {
		if err := batch.Append("click-"+itoa(int64(i)), now, "d", itoa(pid), "1", "link", "https://shop.example/", "", "", "", "", "", uint8(0)); err != nil {
			t.Fatal(err)
		}
	}
	if err := batch.Send(); err != nil {
		t.Fatal(err)
	}
	rep, err := reports.Open(ctx, env.ClickHouseAddr(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer rep.Close()
	u, err := New(Deps{Store: f.store, Ledger: f.ledger, Hasher: testHasher, Reports: rep,
		Links: links.Maker{AllowedHosts: []string{"shop.example"}, TrackerBase: "https://go.example"},
		Log:   slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	u.Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	f.srv = srv
	c := f.client()
	c.login("ayla@example.com", "partner-pw-ayla")
	_, body, _ := c.get("/partner")
	if !strings.Contains(body, "Clicks per day <span class=\"muted\">(total 3)") {
		t.Fatalf("partner home charts: %.2000s", body[strings.Index(body, "Last 30 days"):])
	}
	if strings.Count(body, "<rect") != 3*chartDays {
		t.Fatalf("rects = %d, want %d", strings.Count(body, "<rect"), 3*chartDays)
	}
}
