package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/openaff/affiliate/dashboard/internal/api"
	"github.com/openaff/affiliate/dashboard/internal/auth"
	"github.com/openaff/affiliate/dashboard/internal/links"
	"github.com/openaff/affiliate/dashboard/internal/reports"
	"github.com/openaff/affiliate/dashboard/internal/storage"
	"github.com/openaff/affiliate/dashboard/internal/ui"
	"github.com/openaff/affiliate/pkg/ledger"
	"github.com/openaff/affiliate/pkg/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// ChromiumPath is Debian's chromium; AFF_TEST_CHROMIUM overrides it.
func chromiumPath(t *testing.T) string {
	p := os.Getenv("AFF_TEST_CHROMIUM")
	if p == "" {
		p = "/usr/bin/chromium"
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("chromium not found at %s (install: apt-get install chromium, or set AFF_TEST_CHROMIUM): %v", p, err)
	}
	return p
}

type e2e struct {
	t     *testing.T
	base  string
	pool  *pgxpool.Pool
	store *storage.Storage
	led   *ledger.Ledger
	ctx   context.Context
	shots string
	// ClickHouse of the charts.
	chAddr, chDB string
}

// seedClicks writes n clicks a day for the last days days for a partner
// into ClickHouse (the tracker sink's rows), so the charts have data.
func (e *e2e) seedClicks(partnerID int64, days int) {
	e.t.Helper()
	ctx := context.Background()
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{e.chAddr}, Auth: clickhouse.Auth{Database: e.chDB}})
	if err != nil {
		e.t.Fatal(err)
	}
	defer conn.Close()
	b, err := conn.PrepareBatch(ctx, "INSERT INTO "+e.chDB+".clicks (click_id, at, device_token, partner_id, link_id, link_kind, target, product_id, category_id, referer, user_agent, ip, bot)")
	if err != nil {
		e.t.Fatal(err)
	}
	now := time.Now().UTC()
	for d := 0; d < days; d++ {
		for i := 0; i < 3+(d*7)%11; i++ {
			id := fmt.Sprintf("c-%d-%d", d, i)
			if err := b.Append(id, now.AddDate(0, 0, -d), "dev-"+id, strconv.FormatInt(partnerID, 10), "1", "link",
				"https://shop.example/p/1", "p-1", "shoes", "", "", "", uint8(0)); err != nil {
				e.t.Fatal(err)
			}
		}
	}
	if err := b.Send(); err != nil {
		e.t.Fatal(err)
	}
	// Commission facts of earlier orders (the settler's mirror).
	b, err = conn.PrepareBatch(ctx, "INSERT INTO "+e.chDB+".commission_facts (event_id, at, commission_id, order_id, line_id, partner_id, currency, amount_minor, base_minor, state)")
	if err != nil {
		e.t.Fatal(err)
	}
	for d := 1; d < days; d += 3 {
		id := fmt.Sprintf("old-%d", d)
		if err := b.Append(id, now.AddDate(0, 0, -d), id+"/1/1", id, "1", strconv.FormatInt(partnerID, 10), "EUR",
			int64(500+d*37), int64(5000+d*370), "approved"); err != nil {
			e.t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		e.t.Fatal(err)
	}
}

func startE2E(t *testing.T) *e2e {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), testenv.Get(t).PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	st := storage.New(pool)
	l := ledger.New(pool, ledger.Options{})
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	lm := links.Maker{AllowedHosts: []string{"shop.example"}, TrackerBase: "http://go.example", Shop: "https://shop.example/"}
	env := testenv.Get(t)
	chDB := env.ClickHouseDB(t)
	rep, err := reports.Open(context.Background(), env.ClickHouseAddr(), chDB)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rep.Close() })
	u, err := ui.New(ui.Deps{Store: st, Ledger: l, Links: lm, Hasher: auth.Hasher{Cost: 4}, Reports: rep, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(New(api.Deps{Store: st, Ledger: l, Links: lm, Token: "e2e-token-0123456789", Log: log}, u))
	t.Cleanup(srv.Close)

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1280, 900),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	t.Cleanup(cancelCtx)
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil { // starts the browser
		t.Fatalf("cannot start chromium: %v", err)
	}
	for _, name := range []string{"clipboard-read", "clipboard-write"} {
		if _, err := chromedp.CallBrowser(ctx, browser.SetPermission, browser.SetPermissionParams{
			Permission: &browser.PermissionDescriptor{Name: name}, Setting: "granted", Origin: srv.URL}); err != nil {
			t.Fatalf("cannot grant %s: %v", name, err)
		}
	}
	return &e2e{t: t, base: srv.URL, pool: pool, store: st, led: l, ctx: ctx, shots: os.Getenv("AFF_SCREENSHOTS_DIR"),
		chAddr: env.ClickHouseAddr(), chDB: chDB}
}

