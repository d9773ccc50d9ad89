package ui

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/openaff/affiliate/dashboard/internal/auth"
	"github.com/openaff/affiliate/dashboard/internal/links"
	"github.com/openaff/affiliate/dashboard/internal/storage"
	"github.com/openaff/affiliate/pkg/ledger"
	"github.com/openaff/affiliate/pkg/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

var testHasher = auth.Hasher{Cost: 4} // bcrypt's minimum: tests only

type fixture struct {
	t      *testing.T
	srv    *httptest.Server
	pool   *pgxpool.Pool
	store  *storage.Storage
	ledger *ledger.Ledger
}

func newFixture(t *testing.T, secure bool) *fixture {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), testenv.Get(t).PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	st := storage.New(pool)
	l := ledger.New(pool, ledger.Options{})
	u, err := New(Deps{Store: st, Ledger: l, Hasher: testHasher, CookieSecure: secure,
		Links: links.Maker{AllowedHosts: []string{"shop.example"}, TrackerBase: "https://go.example", Shop: "https://shop.example/"},
		Log:   slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	u.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &fixture{t: t, srv: srv, pool: pool, store: st, ledger: l}
}

func (f *fixture) exec(q string, args ...any) {
	f.t.Helper()
	if _, err := f.pool.Exec(context.Background(), q, args...); err != nil {
		f.t.Fatalf("%s: %v", q, err)
	}
}

func (f *fixture) admin(email string) {
	f.t.Helper()
	h, _ := testHasher.Hash("admin-password-1")
	if _, err := f.store.CreateAdmin(context.Background(), email, h); err != nil {
		f.t.Fatal(err)
	}
}

// partner creates a partner with a login; the password is "partner-pw-<slug>".
func (f *fixture) partner(slug string) int64 {
	f.t.Helper()
	ctx := context.Background()
	p, err := f.store.CreatePartner(ctx, storage.Partner{Name: strings.ToUpper(slug), Email: slug + "@example.com", Slug: slug, DefaultRateUPct: -1})
	if err != nil {
		f.t.Fatal(err)
	}
	h, _ := testHasher.Hash("partner-pw-" + slug)
	if _, err := f.store.CreatePartnerUser(ctx, p.ID, p.Email, h); err != nil {
		f.t.Fatal(err)
	}
	return p.ID
}

// seedOrder writes an attributed order with one pending commission (and
// its ledger accrual), bound customer cust-<orderID>.
func (f *fixture) seedOrder(orderID string, partnerID, amountMinor int64) int64 {
	f.t.Helper()
	ctx := context.Background()
	f.exec(`INSERT INTO customers (customer_id, email, first_seen_at) VALUES ('cust-'||$1, $1||'@buyer.example', now())`, orderID)
	f.exec(`INSERT INTO customer_bindings (customer_id, partner_id, source, bound_at) VALUES ('cust-'||$1, $2, 'admin', now() - interval '1 hour')`, orderID, partnerID)
	f.exec(`INSERT INTO orders (order_id, customer_id, currency, placed_at) VALUES ($1, 'cust-'||$1, 'EUR', now())`, orderID)
	f.exec(`DELETE FROM settle_queue WHERE order_id = $1`, orderID) // settled
	f.exec(`INSERT INTO order_lines (order_id, line_id, product_id, quantity, unit_price_minor) VALUES ($1, '1', 'prod-'||$1, 1, $2)`, orderID, amountMinor*10)
	f.exec(`INSERT INTO attributions (order_id, version, partner_id, rule, binding_id) VALUES ($1, 1, $2, 'customer_binding', (SELECT id FROM customer_bindings WHERE customer_id = 'cust-'||$1))`, orderID, partnerID)
	var cid int64
	if err := f.pool.QueryRow(ctx, `INSERT INTO commissions (order_id, line_id, attribution_version, partner_id, currency, base_minor, rate_upct, rate_rule, amount_minor, accrual_transfer_key, ledger_ref)
		VALUES ($1, '1', 1, $2, 'EUR', $3, 10000000, 'program_default', $4, 'accrue:'||$1||'/1/1', $1||'/1/1') RETURNING id`, orderID, partnerID, amountMinor*10, amountMinor).Scan(&cid); err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.ledger.Accrue(ctx, ledger.AccrueParams{Key: "accrue:" + orderID + "/1/1", PartnerID: strconv.FormatInt(partnerID, 10),
		Currency: "EUR", AmountMinor: amountMinor, CommissionID: orderID + "/1/1"}); err != nil {
		f.t.Fatal(err)
	}
	return cid
}

// client is a browser-like client with a cookie jar that never follows
// redirects (tests look at them).
type client struct {
	f    *fixture
	http *http.Client
	csrf string
}

func (f *fixture) client() *client {
	jar, _ := cookiejar.New(nil)
	return &client{f: f, http: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (c *client) get(path string) (int, string, http.Header) {
	c.f.t.Helper()
	resp, err := c.http.Get(c.f.srv.URL + path)
	if err != nil {
		c.f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if m := csrfRe.FindSubmatch(b); m != nil {
		c.csrf = string(m[1])
	}
	return resp.StatusCode, string(b), resp.Header
}

// post sends a form with the client's current CSRF token (unless the form
// sets csrf itself) and returns the status and the Location header.
func (c *client) post(path string, form url.Values) (int, string) {
	c.f.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if _, ok := form["csrf"]; !ok {
		form.Set("csrf", c.csrf)
	}
	resp, err := c.http.PostForm(c.f.srv.URL+path, form)
	if err != nil {
		c.f.t.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header.Get("Location")
}

// flash follows the redirect target and returns the flash message shown.
func (c *client) flash(target string) string {
	c.f.t.Helper()
	_, body, _ := c.get(target)
	m := regexp.MustCompile(`id="flash">([^<]*)<`).FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return m[1]
}

func (c *client) login(email, password string) int {
	c.f.t.Helper()
	c.get("/login")
	status, _ := c.post("/login", url.Values{"email": {email}, "password": {password}})
	if status == http.StatusSeeOther {
		c.get("/") // pick up the session's CSRF token
		_, _, _ = c.get(homeFor(email))
	}
	return status
}

func homeFor(email string) string {
	if strings.HasPrefix(email, "admin") {
		return "/admin/settings"
	}
	return "/partner/bank"
}
