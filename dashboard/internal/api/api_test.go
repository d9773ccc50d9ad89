package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/openaff/affiliate/dashboard/internal/links"
	"github.com/openaff/affiliate/dashboard/internal/storage"
	"github.com/openaff/affiliate/pkg/ledger"
	"github.com/openaff/affiliate/pkg/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

const testToken = "test-admin-token-0123456789"

type fixture struct {
	t      *testing.T
	srv    *httptest.Server
	pool   *pgxpool.Pool
	store  *storage.Storage
	ledger *ledger.Ledger
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	url := testenv.Get(t).PostgresURL(t)
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	st := storage.New(pool)
	l := ledger.New(pool, ledger.Options{})
	mux := http.NewServeMux()
	Register(mux, Deps{Store: st, Ledger: l, Token: testToken,
		Links: links.Maker{AllowedHosts: []string{"shop.example"}, TrackerBase: "https://go.example"},
		Log:   slog.New(slog.NewTextHandler(io.Discard, nil))})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &fixture{t: t, srv: srv, pool: pool, store: st, ledger: l}
}

// call sends a request with the admin token and decodes the JSON answer.
func (f *fixture) call(method, path, body string) (int, map[string]any) {
	f.t.Helper()
	return f.callAs(testToken, method, path, body)
}

func (f *fixture) callAs(token, method, path, body string) (int, map[string]any) {
	f.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, f.srv.URL+path, rd)
	if err != nil {
		f.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	b, _ := io.ReadAll(resp.Body)
	if len(bytes.TrimSpace(b)) > 0 {
		if err := json.Unmarshal(b, &out); err != nil {
			f.t.Fatalf("%s %s: answer is not JSON: %q", method, path, b)
		}
	}
	return resp.StatusCode, out
}

// expect checks the status and, for errors, the named field.
func (f *fixture) expect(method, path, body string, status int, field string) map[string]any {
	f.t.Helper()
	got, out := f.call(method, path, body)
	if got != status {
		f.t.Fatalf("%s %s %s: status %d, want %d (%v)", method, path, body, got, status, out)
	}
	if field != "" && out["field"] != field {
		f.t.Fatalf("%s %s %s: field %v, want %q (%v)", method, path, body, out["field"], field, out)
	}
	return out
}

func (f *fixture) partner(name, slug string) int64 {
	f.t.Helper()
	out := f.expect("POST", "/api/admin/partners",
		`{"name":"`+name+`","email":"`+slug+`@example.com","slug":"`+slug+`"}`, 201, "")
	return int64(out["id"].(float64))
}

