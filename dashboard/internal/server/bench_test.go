package server

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/openaff/affiliate/dashboard/internal/api"
	"github.com/openaff/affiliate/dashboard/internal/auth"
	"github.com/openaff/affiliate/dashboard/internal/links"
	"github.com/openaff/affiliate/dashboard/internal/storage"
	"github.com/openaff/affiliate/dashboard/internal/ui"
	"github.com/openaff/affiliate/pkg/ledger"
	"github.com/openaff/affiliate/pkg/testenv"
)

// Scale of the page benchmarks (issue 7: 10k partners, 1M commissions).
const (
	benchPartners    = 10_000
	benchOrders      = 250_000
	linesPerOrder    = 4 // → 1M commissions
	benchPartnerUser = 42
)

var (
	benchOnce sync.Once
	benchSrv  *httptest.Server
	benchErr  error
)

// seedScale fills a fresh database with 10k partners and 1M commissions in
// bulk SQL (the settler's shapes, no ledger postings).
func seedScale(ctx context.Context, pool *pgxpool.Pool) error {
	stmts := []string{
		`INSERT INTO partners (name, email, slug) SELECT 'Partner ' || i, 'p' || i || '@example.com', 'p' || i FROM generate_series(1, ` + itoa(benchPartners) + `) i`,
		`INSERT INTO orders (order_id, customer_id, currency, placed_at)
			SELECT 'o' || i, 'c' || i, 'EUR', now() - (i || ' minutes')::interval FROM generate_series(1, ` + itoa(benchOrders) + `) i`,
		`DELETE FROM settle_queue`, // settled
		`INSERT INTO order_lines (order_id, line_id, product_id, quantity, unit_price_minor)
			SELECT 'o' || i, l::text, 'prod' || (i % 500), 1, 1000 FROM generate_series(1, ` + itoa(benchOrders) + `) i, generate_series(1, ` + itoa(linesPerOrder) + `) l`,
		`INSERT INTO attributions (order_id, version, partner_id, rule, click_id)
			SELECT 'o' || i, 1, 1 + i % ` + itoa(benchPartners) + `, 'device', gen_random_uuid() FROM generate_series(1, ` + itoa(benchOrders) + `) i`,
		`INSERT INTO commissions (order_id, line_id, attribution_version, partner_id, currency, base_minor, rate_upct, rate_rule, amount_minor, state, created_at)
			SELECT 'o' || i, l::text, 1, 1 + i % ` + itoa(benchPartners) + `, 'EUR', 1000, 10000000, 'program_default', 100, 'pending',
				now() - (i || ' minutes')::interval FROM generate_series(1, ` + itoa(benchOrders) + `) i, generate_series(1, ` + itoa(linesPerOrder) + `) l`,
		`ANALYZE`,
	}
	for _, q := range stmts {
		if _, err := pool.Exec(ctx, q); err != nil {
			return err
		}
	}
	return nil
}

func itoa(n int) string { return strconv.Itoa(n) }

func benchServer(b *testing.B) *httptest.Server {
	benchOnce.Do(func() {
		ctx := context.Background()
		var pool *pgxpool.Pool
		pool, benchErr = pgxpool.New(ctx, testenv.Get(b).PostgresURL(b))
		if benchErr != nil {
			return
		}
		start := time.Now()
		if benchErr = seedScale(ctx, pool); benchErr != nil {
			return
		}
		b.Logf("seeded %d partners and %d commissions in %v", benchPartners, benchOrders*linesPerOrder, time.Since(start).Round(time.Second))
		st := storage.New(pool)
		h := auth.Hasher{Cost: 4}
		hash, _ := h.Hash("admin-password-1")
		if _, benchErr = st.CreateAdmin(ctx, "admin@example.com", hash); benchErr != nil {
			return
		}
		hash, _ = h.Hash("partner-password")
		if _, benchErr = st.CreatePartnerUser(ctx, benchPartnerUser, "partner@example.com", hash); benchErr != nil {
			return
		}
		l := ledger.New(pool, ledger.Options{})
		log := slog.New(slog.NewTextHandler(io.Discard, nil))
		lm := links.Maker{AllowedHosts: []string{"shop.example"}, TrackerBase: "http://go.example", Shop: "https://shop.example/"}
		var u *ui.UI
		if u, benchErr = ui.New(ui.Deps{Store: st, Ledger: l, Links: lm, Hasher: h, Log: log}); benchErr != nil {
			return
		}
		benchSrv = httptest.NewServer(New(api.Deps{Store: st, Ledger: l, Links: lm, Token: "bench-token", Log: log}, u))
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return benchSrv
}

func loggedIn(b *testing.B, base, email, password string) *http.Client {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(base + "/login")
	if err != nil {
		b.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	tok := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(body)
	resp, err = c.PostForm(base+"/login", url.Values{"email": {email}, "password": {password}, "csrf": {string(tok[1])}})
	if err != nil || resp.StatusCode != http.StatusSeeOther {
		b.Fatalf("login %s: %v %v", email, err, resp)
	}
	resp.Body.Close()
	return c
}

// BenchmarkPages measures the p95 latency of the main pages over 10k
// partners and 1M commissions; /healthz (one Postgres ping) is the
// baseline of the same run. Run: go test -run '^$' -bench Pages ./internal/server
func BenchmarkPages(b *testing.B) {
	srv := benchServer(b)
	admin := loggedIn(b, srv.URL, "admin@example.com", "admin-password-1")
	partner := loggedIn(b, srv.URL, "partner@example.com", "partner-password")
	pages := []struct {
		name string
		c    *http.Client
		path string
	}{
		{"baseline_healthz", admin, "/healthz"},
		{"partner_home", partner, "/partner"},
		{"partner_commissions", partner, "/partner/commissions"},
		{"admin_orders", admin, "/admin/orders"},
		{"admin_orders_by_partner", admin, "/admin/orders?partner_id=42"},
		{"admin_commissions", admin, "/admin/commissions?state=pending"},
		{"admin_partners", admin, "/admin/partners?page=100"},
		{"admin_overview", admin, "/admin"},
	}
	for _, p := range pages {
		b.Run(p.name, func(b *testing.B) {
			b.ReportAllocs()
			durs := make([]time.Duration, 0, b.N)
			for b.Loop() {
				start := time.Now()
				resp, err := p.c.Get(srv.URL + p.path)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Fatalf("GET %s = %d", p.path, resp.StatusCode)
				}
				durs = append(durs, time.Since(start))
			}
			sort.Slice(durs, func(i, j int) bool { return durs[i] < durs[j] })
			b.ReportMetric(float64(durs[len(durs)*95/100].Microseconds())/1000, "p95-ms")
			b.ReportMetric(float64(durs[len(durs)/2].Microseconds())/1000, "p50-ms")
		})
	}
}
