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
	"github.com/chromedp/cdproto/emulation"
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

func TestMain(m *testing.M) {
	code := testenv.Main(m)
	removeBinaries()
	os.Exit(code)
}

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
	// ClickHouse of the charts, written by the tracker sink.
	chAddr, chDB string
	// The tracker, the settler and the shop.
	plat *platform
}

func startE2E(t *testing.T) *e2e {
	t.Helper()
	pgURL := testenv.Get(t).PostgresURL(t)
	pool, err := pgxpool.New(context.Background(), pgURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	st := storage.New(pool)
	l := ledger.New(pool, ledger.Options{})
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	env := testenv.Get(t)
	chDB := env.ClickHouseDB(t)
	plat := newPlatform(t, pgURL, env.ClickHouseAddr(), chDB)
	lm := links.Maker{AllowedHosts: []string{"127.0.0.1"}, TrackerBase: plat.trackerBase(), Shop: plat.shop.srv.URL + "/"}
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
		chAddr: env.ClickHouseAddr(), chDB: chDB, plat: plat}
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

// visitorUA is the visitor's user agent: an ordinary desktop Chrome.
const visitorUA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0.0.0 Safari/537.36"

// waitForText reloads url until the text of sel contains every one of
// wants (data that arrives asynchronously, such as ClickHouse rows written
// by the sink), for up to 60 s.
func (e *e2e) waitForText(what, url, sel string, wants ...string) {
	e.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		e.run(what, chromedp.Navigate(url))
		got := e.text(sel)
		missing := ""
		for _, w := range wants {
			if !strings.Contains(got, w) {
				missing = w
				break
			}
		}
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%s: no %q within 60 s in %.600q", what, missing, got)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// visitorClick returns the id of the one click the tracker sink wrote to
// ClickHouse for the device token; it must be the partner's and no bot's.
func (e *e2e) visitorClick(device string, partnerID int64) string {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{e.chAddr}, Auth: clickhouse.Auth{Database: e.chDB}})
	if err != nil {
		e.t.Fatal(err)
	}
	defer conn.Close()
	rows, err := conn.Query(ctx, "SELECT click_id, partner_id, bot FROM "+e.chDB+".clicks WHERE device_token = ?", device)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	type click struct {
		id, partner string
		bot         uint8
	}
	var got []click
	for rows.Next() {
		var c click
		if err := rows.Scan(&c.id, &c.partner, &c.bot); err != nil {
			e.t.Fatal(err)
		}
		got = append(got, c)
	}
	if err := rows.Err(); err != nil {
		e.t.Fatal(err)
	}
	if len(got) != 1 || got[0].partner != strconv.FormatInt(partnerID, 10) || got[0].bot != 0 {
		e.t.Fatalf("clicks of the visitor's device in ClickHouse: %+v, want one non-bot click of partner %d", got, partnerID)
	}
	return got[0].id
}

// phone makes the browser a 375 px wide phone screen.
func (e *e2e) phone() {
	e.t.Helper()
	if _, err := chromedp.Call(e.ctx, emulation.SetDeviceMetricsOverride,
		emulation.SetDeviceMetricsOverrideParams{Width: 375, Height: 740, DeviceScaleFactor: 2, Mobile: true}); err != nil {
		e.t.Fatalf("phone screen: %v", err)
	}
}

// fitsPhone checks that no page is wider than the phone's screen (phone).
func (e *e2e) fitsPhone(pages ...string) {
	e.t.Helper()
	for _, p := range pages {
		e.run(p, chromedp.Navigate(e.base+p), chromedp.WaitVisible(chromedp.CSS(`h1`)))
		w := value(e, "measure "+p, chromedp.Evaluate[[]int](`[document.documentElement.scrollWidth, screen.width]`))
		if len(w) != 2 || w[0] > w[1] {
			e.shot("phone" + strings.ReplaceAll(p, "/", "-"))
			e.t.Errorf("%s on a 375 px screen: page %v px wide (scrollWidth, screen width)", p, w)
		}
	}
}

func (e *e2e) text(sel string) string {
	e.t.Helper()
	e.run("wait for "+sel, chromedp.WaitVisible(chromedp.CSS(sel)))
	return strings.TrimSpace(value(e, "read "+sel, chromedp.Text(chromedp.CSS(sel))))
}