// seedOrder writes an order with one line, its attribution to partnerID
// and a pending commission with its ledger accrual, the way the settler
// does; it returns the commission id.
func (f *fixture) seedOrder(orderID string, partnerID, amountMinor int64) int64 {
	f.t.Helper()
	ctx := context.Background()
	exec := func(q string, args ...any) {
		f.t.Helper()
		if _, err := f.pool.Exec(ctx, q, args...); err != nil {
			f.t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`INSERT INTO orders (order_id, customer_id, currency, placed_at) VALUES ($1, 'c-'||$1, 'EUR', now())`, orderID)
	exec(`DELETE FROM settle_queue WHERE order_id = $1`, orderID) // settled
	exec(`INSERT INTO order_lines (order_id, line_id, product_id, quantity, unit_price_minor) VALUES ($1, '1', 'p1', 1, $2)`, orderID, amountMinor*10)
	exec(`INSERT INTO attributions (order_id, version, partner_id, rule, click_id) VALUES ($1, 1, $2, 'device', '01890000-0000-7000-8000-000000000001')`, orderID, partnerID)
	var cid int64
	if err := f.pool.QueryRow(ctx, `INSERT INTO commissions (order_id, line_id, attribution_version, partner_id, currency, base_minor, rate_upct, rate_rule, amount_minor, accrual_transfer_key, ledger_ref)
		VALUES ($1, '1', 1, $2, 'EUR', $3, 100000, 'program_default', $4, 'accrue:'||$1||'/1/1', $1||'/1/1') RETURNING id`, orderID, partnerID, amountMinor*10, amountMinor).Scan(&cid); err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.ledger.Accrue(ctx, ledger.AccrueParams{Key: "accrue:" + orderID + "/1/1", PartnerID: strconv.FormatInt(partnerID, 10),
		Currency: "EUR", AmountMinor: amountMinor, CommissionID: orderID + "/1/1"}); err != nil {
		f.t.Fatal(err)
	}
	return cid
}

func TestAdminTokenRequired(t *testing.T) {
	f := newFixture(t)
	for _, r := range Routes(Deps{}) {
		path := strings.NewReplacer("{id}", "1", "{order_id}", "o1", "{customer_id}", "c1").Replace(r.Path)
		for _, tok := range []string{"", "wrong-token", testToken + "x"} {
			status, out := f.callAs(tok, r.Method, path, `{}`)
			if status != http.StatusUnauthorized || out["field"] != "Authorization" {
				t.Errorf("%s %s with token %q: status %d %v, want 401", r.Method, path, tok, status, out)
			}
		}
	}
	// An unknown path under /api answers 401 first, then 404 with the token.
	if s, _ := f.callAs("", "GET", "/api/admin/nothing", ""); s != 401 {
		t.Errorf("unknown path without token: %d, want 401", s)
	}
	f.expect("GET", "/api/admin/nothing", "", 404, "")
	// Another method on a known path answers JSON too.
	if out := f.expect("DELETE", "/api/admin/program", "", 405, ""); !strings.Contains(out["error"].(string), "GET, PUT") {
		t.Errorf("405 body = %v", out)
	}
	// A session cookie of any kind is no substitute for the token.
	req, _ := http.NewRequest("GET", f.srv.URL+"/api/admin/program", nil)
	req.AddCookie(&http.Cookie{Name: "aff_session", Value: "anything"})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("cookie instead of token: %d, want 401", resp.StatusCode)
	}
}

func TestProgram(t *testing.T) {
	f := newFixture(t)
	out := f.expect("GET", "/api/admin/program", "", 200, "")
	if out["default_rate"] != "10" || out["attribution_model"] != "last_click" || out["currency"] != "EUR" ||
		out["binding_window"] != "24h0m0s" || out["auto_approve_after"] != "0s" || out["reserve_percent"] != "10" {
		t.Fatalf("defaults = %v", out)
	}
	out = f.expect("PUT", "/api/admin/program", `{"default_rate":"12.5","attribution_window":"720h","attribution_model":"first_click",
		"binding_window":"48h","reserve_percent":"15","reserve_period":"240h","auto_approve_after":"336h","min_payout":"50.00","currency":"USD"}`, 200, "")
	if out["default_rate"] != "12.5" || out["min_payout"] != "50.00" || out["currency"] != "USD" || out["attribution_model"] != "first_click" {
		t.Fatalf("after PUT = %v", out)
	}
	// Partial update keeps the rest.
	out = f.expect("PUT", "/api/admin/program", `{"auto_approve_after":"0s"}`, 200, "")
	if out["auto_approve_after"] != "0s" || out["default_rate"] != "12.5" {
		t.Fatalf("after partial PUT = %v", out)
	}
	// Bad input names the field and changes nothing.
	f.expect("PUT", "/api/admin/program", `{"default_rate":"101"}`, 400, "default_rate")
	f.expect("PUT", "/api/admin/program", `{"default_rate":"10","attribution_window":"forever"}`, 400, "attribution_window")
	f.expect("PUT", "/api/admin/program", `{"attribution_window":"0s"}`, 400, "attribution_window")
	f.expect("PUT", "/api/admin/program", `{"attribution_model":"linear"}`, 400, "attribution_model")
	f.expect("PUT", "/api/admin/program", `{"currency":"XXX"}`, 400, "currency")
	f.expect("PUT", "/api/admin/program", `{"min_payout":"1.234"}`, 400, "min_payout")
	f.expect("PUT", "/api/admin/program", `{"surprise":1}`, 400, "surprise")
	f.expect("PUT", "/api/admin/program", `{"default_rate":10}`, 400, "default_rate")
	f.expect("PUT", "/api/admin/program", `not json`, 400, "body")
	out = f.expect("GET", "/api/admin/program", "", 200, "")
	if out["default_rate"] != "12.5" {
		t.Fatalf("a refused PUT changed the settings: %v", out)
	}
}