func (e *e2e) run(what string, actions ...chromedp.Action[chromedp.Void]) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		e.fatal(what, err)
	}
}

func (e *e2e) fatal(what string, err error) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, 5*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	body, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main")))
	e.t.Fatalf("%s: %v (at %s: %.500s)", what, err, loc, body)
}

// value runs one action that returns a value, within the step timeout.
func value[T any](e *e2e, what string, a chromedp.Action[T]) T {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		e.fatal(what, err)
	}
	return v
}

// shot saves a screenshot of the current page when AFF_SCREENSHOTS_DIR is set.
func (e *e2e) shot(name string) {
	e.t.Helper()
	if e.shots == "" {
		return
	}
	png := value(e, "screenshot "+name, chromedp.FullScreenshot(100))
	if err := os.WriteFile(filepath.Join(e.shots, name+".png"), png, 0o644); err != nil {
		e.t.Fatal(err)
	}
}

func (e *e2e) login(email, password string) {
	e.t.Helper()
	e.run("login "+email,
		chromedp.Navigate(e.base+"/login"),
		chromedp.WaitVisible(chromedp.CSS(`#login-form`)),
		chromedp.SendKeys(chromedp.CSS(`#login-form input[name=email]`), email),
		chromedp.SendKeys(chromedp.CSS(`#login-form input[name=password]`), password),
		chromedp.Submit(chromedp.CSS(`#login-form`)),
		chromedp.WaitVisible(chromedp.CSS(`header form[action="/logout"]`)),
	)
}

func (e *e2e) logout() {
	e.t.Helper()
	e.run("logout", chromedp.Click(chromedp.CSS(`header form[action="/logout"] button`)), chromedp.WaitVisible(chromedp.CSS(`#login-form`)))
}

func (e *e2e) text(sel string) string {
	e.t.Helper()
	e.run("wait for "+sel, chromedp.WaitVisible(chromedp.CSS(sel)))
	return strings.TrimSpace(value(e, "read "+sel, chromedp.Text(chromedp.CSS(sel))))
}