// TestBrowserPartnerJourney drives Debian's chromium through the whole
// product with the real tracker and settler processes: a partner applies →
// the admin approves → the partner logs in, generates a product link and
// copies it → a visitor (another browser profile) follows the copied link
// through `tracker serve` to the shop and orders; the shop posts the
// order to the tracker's /v1/orders → `tracker sink` brings the click to
// ClickHouse → `settler run` attributes the order to the click and
// computes the commission → the admin sees the attribution and approves →
// the partner sees 90 % available and 10 % reserved, and the click, order
// and commission in the charts → requests a payout → the admin marks it
// paid → the partner sees it under payouts.
func TestBrowserPartnerJourney(t *testing.T) {
	type built struct {
		tracker, settler string
		err              error
	}
	began := time.Now()
	builds := make(chan built, 1)
	go func() { // meanwhile the browser applies and approves
		tr, se, err := buildBinaries()
		builds <- built{tr, se, err}
	}()
	e := startE2E(t)
	ctx := context.Background()
	hash, _ := auth.Hasher{Cost: 4}.Hash("admin-password-1")
	if _, err := e.store.CreateAdmin(ctx, "admin@example.com", hash); err != nil {
		t.Fatal(err)
	}
	shopURL := e.plat.shop.srv.URL
	if err := e.store.ImportProducts(ctx, []storage.Product{{ID: "p-1", Name: "Blue shoe", URL: shopURL + "/p/1", CategoryID: "shoes"}}); err != nil {
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

	// The tracker (edge and sink) runs from here on.
	b := <-builds
	if b.err != nil {
		t.Fatal(b.err)
	}
	e.plat.start(t, b.tracker, b.settler)
	t.Logf("tracker serve and sink up after %v", time.Since(began).Round(time.Millisecond))

	// 3. The partner logs in, generates a product link and copies it.
	tracking := e.plat.trackerBase() + "/r/"
	e.login("serdar@example.com", "serdar-secret-pw")
	e.run("links", chromedp.Navigate(e.base+"/partner/links"), chromedp.WaitVisible(chromedp.CSS(`#product-link`)),
		chromedp.SetValue(chromedp.CSS(`#product-link select[name=product_id]`), "p-1"),
		chromedp.Submit(chromedp.CSS(`#product-link`)))
	if got := e.text("#flash"); !strings.HasPrefix(got, "Link ready: "+tracking) {
		t.Fatalf("after generating: %q", got)
	}
	link := e.text(`#links code.link`)
	e.run("copy", chromedp.Click(chromedp.CSS(`#links button.copy`)), chromedp.WaitVisible(chromedp.CSS(`#links button.copy[data-copied]`)))
	copied := value(e, "copied attribute", chromedp.AttributeValue(chromedp.CSS(`#links button.copy`), "data-copied")).Value
	// What the system clipboard holds now (the page was granted clipboard-read).
	clip := value(e, "clipboard", chromedp.Evaluate[string](`navigator.clipboard.readText()`, chromedp.EvalAwaitPromise))
	if copied != link || clip != link || !strings.HasPrefix(link, tracking) {
		t.Fatalf("copied %q, clipboard %q, want the link %q", copied, clip, link)
	}
	e.shot("partner-links")
	e.logout()
	p, err := e.store.UserByEmail(ctx, "serdar@example.com")
	if err != nil {
		t.Fatal(err)
	}

	// 4. A visitor (a fresh browser profile: no cookies) follows the
	// copied link: the tracker sets its device cookie and redirects to the
	// product page; they buy, and the shop posts the order to the tracker.
	vctx, closeVisitor := chromedp.NewContext(e.ctx, chromedp.WithNewBrowserContext())
	defer closeVisitor()
	visit := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		c, cancel := context.WithTimeout(vctx, 30*time.Second)
		defer cancel()
		if err := chromedp.Do(c, actions...); err != nil {
			loc, _ := chromedp.Run(vctx, chromedp.Location())
			t.Fatalf("visitor: %s: %v (at %s)", what, err, loc)
		}
	}
	// An ordinary desktop browser, not HeadlessChrome: the tracker flags
	// crawler user agents as bots, and bot clicks earn nothing.
	if _, err := chromedp.Call(vctx, emulation.SetUserAgentOverride, emulation.SetUserAgentOverrideParams{UserAgent: visitorUA}); err != nil {
		t.Fatalf("visitor user agent: %v", err)
	}
	visit("follow the link", chromedp.Navigate(clip), chromedp.WaitVisible(chromedp.CSS(`#buy`)))
	if loc, _ := chromedp.Run(vctx, chromedp.Location()); loc != shopURL+"/p/1" {
		t.Fatalf("the link %s led to %s, want the product page %s/p/1", clip, loc, shopURL)
	}
	visit("buy", chromedp.Click(chromedp.CSS(`#buy button`)), chromedp.WaitVisible(chromedp.CSS(`#thanks`)))
	orders := e.plat.shop.placed()
	if len(orders) != 1 || orders[0].DeviceToken == "" {
		t.Fatalf("the shop placed %+v, want one order carrying the tracker's device cookie", orders)
	}
	order := orders[0]
	closeVisitor()

	// The sink brings the click to ClickHouse; once the tracker has sent
	// it and the sink's watermark has passed the order time, one
	// settlement pass decides the order.
	e.plat.waitSettleable(t, e.pool, order.At)
	clickID := e.visitorClick(order.DeviceToken, p.PartnerID)
	e.plat.settlerRun(t)
	t.Logf("order settled after %v", time.Since(began).Round(time.Millisecond))

	e.login("serdar@example.com", "serdar-secret-pw")
	e.run("home before approval", chromedp.Navigate(e.base+"/partner"))
	if got := e.text("#pending"); got != "20.00 EUR" {
		t.Fatalf("pending before approval = %q, want 20.00 EUR (10 %% of the 200.00 order)", got)
	}
	// The charts (ClickHouse): the visitor's click, and the order and its
	// commission once the sink has the settler's commission facts.
	e.waitForText("partner charts", e.base+"/partner", "main",
		"Clicks per day (total 1)", "Orders per day (total 1)", "Commission per day (total 20.00 EUR)")
	e.logout()

	// The admin sees how the order was attributed: to the visitor's click.
	e.login("admin@example.com", "admin-password-1")
	e.run("order", chromedp.Navigate(e.base+"/admin/orders/"+order.OrderID))
	if got, want := e.text("#attribution"), fmt.Sprintf("Rule device → partner #%d · click %s", p.PartnerID, clickID); !strings.HasPrefix(got, want) {
		t.Fatalf("attribution of %s = %q, want %q", order.OrderID, got, want)
	}

	// 5. The admin approves the commission (bulk form).
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

	// 8. On a phone, no page is wider than the screen: wide tables scroll
	// within themselves (they pushed every page sideways).
	e.phone()
	e.fitsPhone("/partner", "/partner/links", "/partner/commissions", "/partner/customers", "/partner/payouts", "/partner/products")
	e.logout()
	e.login("admin@example.com", "admin-password-1")
	e.fitsPhone("/admin", "/admin/partners", "/admin/orders", "/admin/commissions", "/admin/payouts", "/admin/runs", "/admin/rates")
}