func TestPartnersAndLinks(t *testing.T) {
	f := newFixture(t)
	out := f.expect("POST", "/api/admin/partners", `{"name":"Serdar","email":"serdar@example.com","slug":"Serdar","default_rate":"7.5"}`, 201, "")
	if out["slug"] != "serdar" || out["status"] != "active" || out["default_rate"] != "7.5" || out["site_link"] != "https://go.example/serdar" {
		t.Fatalf("created = %v", out)
	}
	id := strconv.Itoa(int(out["id"].(float64)))
	f.expect("POST", "/api/admin/partners", `{"name":"Other","email":"o@example.com","slug":"serdar"}`, 409, "slug")
	f.expect("POST", "/api/admin/partners", `{"name":"Other","email":"SERDAR@example.com","slug":"other"}`, 409, "email")
	f.expect("POST", "/api/admin/partners", `{"name":"Other","email":"o@example.com","slug":"admin"}`, 400, "slug")
	f.expect("POST", "/api/admin/partners", `{"name":"Other","email":"o@example.com","slug":"r"}`, 400, "slug")
	f.expect("POST", "/api/admin/partners", `{"name":"Other","email":"not-an-email","slug":"other"}`, 400, "email")
	f.expect("POST", "/api/admin/partners", `{"name":"","email":"o@example.com","slug":"other"}`, 400, "name")
	f.expect("GET", "/api/admin/partners/"+id, "", 200, "")
	f.expect("GET", "/api/admin/partners/999999", "", 404, "")
	f.expect("GET", "/api/admin/partners/abc", "", 400, "id")

	// Edit: suspend, change slug, drop the own rate.
	out = f.expect("PATCH", "/api/admin/partners/"+id, `{"status":"suspended","slug":"serdar2","default_rate":null}`, 200, "")
	if out["status"] != "suspended" || out["slug"] != "serdar2" || out["default_rate"] != nil {
		t.Fatalf("patched = %v", out)
	}
	f.expect("PATCH", "/api/admin/partners/"+id, `{"status":"gone"}`, 400, "status")

	// Links: allowed host only; the answer is the tracking link.
	out = f.expect("POST", "/api/admin/partners/"+id+"/links", `{"url":"https://shop.example/p/42","product_id":"42"}`, 201, "")
	code := out["code"].(string)
	if out["url"] != "https://go.example/r/"+code || len(code) < 4 {
		t.Fatalf("link = %v", out)
	}
	// The same target again returns the same link.
	again := f.expect("POST", "/api/admin/partners/"+id+"/links", `{"url":"https://shop.example/p/42","product_id":"42"}`, 200, "")
	if again["code"] != code {
		t.Fatalf("second link code %v, want %v", again["code"], code)
	}
	f.expect("POST", "/api/admin/partners/"+id+"/links", `{"url":"https://evil.example/p/42"}`, 400, "url")
	f.expect("POST", "/api/admin/partners/"+id+"/links", `{"url":"javascript:alert(1)"}`, 400, "url")
	// Ids a click event cannot carry (over events.MaxIDLen bytes).
	f.expect("POST", "/api/admin/partners/"+id+"/links", `{"url":"https://shop.example/p/43","category_id":"`+strings.Repeat("c", 129)+`"}`, 400, "category_id")
	f.expect("POST", "/api/admin/partners/999999/links", `{"url":"https://shop.example/"}`, 404, "")
	var notified int
	if err := f.pool.QueryRow(context.Background(), `SELECT count(*) FROM links WHERE code = $1 AND active`, code).Scan(&notified); err != nil || notified != 1 {
		t.Fatalf("link row count = %d, %v", notified, err)
	}
	if got := f.expect("GET", "/api/admin/partners/"+id+"/links", "", 200, ""); len(got["links"].([]any)) != 1 {
		t.Fatalf("links = %v", got)
	}
	f.expect("GET", "/api/admin/partners/999999/links", "", 404, "")
	list := f.expect("GET", "/api/admin/partners?q=serd", "", 200, "")
	if ps := list["partners"].([]any); len(ps) != 1 {
		t.Fatalf("search serd = %v", list)
	}
}