// TestBrowserPartnerJourney drives Debian's chromium through: a partner
// applies → the admin approves → the partner logs in, generates a product
// link and copies it → an order is settled for them (seeded as the
// settler writes it) → the admin approves the commission → the partner
// sees 90 % available and 10 % reserved → requests a payout → the admin
// marks it paid → the partner sees it under payouts.
func TestBrowserPartnerJourney(t *testing.T) {
	e := startE2E(t)
	ctx := context.Background()
	hash, _ := auth.Hasher{Cost: 4}.Hash("admin-password-1")
	if _, err := e.store.CreateAdmin(ctx, "admin@example.com", hash); err != nil {
		t.Fatal(err)
	}
	if err := e.store.ImportProducts(ctx, []storage.Product{{ID: "p-1", Name: "Blue shoe", URL: "https://shop.example/p/1", CategoryID: "shoes"}}); err != nil {
		t.Fatal(err)
	}

	// 1. The partner applies on the public form.
	e.run("apply",
		chromedp.Navigate(e.base+"/apply"),
		chromedp.WaitVisible(chromedp.CSS(`#apply-form`)),
		chromedp.SendKeys(chromedp.CSS(`#apply-form input[name=name]`), "Serdar"),
		chromedp.SendKeys(chromedp.CSS(`#apply-form input[name=email]`), "serdar@example.com"),
		chromedp.SendKeys(chromedp.CSS(`#apply-form input[name=slug]`), "serdar"),
		chromedp.SendKeys(chromedp.CSS(`#apply-form input[name=password]`), "serdar-secret-pw"),
	)
	e.shot("apply")
	e.run("submit application", chromedp.Submit(chromedp.CSS(`#apply-form`)))
	if got := e.text("#flash"); !strings.HasPrefix(got, "Thank you") {
		t.Fatalf("after applying: %q", got)
	}

	// 2. The admin approves it.
	e.login("admin@example.com", "admin-password-1")
	e.run("applications", chromedp.Navigate(e.base+"/admin/applications"), chromedp.WaitVisible(chromedp.CSS(`tr[data-email="serdar@example.com"]`)))
	e.shot("admin-applications")
	e.run("approve", chromedp.Click(chromedp.CSS(`tr[data-email="serdar@example.com"] button.approve`)))
	if got := e.text("#flash"); !strings.HasPrefix(got, "Approved: Serdar") {
		t.Fatalf("after approving: %q", got)
	}
	e.logout()

	// 3. The partner logs in, generates a product link and copies it.
	e.login("serdar@example.com", "serdar-secret-pw")
	e.run("links", chromedp.Navigate(e.base+"/partner/links"), chromedp.WaitVisible(chromedp.CSS(`#product-link`)),
		chromedp.SetValue(chromedp.CSS(`#product-link select[name=product_id]`), "p-1"),
		chromedp.Submit(chromedp.CSS(`#product-link`)))
	if got := e.text("#flash"); !strings.HasPrefix(got, "Link ready: http://go.example/r/") {
		t.Fatalf("after generating: %q", got)
	}
	link := e.text(`#links code.link`)
	e.run("copy", chromedp.Click(chromedp.CSS(`#links button.copy`)), chromedp.WaitVisible(chromedp.CSS(`#links button.copy[data-copied]`)))
	copied := value(e, "copied attribute", chromedp.AttributeValue(chromedp.CSS(`#links button.copy`), "data-copied")).Value
	// What the system clipboard holds now (the page was granted clipboard-read).
	clip := value(e, "clipboard", chromedp.Evaluate[string](`navigator.clipboard.readText()`, chromedp.EvalAwaitPromise))
	if copied != link || clip != link || !strings.HasPrefix(link, "http://go.example/r/") {
		t.Fatalf("copied %q, clipboard %q, want the link %q", copied, clip, link)
	}
	e.shot("partner-links")

	// 4. An order of theirs is settled (the settler's writes, seeded here).
	p, err := e.store.UserByEmail(ctx, "serdar@example.com")
	if err != nil {
		t.Fatal(err)
	}
	e.seedSettledOrder("o-100", p.PartnerID, 2000) // 20.00 EUR commission
	e.seedClicks(p.PartnerID, 30)
	e.run("home before approval", chromedp.Navigate(e.base+"/partner"))
	if got := e.text("#pending"); got != "20.00 EUR" {
		t.Fatalf("pending before approval = %q", got)
	}
	e.logout()

	// 5. The admin approves the commission (bulk form).
	e.login("admin@example.com", "admin-password-1")
	e.run("commissions", chromedp.Navigate(e.base+"/admin/commissions?state=pending"), chromedp.WaitVisible(chromedp.CSS(`input[name=ids]`)))
	e.shot("admin-commissions")
	e.run("approve commission", chromedp.Click(chromedp.CSS(`#select-all`)), chromedp.Click(chromedp.CSS(`form[action="/admin/commissions/approve"] button`)))
	if got := e.text("#flash"); got != "Approved 1 commission(s)." {
		t.Fatalf("after approving commissions: %q", got)
	}
	e.logout()

	// 6. The partner sees 90 % available and 10 % reserved, and asks for a payout.
	e.login("serdar@example.com", "serdar-secret-pw")
	e.run("home", chromedp.Navigate(e.base+"/partner"))
	if av, rs := e.text("#available"), e.text("#reserved"); av != "18.00 EUR" || rs != "2.00 EUR" {
		t.Fatalf("available %q reserved %q, want 18.00 and 2.00 EUR", av, rs)
	}
	if got := e.text("main"); !strings.Contains(got, "Clicks per day") {
		t.Fatalf("partner home has no charts: %.300q", got)
	}
	e.shot("partner-home")
	e.run("bank", chromedp.Navigate(e.base+"/partner/bank"),
		chromedp.SendKeys(chromedp.CSS(`#bank input[name=holder]`), "Serdar"),
		chromedp.SendKeys(chromedp.CSS(`#bank input[name=iban]`), "DE89 3704 0044 0532 0130 00"),
		chromedp.Submit(chromedp.CSS(`#bank`)))
	if got := e.text("#flash"); got != "Bank details saved." {
		t.Fatalf("after saving bank: %q", got)
	}
	e.run("payout", chromedp.Navigate(e.base+"/partner/payouts"), chromedp.Submit(chromedp.CSS(`#payout`)))
	if got := e.text("#flash"); got != "Payout requested." {
		t.Fatalf("after requesting payout: %q", got)
	}
	e.logout()

	// 7. The admin marks it paid; the partner sees it.
	e.login("admin@example.com", "admin-password-1")
	e.run("payouts", chromedp.Navigate(e.base+"/admin/payouts?status=requested"), chromedp.WaitVisible(chromedp.CSS(`button.mark-paid`)))
	e.shot("admin-payouts")
	e.run("mark paid", chromedp.Click(chromedp.CSS(`button.mark-paid`)))
	if got := e.text("#flash"); got != "Payout updated." {
		t.Fatalf("after marking paid: %q", got)
	}
	e.run("admin overview", chromedp.Navigate(e.base+"/admin"), chromedp.WaitVisible(chromedp.CSS(`h1`)))
	e.shot("admin-overview")
	e.logout()
	e.login("serdar@example.com", "serdar-secret-pw")
	e.run("partner payouts", chromedp.Navigate(e.base+"/partner/payouts"))
	if got := e.text("#payouts"); !strings.Contains(got, "18.00 EUR") || !strings.Contains(got, "paid") {
		t.Fatalf("partner payouts = %q", got)
	}
	e.run("home after payout", chromedp.Navigate(e.base+"/partner"))
	if got := e.text("#paid-out"); got != "18.00 EUR" {
		t.Fatalf("paid out = %q", got)
	}
}

