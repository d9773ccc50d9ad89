package ui

import (
	"bytes"
	"context"
	"errors"
	"html"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openaff/affiliate/dashboard/internal/storage"
)

// link returns the target of the first link or form action in body that
// matches re (one group: the attribute value), resolved against page as a
// browser would, as a request URI for client.get/post.
func link(t *testing.T, page, body string, re *regexp.Regexp) string {
	t.Helper()
	m := re.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("%s: no match for %s", page, re)
	}
	ref, err := url.Parse(html.UnescapeString(m[1]))
	if err != nil {
		t.Fatalf("%s: link %q is not a valid URL: %v", page, m[1], err)
	}
	base, _ := url.Parse("http://panel.example" + page)
	return base.ResolveReference(ref).RequestURI()
}

// TestOrderIDsWithURLCharacters follows the admin's links and forms for an
// order whose shop id holds '/', '#', '?', '%' and a space: each must reach
// that order, not the order list or the manual-sale handler.
func TestOrderIDsWithURLCharacters(t *testing.T) {
	f := newFixture(t, false)
	adm := adminClient(t, f)
	a := f.partner("ayla")
	b := f.partner("bora")
	const id = "a/b#1?x y%"
	cid := f.seedOrder(id, a, 1000)
	heading := "<h1>Order " + html.EscapeString(id) + "</h1>"
	anchor := regexp.MustCompile(`<a href="([^"]*)">` + regexp.QuoteMeta(html.EscapeString(id)) + `</a>`)

	// From the order list and from the commission list to the order page.
	for _, list := range []string{"/admin/orders", "/admin/commissions"} {
		_, body, _ := adm.get(list)
		page := link(t, list, body, anchor)
		if s, body, _ := adm.get(page); s != 200 || !strings.Contains(body, heading) {
			t.Fatalf("%s links to %s: %d, want the order page", list, page, s)
		}
	}
	_, body, _ := adm.get("/admin/orders")
	page := link(t, "/admin/orders", body, anchor)
	_, body, _ = adm.get(page)

	// Attach and remove a partner through the order page's forms; each
	// redirects back to the same order page.
	action := link(t, page, body, regexp.MustCompile(`<form method="post" action="([^"]*)" class="filters">`))
	s, loc := adm.post(action, url.Values{"partner_id": {strconv.FormatInt(b, 10)}, "reason": {"ticket 7"}})
	wantFlash(t, adm, s, loc, "Override saved")
	if _, back, _ := adm.get(loc); !strings.Contains(back, heading) {
		t.Fatalf("attach redirects to %s, not to the order page", loc)
	}
	s, loc = adm.post(action, url.Values{"remove": {"1"}})
	wantFlash(t, adm, s, loc, "Override saved")
	var attached, removed int
	_ = f.pool.QueryRow(context.Background(), `SELECT count(*) FILTER (WHERE partner_id = $2), count(*) FILTER (WHERE partner_id IS NULL)
		FROM order_overrides WHERE order_id = $1`, id, b).Scan(&attached, &removed)
	if attached != 1 || removed != 1 {
		t.Fatalf("overrides of %q: attached %d, removed %d, want 1 and 1", id, attached, removed)
	}
	if n := f.count(`SELECT count(*) FROM orders WHERE manual`); n != 0 {
		t.Fatalf("the partner form created %d manual sales", n)
	}

	// Approve the order's commissions from its page.
	_, body, _ = adm.get(page)
	m := regexp.MustCompile(`name="order_id" value="([^"]*)"`).FindStringSubmatch(body)
	if m == nil || html.UnescapeString(m[1]) != id {
		t.Fatalf("approve form order_id = %v, want %q", m, id)
	}
	// The overrides queued the order for the settlement pass: approval
	// waits for it (here the pass is simulated by taking the queue row).
	s, loc = adm.post("/admin/commissions/approve", url.Values{"order_id": {html.UnescapeString(m[1])}})
	wantFlash(t, adm, s, loc, "Error: order_id: has unsettled changes")
	if _, err := f.pool.Exec(context.Background(), `DELETE FROM settle_queue WHERE order_id = $1`, id); err != nil {
		t.Fatal(err)
	}
	s, loc = adm.post("/admin/commissions/approve", url.Values{"order_id": {html.UnescapeString(m[1])}})
	wantFlash(t, adm, s, loc, "Approved 1 commission")
	if _, back, _ := adm.get(loc); !strings.Contains(back, heading) {
		t.Fatalf("approve redirects to %s, not to the order page", loc)
	}
	if n := f.count(`SELECT count(*) FROM commissions WHERE id = $1 AND state = 'approved'`, cid); n != 1 {
		t.Fatal("commission not approved")
	}

	// A manual sales record with such an id lands on its own page.
	const manual = "m/1 #?%"
	s, loc = adm.post("/admin/orders", url.Values{"order_id": {manual}, "partner_id": {strconv.FormatInt(a, 10)},
		"product_id": {"p"}, "quantity": {"1"}, "unit_price": {"5.00"}})
	wantFlash(t, adm, s, loc, "Sales record created")
	if _, back, _ := adm.get(loc); !strings.Contains(back, "<h1>Order "+html.EscapeString(manual)+"</h1>") {
		t.Fatalf("manual sale redirects to %s, not to its page", loc)
	}
}