func TestOrdersCommissionsAndBalance(t *testing.T) {
	f := newFixture(t)
	pid := f.partner("Ayla", "ayla")
	other := f.partner("Bora", "bora")
	id := strconv.FormatInt(pid, 10)
	f.expect("GET", "/api/admin/orders/nope", "", 404, "")
	cid := f.seedOrder("o-1", pid, 1000) // 10.00 EUR commission
	f.seedOrder("o-2", pid, 500)

	out := f.expect("GET", "/api/admin/orders/o-1", "", 200, "")
	attr := out["attribution"].(map[string]any)
	if attr["rule"] != "device" || attr["partner_id"].(float64) != float64(pid) || attr["click_id"] == nil {
		t.Fatalf("attribution = %v", attr)
	}
	cs := out["commissions"].([]any)
	if len(cs) != 1 || cs[0].(map[string]any)["amount"] != "10.00" || cs[0].(map[string]any)["kept"] != "10.00" || cs[0].(map[string]any)["state"] != "pending" {
		t.Fatalf("commissions = %v", cs)
	}
	bal := f.expect("GET", "/api/admin/partners/"+id+"/balance", "", 200, "")
	if bal["pending"] != "15.00" || bal["available"] != "0.00" || bal["currency"] != "EUR" {
		t.Fatalf("balance before approval = %v", bal)
	}
	f.expect("GET", "/api/admin/partners/999999/balance", "", 404, "")

	// Approve by order: 90 % available, 10 % reserved.
	out = f.expect("POST", "/api/admin/commissions/approve", `{"order_id":"o-1"}`, 200, "")
	if out["approved"].(float64) != 1 {
		t.Fatalf("approve = %v", out)
	}
	// A repeat approves nothing and changes nothing.
	out = f.expect("POST", "/api/admin/commissions/approve", `{"order_id":"o-1"}`, 200, "")
	if out["approved"].(float64) != 0 {
		t.Fatalf("repeat approve = %v", out)
	}
	bal = f.expect("GET", "/api/admin/partners/"+id+"/balance", "", 200, "")
	if bal["pending"] != "5.00" || bal["available"] != "9.00" || bal["reserved"] != "1.00" {
		t.Fatalf("balance after approval = %v", bal)
	}
	// The approval is mirrored as a commission fact, as the settler does.
	var facts int
	if err := f.pool.QueryRow(context.Background(), `SELECT count(*) FROM outbox WHERE topic = 'commissions'
		AND payload->>'commission_id' = 'o-1/1/1' AND payload->>'state' = 'approved'`).Scan(&facts); err != nil || facts != 1 {
		t.Fatalf("commission facts = %d, %v", facts, err)
	}
	if out := f.expect("POST", "/api/admin/commissions/approve", `{}`, 400, "order_id"); out["error"] != "order_id and ids: give exactly one of the two" {
		t.Errorf("approve {}: error %q", out["error"])
	}
	f.expect("POST", "/api/admin/commissions/approve", `{"order_id":"o-1","ids":[1]}`, 400, "order_id")
	f.expect("POST", "/api/admin/commissions/approve", `{"order_id":"missing"}`, 404, "")
	f.expect("POST", "/api/admin/commissions/approve", `{"ids":[999999]}`, 404, "ids")
	out = f.expect("POST", "/api/admin/commissions/approve", `{"ids":[`+strconv.FormatInt(cid, 10)+`]}`, 200, "")
	if out["approved"].(float64) != 0 {
		t.Fatalf("approve approved id = %v", out)
	}
	list := f.expect("GET", "/api/admin/commissions?state=approved&partner_id="+id, "", 200, "")
	if n := len(list["commissions"].([]any)); n != 1 {
		t.Fatalf("approved commissions = %d", n)
	}
	f.expect("GET", "/api/admin/commissions?state=weird", "", 400, "state")
	ol := f.expect("GET", "/api/admin/orders?partner_id="+id, "", 200, "")
	if n := len(ol["orders"].([]any)); n != 2 {
		t.Fatalf("orders of partner = %d", n)
	}
	ol = f.expect("GET", "/api/admin/orders?partner_id="+strconv.FormatInt(other, 10), "", 200, "")
	if n := len(ol["orders"].([]any)); n != 0 {
		t.Fatalf("orders of other partner = %d", n)
	}

	// Order overrides: attach another partner, then remove.
	f.expect("POST", "/api/admin/orders/o-2/partner", `{"partner_id":`+strconv.FormatInt(other, 10)+`}`, 202, "")
	f.expect("POST", "/api/admin/orders/o-2/partner", `{"partner_id":`+strconv.FormatInt(other, 10)+`}`, 202, "") // repeat: no new row
	f.expect("POST", "/api/admin/orders/o-2/partner", `{"partner_id":999999}`, 404, "partner_id")
	f.expect("POST", "/api/admin/orders/missing/partner", `{"partner_id":`+id+`}`, 404, "")
	f.expect("POST", "/api/admin/orders/o-2/partner", `{}`, 400, "partner_id")
	f.expect("DELETE", "/api/admin/orders/o-2/partner", `{"partner_id":`+id+`}`, 409, "partner_id")
	f.expect("DELETE", "/api/admin/orders/o-2/partner", `{"partner_id":"`+strconv.FormatInt(other, 10)+`"}`, 202, "")
	var n int
	var settled bool
	if err := f.pool.QueryRow(context.Background(), `SELECT count(*), bool_and(NOT EXISTS (SELECT 1 FROM settle_queue q WHERE q.order_id = o.order_id AND q.revision = o.revision))
		FROM order_overrides v JOIN orders o USING (order_id) WHERE order_id = 'o-2'`).Scan(&n, &settled); err != nil || n != 2 || settled {
		t.Fatalf("overrides = %d settled=%v %v; want 2 queued", n, settled, err)
	}

	// Adjustments and penalties move available.
	f.expect("POST", "/api/admin/partners/"+id+"/adjustments", `{"amount":"-2.50","reason":"typo fix"}`, 201, "")
	f.expect("POST", "/api/admin/partners/"+id+"/adjustments", `{"amount":"0","reason":"x"}`, 400, "amount")
	f.expect("POST", "/api/admin/partners/"+id+"/adjustments", `{"amount":"1.00","reason":""}`, 400, "reason")
	f.expect("POST", "/api/admin/partners/999999/adjustments", `{"amount":"1.00","reason":"x"}`, 404, "partner_id")
	f.expect("POST", "/api/admin/partners/"+id+"/penalties", `{"order_id":"o-1","amount":"4.90"}`, 201, "")
	f.expect("POST", "/api/admin/partners/"+id+"/penalties", `{"order_id":"nope","amount":"4.90"}`, 404, "order_id")
	// Another partner's order: refused, nothing charged (the partner would
	// pay for it and see its id).
	f.seedOrder("o-other", other, 100)
	if out := f.expect("POST", "/api/admin/partners/"+id+"/penalties", `{"order_id":"o-other","amount":"4.90"}`, 409, "order_id"); out["error"] != "order_id is not attributed to this partner (now or before)" {
		t.Errorf("penalty on another partner's order: %v", out)
	}
	// A manual sale counts for its partner at once, before the pass
	// decides it.
	f.expect("POST", "/api/admin/orders", `{"order_id":"m-1","partner_id":`+id+`,"lines":[{"product_id":"p","quantity":1,"unit_price":"1.00"}]}`, 201, "")
	f.expect("POST", "/api/admin/partners/"+id+"/penalties", `{"order_id":"m-1","amount":"0.10"}`, 201, "")
	f.expect("POST", "/api/admin/partners/"+id+"/penalties", `{"order_id":"o-1","amount":"-4.90"}`, 400, "amount")
	bal = f.expect("GET", "/api/admin/partners/"+id+"/balance", "", 200, "")
	if bal["available"] != "1.50" { // 9.00 - 2.50 - 4.90 - 0.10
		t.Fatalf("balance after adjustment and penalty = %v", bal)
	}
}