func (e *e2e) seedSettledOrder(orderID string, partnerID, amountMinor int64) {
	e.t.Helper()
	ctx := context.Background()
	exec := func(q string, args ...any) {
		e.t.Helper()
		if _, err := e.pool.Exec(ctx, q, args...); err != nil {
			e.t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`INSERT INTO orders (order_id, currency, placed_at, settled_revision) VALUES ($1, 'EUR', now(), 1)`, orderID)
	exec(`INSERT INTO order_lines (order_id, line_id, product_id, quantity, unit_price_minor) VALUES ($1, '1', 'p-1', 1, $2)`, orderID, amountMinor*10)
	exec(`INSERT INTO attributions (order_id, version, partner_id, rule, click_id) VALUES ($1, 1, $2, 'device', '01890000-0000-7000-8000-000000000001')`, orderID, partnerID)
	exec(`INSERT INTO commissions (order_id, line_id, attribution_version, partner_id, currency, base_minor, rate_upct, rate_rule, amount_minor, accrual_transfer_key, ledger_ref)
		VALUES ($1, '1', 1, $2, 'EUR', $3, 10000000, 'program_default', $4, 'accrue:' || $1 || '/1/1', $1 || '/1/1')`, orderID, partnerID, amountMinor*10, amountMinor)
	if _, err := e.led.Accrue(ctx, ledger.AccrueParams{Key: "accrue:" + orderID + "/1/1", PartnerID: strconv.FormatInt(partnerID, 10),
		Currency: "EUR", AmountMinor: amountMinor, CommissionID: orderID + "/1/1"}); err != nil {
		e.t.Fatal(fmt.Errorf("accrue: %w", err))
	}
}