// TestPartnerProductsOnlyWhileBound checks that claiming a customer shows
// the partner only the orders placed since the binding and credited to
// them, not the customer's earlier purchases nor orders of other partners.
func TestPartnerProductsOnlyWhileBound(t *testing.T) {
	f := newFixture(t, false)
	a := f.partner("ayla")
	b := f.partner("bora")
	f.exec(`INSERT INTO customers (customer_id, email, first_seen_at) VALUES ('c-1', 'buyer@example.com', now() - interval '30 days')`)
	order := func(orderID, ago string) {
		t.Helper()
		f.exec(`INSERT INTO orders (order_id, customer_id, currency, placed_at) VALUES ($1, 'c-1', 'EUR', now() - $2::interval)`, orderID, ago)
		f.exec(`INSERT INTO order_lines (order_id, line_id, product_id, quantity, unit_price_minor) VALUES ($1, '1', 'prod-'||$1, 1, 1000)`, orderID)
	}
	// Bought before any partner knew the customer.
	order("before", "2 days")

	ca := f.client()
	ca.login("ayla@example.com", "partner-pw-ayla")
	s, loc := ca.post("/partner/customers", url.Values{"email": {"buyer@example.com"}})
	wantFlash(t, ca, s, loc, "Customer linked")
	f.exec(`UPDATE customer_bindings SET bound_at = now() - interval '1 day' WHERE customer_id = 'c-1'`)

	// Bought while bound: one credited to Ayla, one not settled yet.
	order("after", "2 hours")
	f.exec(`INSERT INTO attributions (order_id, version, partner_id, rule, binding_id)
		VALUES ('after', 1, $1, 'customer_binding', (SELECT id FROM customer_bindings WHERE customer_id = 'c-1'))`, a)
	order("queued", "1 hour")
	// Bought while bound but moved to Bora by the admin: settled, and
	// waiting for the settlement pass.
	order("moved", "3 hours")
	f.exec(`INSERT INTO attributions (order_id, version, partner_id, rule, binding_id, decided_at, superseded_at)
		VALUES ('moved', 1, $1, 'customer_binding', (SELECT id FROM customer_bindings WHERE customer_id = 'c-1'), now() - interval '1 hour', now())`, a)
	f.exec(`INSERT INTO order_overrides (order_id, partner_id, reason) VALUES ('moved', $1, 'support')`, b)
	f.exec(`INSERT INTO attributions (order_id, version, partner_id, rule, override_id)
		VALUES ('moved', 2, $1, 'order_override', (SELECT max(id) FROM order_overrides WHERE order_id = 'moved'))`, b)
	order("moving", "4 hours")
	f.exec(`INSERT INTO attributions (order_id, version, partner_id, rule, binding_id)
		VALUES ('moving', 1, $1, 'customer_binding', (SELECT id FROM customer_bindings WHERE customer_id = 'c-1'))`, a)
	f.exec(`INSERT INTO order_overrides (order_id, partner_id, reason) VALUES ('moving', NULL, 'not a referral')`)

	_, body, _ := ca.get("/partner/products")
	for _, want := range []string{"prod-after", "prod-queued"} {
		if !strings.Contains(body, want) {
			t.Errorf("/partner/products lacks %s, bought while bound", want)
		}
	}
	for _, hidden := range []string{"prod-before", "prod-moved", "prod-moving"} {
		if strings.Contains(body, hidden) {
			t.Errorf("/partner/products shows %s", hidden)
		}
	}
}