func TestIdempotentAdjustment(t *testing.T) {
	f := newFixture(t)
	id := strconv.FormatInt(f.partner("Cem", "cem"), 10)
	post := func(body string) (int, map[string]any) {
		req, _ := http.NewRequest("POST", f.srv.URL+"/api/admin/partners/"+id+"/adjustments", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+testToken)
		req.Header.Set("Idempotency-Key", "req-1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	s1, a := post(`{"amount":"3.00","reason":"bonus"}`)
	s2, b := post(`{"amount":"3.00","reason":"bonus"}`)
	if s1 != 201 || s2 != 201 || a["id"] != b["id"] {
		t.Fatalf("repeat with same key: %d %v / %d %v", s1, a, s2, b)
	}
	if s, out := post(`{"amount":"4.00","reason":"bonus"}`); s != 409 || out["field"] != "idempotency_key" {
		t.Fatalf("same key, other body: %d %v", s, out)
	}
	bal := f.expect("GET", "/api/admin/partners/"+id+"/balance", "", 200, "")
	if bal["available"] != "3.00" {
		t.Fatalf("balance = %v, want 3.00 once", bal)
	}
}

func TestCustomersApplicationsAnnouncements(t *testing.T) {
	f := newFixture(t)
	a := strconv.FormatInt(f.partner("Deniz", "deniz"), 10)
	b := strconv.FormatInt(f.partner("Ece", "ece"), 10)
	f.expect("GET", "/api/admin/customers/cust-1/partner", "", 404, "")
	f.expect("POST", "/api/admin/customers/cust-1/partner", `{"partner_id":`+a+`}`, 200, "")
	if got := f.expect("GET", "/api/admin/customers/cust-1/partner", "", 200, ""); got["source"] != "admin" || got["partner_id"].(float64) == 0 {
		t.Fatalf("binding = %v", got)
	}
	cur, err := f.store.CurrentBinding(context.Background(), "cust-1")
	if err != nil || strconv.FormatInt(cur.PartnerID, 10) != a || cur.Source != "admin" {
		t.Fatalf("binding = %+v, %v", cur, err)
	}
	// Attaching to another partner moves the binding.
	f.expect("POST", "/api/admin/customers/cust-1/partner", `{"partner_id":`+b+`}`, 200, "")
	f.expect("DELETE", "/api/admin/customers/cust-1/partner", `{"partner_id":`+a+`}`, 404, "partner_id") // bound to b: names the field
	f.expect("DELETE", "/api/admin/customers/cust-1/partner", `{"partner_id":`+b+`}`, 200, "")
	if _, err := f.store.CurrentBinding(context.Background(), "cust-1"); err != storage.ErrNotFound {
		t.Fatalf("binding after detach: %v", err)
	}
	f.expect("POST", "/api/admin/customers/cust-1/partner", `{"partner_id":999999}`, 404, "partner_id")

	app, err := f.store.CreateApplication(context.Background(), storage.Application{Name: "Fil", Email: "fil@example.com", SlugWish: "fil"}, "$2a$04$abcdefghijklmnopqrstuv")
	if err != nil {
		t.Fatal(err)
	}
	aid := strconv.FormatInt(app.ID, 10)
	list := f.expect("GET", "/api/admin/applications?status=pending", "", 200, "")
	if n := len(list["applications"].([]any)); n != 1 {
		t.Fatalf("pending applications = %d", n)
	}
	f.expect("POST", "/api/admin/applications/"+aid+"/reject", `{"reason":""}`, 400, "reason")
	p := f.expect("POST", "/api/admin/applications/"+aid+"/approve", "", 200, "")
	if p["slug"] != "fil" || p["status"] != "active" {
		t.Fatalf("approved partner = %v", p)
	}
	// Approving again returns the same partner; rejecting now conflicts.
	again := f.expect("POST", "/api/admin/applications/"+aid+"/approve", "", 200, "")
	if again["id"] != p["id"] {
		t.Fatalf("second approval made partner %v, want %v", again["id"], p["id"])
	}
	f.expect("POST", "/api/admin/applications/"+aid+"/reject", `{"reason":"late"}`, 409, "status")
	u, err := f.store.UserByEmail(context.Background(), "fil@example.com")
	if err != nil || u.Role != "partner" || float64(u.PartnerID) != p["id"].(float64) {
		t.Fatalf("partner user = %+v, %v", u, err)
	}

	out := f.expect("POST", "/api/admin/announcements", `{"title":"Hello","body":"Welcome","partner_ids":[`+a+`]}`, 201, "")
	if out["id"] == nil {
		t.Fatal("no announcement id")
	}
	f.expect("POST", "/api/admin/announcements", `{"title":"","body":"x"}`, 400, "title")
	if got := f.expect("GET", "/api/admin/announcements", "", 200, ""); len(got["announcements"].([]any)) != 1 {
		t.Fatalf("announcements = %v", got)
	}
	ai, _ := strconv.ParseInt(a, 10, 64)
	bi, _ := strconv.ParseInt(b, 10, 64)
	if n, _ := f.store.UnreadAnnouncements(context.Background(), ai); n != 1 {
		t.Errorf("unread for recipient = %d, want 1", n)
	}
	if n, _ := f.store.UnreadAnnouncements(context.Background(), bi); n != 0 {
		t.Errorf("unread for non-recipient = %d, want 0", n)
	}
}

func TestPayoutsAndStoreCredit(t *testing.T) {
	f := newFixture(t)
	pid := f.partner("Gul", "gul")
	id := strconv.FormatInt(pid, 10)
	ctx := context.Background()
	f.expect("POST", "/api/admin/partners/"+id+"/adjustments", `{"amount":"100.00","reason":"opening balance"}`, 201, "")
	if err := f.store.SetBankAccount(ctx, pid, storage.BankAccount{Holder: "Gul", IBAN: "DE89370400440532013000"}); err != nil {
		t.Fatal(err)
	}
	p, err := f.store.RequestPayout(ctx, f.ledger, pid, 0, 4000, "payout:test:1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.RequestPayout(ctx, f.ledger, pid, 0, 999900, "payout:test:2"); err == nil {
		t.Fatal("payout above available accepted")
	}
	pidS := strconv.FormatInt(p.ID, 10)
	f.expect("POST", "/api/admin/payouts/"+pidS+"/paid", `{"reference":"BANK-1"}`, 200, "")
	f.expect("POST", "/api/admin/payouts/"+pidS+"/paid", `{"reference":"BANK-1"}`, 200, "")
	f.expect("POST", "/api/admin/payouts/"+pidS+"/failed", `{"reason":"x"}`, 409, "status")
	f.expect("POST", "/api/admin/payouts/999999/paid", ``, 404, "")
	bal := f.expect("GET", "/api/admin/partners/"+id+"/balance", "", 200, "")
	if bal["available"] != "60.00" || bal["paid_out"] != "40.00" {
		t.Fatalf("balance after payout = %v", bal)
	}
	list := f.expect("GET", "/api/admin/payouts?partner_id="+id, "", 200, "")
	if ps := list["payouts"].([]any); len(ps) != 1 || ps[0].(map[string]any)["status"] != "paid" {
		t.Fatalf("payouts = %v", list)
	}

	if _, err := f.pool.Exec(ctx, `INSERT INTO customers (customer_id, email, first_seen_at) VALUES ('cust-9', 'nine@example.com', now())`); err != nil {
		t.Fatal(err)
	}
	sc, err := f.store.RequestStoreCredit(ctx, f.ledger, pid, 0, "nine@example.com", 1000, "sc:test:1")
	if err != nil {
		t.Fatal(err)
	}
	sc2, err := f.store.RequestStoreCredit(ctx, f.ledger, pid, 0, "cust-9", 500, "sc:test:2")
	if err != nil {
		t.Fatal(err)
	}
	s1 := strconv.FormatInt(sc.ID, 10)
	f.expect("POST", "/api/admin/store-credits/"+s1+"/approve", "", 200, "")
	f.expect("POST", "/api/admin/store-credits/"+strconv.FormatInt(sc2.ID, 10)+"/reject", `{}`, 400, "reason")
	f.expect("POST", "/api/admin/store-credits/"+strconv.FormatInt(sc2.ID, 10)+"/reject", `{"reason":"not allowed"}`, 200, "")
	f.expect("POST", "/api/admin/store-credits/"+s1+"/reject", `{"reason":"late"}`, 409, "status")
	var outbox int
	if err := f.pool.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE topic = 'store_credits' AND payload->>'customer_id' = 'cust-9' AND payload->>'amount' = '10.00'`).Scan(&outbox); err != nil || outbox != 1 {
		t.Fatalf("store credit outbox rows = %d, %v", outbox, err)
	}
	bal = f.expect("GET", "/api/admin/partners/"+id+"/balance", "", 200, "")
	if bal["available"] != "50.00" { // 60 - 10 approved; the rejected 5 came back
		t.Fatalf("balance after store credit = %v", bal)
	}
}

func TestManualSale(t *testing.T) {
	f := newFixture(t)
	id := strconv.FormatInt(f.partner("Han", "han"), 10)
	body := `{"order_id":"m-1","partner_id":` + id + `,"customer_id":"cx","lines":[{"product_id":"p1","quantity":2,"unit_price":"10.00","discount":"1.00"}]}`
	out := f.expect("POST", "/api/admin/orders", body, 201, "")
	if out["total"] != "19.00" || out["manual"] != true || out["settled"] != false {
		t.Fatalf("manual sale = %v", out)
	}
	// The same record again is a no-op, other content is a conflict.
	f.expect("POST", "/api/admin/orders", body, 201, "")
	f.expect("POST", "/api/admin/orders", strings.Replace(body, `"quantity":2`, `"quantity":3`, 1), 409, "order_id")
	f.expect("POST", "/api/admin/orders", `{"order_id":"m-2","partner_id":`+id+`,"lines":[]}`, 400, "lines")
	f.expect("POST", "/api/admin/orders", `{"order_id":"m-2","partner_id":`+id+`,"lines":[{"product_id":"p","quantity":1,"unit_price":"1.00","discount":"2.00"}]}`, 400, "lines[0].discount")
	f.expect("POST", "/api/admin/orders", `{"order_id":"m-2","lines":[{"product_id":"p","quantity":1,"unit_price":"1.00"}]}`, 400, "partner_id")
	pid, ok, err := f.store.OrderOverridePartner(context.Background(), "m-1")
	if err != nil || !ok || strconv.FormatInt(pid, 10) != id {
		t.Fatalf("manual sale override = %d %v %v", pid, ok, err)
	}
	_ = time.Now
}