// upload posts a catalog file of size bytes (a JSON array of one product,
// padded with spaces) with the given CSRF token and returns the status and
// body.
func upload(t *testing.T, c *client, csrf string, size int) (int, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	_ = mw.WriteField("csrf", csrf)
	fw, _ := mw.CreateFormFile("file", "big.json")
	row := `[{"product_id":"p9","name":"Big","url":"https://shop.example/p9"}`
	_, _ = io.WriteString(fw, row+strings.Repeat(" ", size-len(row)-1)+"]")
	mw.Close()
	req, _ := http.NewRequest("POST", c.f.srv.URL+"/admin/catalog", &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestCatalogUploadTooLarge checks that a file over the upload limit is a
// 413 naming the limit (not a CSRF failure), that the CSRF check still
// holds for such bodies, and that a file just under the limit imports.
func TestCatalogUploadTooLarge(t *testing.T) {
	f := newFixture(t, false)
	adm := adminClient(t, f)
	adm.get("/admin/catalog")
	limit := "upload limit of " + strconv.Itoa(MaxUploadBytes>>20) + " MiB"
	f1 := func(size int, why string) {
		t.Helper()
		s, body := upload(t, adm, adm.csrf, size)
		if s != http.StatusRequestEntityTooLarge || !strings.Contains(body, limit) {
			t.Errorf("%s: upload of %d bytes = %d, want 413 naming the %s", why, size, s, limit)
		}
	}
	f1(MaxUploadBytes+1, "the file is over the limit, the body within the multipart bound")
	f1(maxMultipartBytes+1, "the body is over the multipart bound")
	f1(2*MaxUploadBytes, "the body is twice the limit: read to its end (bounded), so the client sees the answer")
	if n := f.count(`SELECT count(*) FROM products`); n != 0 {
		t.Fatalf("products after refused uploads = %d", n)
	}
	// A wrong token is still refused, whatever the size.
	if s, _ := upload(t, adm, "forged-token", maxMultipartBytes+1); s != http.StatusForbidden {
		t.Fatalf("oversized upload with a forged token = %d, want 403", s)
	}
	if s, _ := upload(t, adm, adm.csrf, MaxUploadBytes); s != http.StatusSeeOther {
		t.Fatalf("upload at the limit = %d, want 303", s)
	}
	if n := f.count(`SELECT count(*) FROM products`); n != 1 {
		t.Fatalf("products after an upload at the limit = %d", n)
	}
}

// TestPartnerProfileTooLong checks that over-long contact fields are
// refused with the field's name and that nothing of the form is saved.
func TestPartnerProfileTooLong(t *testing.T) {
	f := newFixture(t, false)
	adm := adminClient(t, f)
	a := f.partner("ayla")
	path := "/admin/partners/" + strconv.FormatInt(a, 10)
	form := func(name, field, value string) url.Values {
		v := url.Values{"name": {name}, "email": {"ayla@example.com"}, "slug": {"ayla"}, "status": {"active"},
			"phone": {"+90 555 000 00 00"}, "company": {"Ayla Ltd"}, "website": {"https://ayla.example"}}
		if field != "" {
			v.Set(field, value)
		}
		return v
	}
	s, loc := adm.post(path, form("Ayla", "", ""))
	wantFlash(t, adm, s, loc, "Partner saved")
	f1 := func(field string, max int, value string) {
		t.Helper()
		s, loc := adm.post(path, form("Renamed", field, value))
		wantFlash(t, adm, s, loc, "Error: "+field+": is "+strconv.Itoa(len([]rune(value)))+" characters long, at most "+strconv.Itoa(max))
		p, err := f.store.Partner(context.Background(), a)
		if err != nil || p.Name != "Ayla" || p.Phone != "+90 555 000 00 00" || p.Company != "Ayla Ltd" || p.Website != "https://ayla.example" {
			t.Fatalf("after a too long %s the partner is %+v, %v; want it unchanged", field, p, err)
		}
	}
	f1("phone", 50, strings.Repeat("1", 51))
	f1("company", 200, strings.Repeat("ç", 201)) // characters, not bytes
	f1("website", 2048, "https://ayla.example/"+strings.Repeat("x", 2048))
	// At the limit (in characters, whatever the bytes) it is saved whole.
	s, loc = adm.post(path, form("Ayla", "company", strings.Repeat("ç", 200)))
	wantFlash(t, adm, s, loc, "Partner saved")
	if p, _ := f.store.Partner(context.Background(), a); p.Company != strings.Repeat("ç", 200) {
		t.Fatalf("company = %q", p.Company)
	}
}

// TestPartnerAPILinkErrors checks that bad input and storage errors of the
// partner link API are answered in the API's JSON error format.
func TestPartnerAPILinkErrors(t *testing.T) {
	f := newFixture(t, false)
	a := f.partner("ayla")
	ca := f.client()
	ca.login("ayla@example.com", "partner-pw-ayla")
	ctx := context.Background()
	f1 := func(body string, status int, field string) {
		t.Helper()
		s, out := ca.callJSON("POST", "/api/partner/links", body, true)
		if status == http.StatusCreated {
			if s != status {
				t.Errorf("POST %s = %d %v, want %d", body, s, out, status)
			}
			return
		}
		if s != status || out == nil || out["field"] != field || out["error"] == "" {
			t.Errorf("POST %s = %d %v, want %d with field %q", body, s, out, status, field)
		}
	}
	// Postgres text cannot hold NUL: refused before storage, as JSON.
	f1(`{"url":"https://shop.example/p","product_id":"p\u00001"}`, http.StatusBadRequest, "product_id")
	f1(`{"url":"https://shop.example/p","category_id":"c\u0007"}`, http.StatusBadRequest, "category_id")
	f1(`{"url":"https://shop.example/p","product_id":"`+strings.Repeat("é", 201)+`"}`, http.StatusBadRequest, "product_id")
	// Every click of a link carries its ids: at most events.MaxIDLen bytes.
	f1(`{"url":"https://shop.example/p","product_id":"`+strings.Repeat("é", 65)+`"}`, http.StatusBadRequest, "product_id")
	f1(`{"url":"https://shop.example/p","product_id":"`+strings.Repeat("é", 64)+`"}`, http.StatusCreated, "")

	// A storage FieldError: another request creates the same link between
	// this request's lookup and its insert (held open here until the API's
	// insert waits on it), so the insert hits the unique index.
	tx, err := f.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `INSERT INTO links (code, partner_id, kind, target_url) VALUES ('race0001', $1, 'deep', 'https://shop.example/race')`, a); err != nil {
		t.Fatal(err)
	}
	type answer struct {
		status int
		out    map[string]any
	}
	done := make(chan answer, 1)
	go func() {
		s, out := ca.callJSON("POST", "/api/partner/links", `{"url":"https://shop.example/race"}`, true)
		done <- answer{s, out}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for f.count(`SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the API request never waited on the open insert")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	got := <-done
	if got.status != http.StatusConflict || got.out == nil || got.out["field"] != "url" {
		t.Fatalf("racing link create = %d %v, want 409 with field url", got.status, got.out)
	}
}

// TestJSONFail maps storage errors to the partner API's JSON errors.
func TestJSONFail(t *testing.T) {
	u := &UI{Deps: Deps{Log: slog.New(slog.NewTextHandler(io.Discard, nil))}}
	f := func(err error, status int, body string) {
		t.Helper()
		w := httptest.NewRecorder()
		u.jsonFail(w, httptest.NewRequest("POST", "/api/partner/links", nil), err)
		if w.Code != status || w.Header().Get("Content-Type") != "application/json" || strings.TrimSpace(w.Body.String()) != body {
			t.Errorf("jsonFail(%v) = %d %q, want %d %q", err, w.Code, w.Body.String(), status, body)
		}
	}
	// Bad input names its field.
	f(&storage.FieldError{Field: "url", Msg: "is not allowed"}, 400, `{"error":"url is not allowed","field":"url"}`)
	// A conflict or a missing row keeps its field and gets its status.
	f(&storage.FieldError{Field: "url", Msg: "is already taken", Err: storage.ErrConflict}, 409, `{"error":"url is already taken","field":"url"}`)
	f(&storage.FieldError{Field: "product_id", Msg: "no such product", Err: storage.ErrNotFound}, 404, `{"error":"product_id no such product","field":"product_id"}`)
	f(storage.ErrNotFound, 404, `{"error":"not found","field":""}`)
	// Anything else is a 500 that says nothing more, still JSON.
	f(errors.New("connection refused"), 500, `{"error":"internal error","field":""}`)
}

// TestStoreCreditOldestAccount checks that a store-credit request by an
// e-mail shared by two accounts goes to the oldest, as the admin's
// customer lookup resolves it.
func TestStoreCreditOldestAccount(t *testing.T) {
	f := newFixture(t, false)
	a := f.partner("ayla")
	ctx := context.Background()
	if _, err := f.store.CreateAdjustment(ctx, f.ledger, storage.Adjustment{PartnerID: a, AmountMinor: 5000, Currency: "EUR", Reason: "seed", Key: "seed-1"}, 0); err != nil {
		t.Fatal(err)
	}
	f.exec(`INSERT INTO customers (customer_id, email, first_seen_at) VALUES ('a-new', 'twin@example.com', now() - interval '1 day'),
		('z-old', 'twin@example.com', now() - interval '2 days')`)
	ca := f.client()
	ca.login("ayla@example.com", "partner-pw-ayla")
	s, loc := ca.post("/partner/store-credit", url.Values{"customer": {"Twin@example.com"}, "amount": {"10.00"}, "request_id": {"sc-req-twin-000001"}})
	wantFlash(t, ca, s, loc, "Request sent")
	want, err := f.store.CustomerID(ctx, "twin@example.com")
	if err != nil || want != "z-old" {
		t.Fatalf("CustomerID = %q, %v", want, err)
	}
	if n := f.count(`SELECT count(*) FROM store_credit_requests WHERE customer_id = 'z-old'`); n != 1 {
		t.Fatal("the request did not go to the oldest account with that e-mail")
	}
	s, loc = ca.post("/partner/store-credit", url.Values{"customer": {"nobody@example.com"}, "amount": {"1.00"}, "request_id": {"sc-req-twin-000002"}})
	wantFlash(t, ca, s, loc, "Error: customer: names no customer account")
}

// Ids typed into admin and partner forms are refused when too long, never
// cut (a cut id names another order, product or category).
func TestFormIDsTooLongAreRefused(t *testing.T) {
	f := newFixture(t, false)
	f.admin("admin@example.com")
	id := f.partner("ayla")
	a := f.client()
	if s := a.login("admin@example.com", "admin-password-1"); s != http.StatusSeeOther {
		t.Fatalf("admin login: %d", s)
	}
	long := strings.Repeat("é", maxIDChars+1)
	page := "/admin/partners/" + strconv.FormatInt(id, 10)
	for _, c := range []struct {
		path string
		form url.Values
		want string
	}{
		{page + "/penalties", url.Values{"order_id": {long}, "amount": {"4.90"}}, "Error: order id: is 201 characters long"},
		{page + "/links", url.Values{"url": {"https://shop.example/x"}, "category_id": {long}}, "Error: category: is 201 characters long"},
		{page + "/rates", url.Values{"level": {"product"}, "target": {long}, "rate": {"5"}}, "Error:"},
	} {
		_, body, _ := a.get(page)
		if m := regexp.MustCompile(`name="request_id" value="([^"]+)"`).FindStringSubmatch(body); m != nil {
			c.form.Set("request_id", m[1])
		}
		s, loc := a.post(c.path, c.form)
		if got := a.flash(loc); s != http.StatusSeeOther || !strings.HasPrefix(got, c.want) {
			t.Errorf("%s: %d %q, want a flash starting %q", c.path, s, got, c.want)
		}
	}
	var n int
	if err := f.pool.QueryRow(t.Context(), `SELECT (SELECT count(*) FROM penalties) + (SELECT count(*) FROM links) + (SELECT count(*) FROM commission_rates)`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("rows written: %d %v", n, err)
	}
}

// A url-encoded form over MaxFormBytes is answered 413 saying so, not 403
// "invalid CSRF token"; nothing is written.
func TestFormTooLarge(t *testing.T) {
	f := newFixture(t, false)
	f.admin("admin@example.com")
	id := f.partner("ayla")
	a := f.client()
	if s := a.login("admin@example.com", "admin-password-1"); s != http.StatusSeeOther {
		t.Fatalf("admin login: %d", s)
	}
	page := "/admin/partners/" + strconv.FormatInt(id, 10)
	a.get(page)
	s, _ := a.post(page, url.Values{"name": {"AYLA"}, "email": {"ayla@example.com"}, "slug": {"ayla"}, "status": {"active"},
		"company": {strings.Repeat("x", MaxFormBytes)}})
	if s != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized form: %d, want 413", s)
	}
}
