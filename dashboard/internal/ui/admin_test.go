package ui

import (
	"bytes"
	"context"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/openaff/affiliate/dashboard/internal/storage"
)

func (f *fixture) count(q string, args ...any) int {
	f.t.Helper()
	var n int
	if err := f.pool.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		f.t.Fatalf("%s: %v", q, err)
	}
	return n
}

func adminClient(t *testing.T, f *fixture) *client {
	t.Helper()
	f.admin("admin@example.com")
	c := f.client()
	if s := c.login("admin@example.com", "admin-password-1"); s != http.StatusSeeOther {
		t.Fatalf("admin login: %d", s)
	}
	return c
}

func wantFlash(t *testing.T, c *client, status int, loc, prefix string) {
	t.Helper()
	if status != http.StatusSeeOther {
		t.Fatalf("status %d, want 303", status)
	}
	if got := c.flash(loc); !strings.HasPrefix(got, prefix) {
		t.Fatalf("flash %q, want prefix %q", got, prefix)
	}
}

func TestApplyApproveReject(t *testing.T) {
	f := newFixture(t, false)
	adm := adminClient(t, f)
	anon := f.client()
	anon.get("/apply")
	form := url.Values{"name": {"Serdar"}, "email": {"serdar@example.com"}, "slug": {"serdar"}, "password": {"long-enough-pw"}}
	s, loc := anon.post("/apply", form)
	wantFlash(t, anon, s, loc, "Thank you")
	// A second application for the same e-mail is refused.
	if s, _ := anon.post("/apply", form); s != http.StatusConflict {
		t.Fatalf("duplicate application: %d", s)
	}
	bad := url.Values{"name": {"X"}, "email": {"x@example.com"}, "slug": {"admin"}, "password": {"long-enough-pw"}}
	if s, _ := anon.post("/apply", bad); s != http.StatusBadRequest {
		t.Fatalf("reserved slug application: %d", s)
	}
	// The applicant cannot log in before approval.
	if s := f.client().login("serdar@example.com", "long-enough-pw"); s != http.StatusUnauthorized {
		t.Fatalf("login before approval: %d", s)
	}
	_, body, _ := adm.get("/admin/applications")
	if !strings.Contains(body, "serdar@example.com") {
		t.Fatal("application not listed")
	}
	apps, _, _ := f.store.Applications(context.Background(), "pending", storage.Page{})
	id := strconv.FormatInt(apps[0].ID, 10)
	s, loc = adm.post("/admin/applications/"+id+"/approve", url.Values{"slug": {"serdar"}})
	wantFlash(t, adm, s, loc, "Approved")
	if s := f.client().login("serdar@example.com", "long-enough-pw"); s != http.StatusSeeOther {
		t.Fatalf("login after approval: %d", s)
	}
	// Reject another one, with a reason.
	anon.post("/apply", url.Values{"name": {"Spam"}, "email": {"spam@example.com"}, "slug": {"spam"}, "password": {"long-enough-pw"}})
	apps, _, _ = f.store.Applications(context.Background(), "pending", storage.Page{})
	rid := strconv.FormatInt(apps[0].ID, 10)
	s, loc = adm.post("/admin/applications/"+rid+"/reject", url.Values{})
	wantFlash(t, adm, s, loc, "Error")
	s, loc = adm.post("/admin/applications/"+rid+"/reject", url.Values{"reason": {"no audience"}})
	wantFlash(t, adm, s, loc, "Application rejected")
	if s := f.client().login("spam@example.com", "long-enough-pw"); s != http.StatusUnauthorized {
		t.Fatalf("rejected applicant login: %d", s)
	}
}

func TestPartnerProfileRatesSlug(t *testing.T) {
	f := newFixture(t, false)
	adm := adminClient(t, f)
	a := f.partner("ayla")
	f.partner("bora")
	id := strconv.FormatInt(a, 10)
	profile := func(slug, status, rate string) url.Values {
		return url.Values{"name": {"Ayla K"}, "email": {"ayla@example.com"}, "slug": {slug}, "status": {status}, "default_rate": {rate}}
	}
	s, loc := adm.post("/admin/partners/"+id, profile("ayla-k", "suspended", "12.5"))
	wantFlash(t, adm, s, loc, "Partner saved")
	p, _ := f.store.Partner(context.Background(), a)
	if p.Slug != "ayla-k" || p.Status != "suspended" || p.DefaultRateUPct != 12500000 || p.Name != "Ayla K" {
		t.Fatalf("partner = %+v", p)
	}
	// Taken and reserved slugs are refused with a message.
	s, loc = adm.post("/admin/partners/"+id, profile("bora", "active", ""))
	wantFlash(t, adm, s, loc, "Error: slug: is already taken")
	s, loc = adm.post("/admin/partners/"+id, profile("healthz", "active", ""))
	wantFlash(t, adm, s, loc, "Error: slug")
	s, loc = adm.post("/admin/partners/"+id+"/rates", url.Values{"level": {"product"}, "target": {"p-1"}, "rate": {"20"}})
	wantFlash(t, adm, s, loc, "Rate saved")
	s, loc = adm.post("/admin/partners/"+id+"/rates", url.Values{"level": {"category"}, "target": {"shoes"}, "rate": {"150"}})
	wantFlash(t, adm, s, loc, "Error: rate")
	rs, _ := f.store.RatesOf(context.Background(), a)
	if len(rs) != 1 || rs[0].ProductID != "p-1" || rs[0].RateUPct != 20000000 {
		t.Fatalf("rates = %+v", rs)
	}
	_, body, _ := adm.get("/admin/partners/" + id)
	if !strings.Contains(body, "ayla-k") || !strings.Contains(body, "20 %") {
		t.Fatal("partner page does not show slug and rate")
	}
	// Create a partner from the list page; search finds it.
	s, loc = adm.post("/admin/partners", url.Values{"name": {"Cem"}, "email": {"cem@example.com"}, "slug": {"cem"}})
	wantFlash(t, adm, s, loc, "Partner created")
	// Give the new partner a login, then change its password.
	s, loc = adm.post(loc+"/login", url.Values{"password": {"short"}})
	wantFlash(t, adm, s, loc, "Error: password")
	s, loc = adm.post(loc+"/login", url.Values{"password": {"cem-first-password"}})
	wantFlash(t, adm, s, loc, "Login saved")
	cem := f.client()
	if st := cem.login("cem@example.com", "cem-first-password"); st != http.StatusSeeOther {
		t.Fatalf("new partner login: %d", st)
	}
	adm.post(loc+"/login", url.Values{"password": {"cem-second-password"}})
	if st, _, _ := cem.get("/partner"); st != http.StatusSeeOther {
		t.Fatalf("session survived the password change: %d", st)
	}
	if st := f.client().login("cem@example.com", "cem-first-password"); st != http.StatusUnauthorized {
		t.Fatalf("old password still works: %d", st)
	}
	_, body, _ = adm.get("/admin/partners?q=cem")
	if !strings.Contains(body, "cem@example.com") || strings.Contains(body, "bora@example.com") {
		t.Fatal("partner search is wrong")
	}
}

func TestMoneyForms(t *testing.T) {
	f := newFixture(t, false)
	adm := adminClient(t, f)
	a := f.partner("ayla")
	id := strconv.FormatInt(a, 10)
	cid := f.seedOrder("o-1", a, 1000)
	f.seedOrder("o-2", a, 500)
	// Adjustment; the same form submitted twice posts once.
	form := url.Values{"amount": {"5.00"}, "reason": {"welcome bonus"}, "request_id": {"req-0123456789abcdef"}}
	s, loc := adm.post("/admin/partners/"+id+"/adjustments", form)
	wantFlash(t, adm, s, loc, "Adjustment posted")
	adm.post("/admin/partners/"+id+"/adjustments", form)
	if n := f.count(`SELECT count(*) FROM adjustments`); n != 1 {
		t.Fatalf("adjustments after double submit = %d", n)
	}
	s, loc = adm.post("/admin/partners/"+id+"/adjustments", url.Values{"amount": {"abc"}, "reason": {"x"}, "request_id": {"req-0123456789abcdeg"}})
	wantFlash(t, adm, s, loc, "Error: amount")
	// Penalty on an order.
	s, loc = adm.post("/admin/partners/"+id+"/penalties", url.Values{"order_id": {"o-1"}, "amount": {"1.50"}, "request_id": {"req-penalty-000000001"}})
	wantFlash(t, adm, s, loc, "Penalty applied")
	s, loc = adm.post("/admin/partners/"+id+"/penalties", url.Values{"order_id": {"nope"}, "amount": {"1.50"}, "request_id": {"req-penalty-000000002"}})
	wantFlash(t, adm, s, loc, "Error: order_id")
	// Bulk approve from the commission list; CSV export.
	_, body, _ := adm.get("/admin/commissions?partner_id=" + id + "&state=pending")
	if !strings.Contains(body, `value="`+strconv.FormatInt(cid, 10)+`"`) {
		t.Fatal("pending commission not listed with a checkbox")
	}
	s, loc = adm.post("/admin/commissions/approve", url.Values{"ids": {strconv.FormatInt(cid, 10)}})
	wantFlash(t, adm, s, loc, "Approved 1 commission")
	_, csv, h := adm.get("/admin/commissions.csv?partner_id=" + id)
	if !strings.HasPrefix(h.Get("Content-Type"), "text/csv") || strings.Count(csv, "\n") != 3 || !strings.Contains(csv, ",approved,") {
		t.Fatalf("csv = %q", csv)
	}
	bal, err := f.ledger.Balance(context.Background(), id, "EUR")
	if err != nil || bal.AvailableMinor != 900+500-150 || bal.ReservedMinor != 100 || bal.PendingMinor != 500 {
		t.Fatalf("balance = %+v, %v", bal, err)
	}
	// Order page approval approves the rest of that order.
	s, loc = adm.post("/admin/commissions/approve", url.Values{"order_id": {"o-2"}})
	wantFlash(t, adm, s, loc, "Approved 1 commission")
}

func TestOrdersOverridesSalesCustomers(t *testing.T) {
	f := newFixture(t, false)
	adm := adminClient(t, f)
	a := f.partner("ayla")
	b := f.partner("bora")
	f.seedOrder("o-1", a, 1000)
	_, body, _ := adm.get("/admin/orders?partner_id=" + strconv.FormatInt(a, 10))
	if !strings.Contains(body, `href="/admin/orders/o-1"`) {
		t.Fatal("order not in the partner's order list")
	}
	_, body, _ = adm.get("/admin/orders?partner_id=" + strconv.FormatInt(b, 10))
	if strings.Contains(body, `href="/admin/orders/o-1"`) {
		t.Fatal("order listed under the wrong partner")
	}
	_, body, _ = adm.get("/admin/orders/o-1")
	if !strings.Contains(body, "customer_binding") || !strings.Contains(body, "10.00 EUR") {
		t.Fatal("order page lacks attribution or commission")
	}
	s, loc := adm.post("/admin/orders/o-1/partner", url.Values{"partner_id": {strconv.FormatInt(b, 10)}, "reason": {"support ticket"}})
	wantFlash(t, adm, s, loc, "Override saved")
	s, loc = adm.post("/admin/orders/o-1/partner", url.Values{"remove": {"1"}})
	wantFlash(t, adm, s, loc, "Override saved")
	if n := f.count(`SELECT count(*) FROM order_overrides WHERE order_id = 'o-1'`); n != 2 {
		t.Fatalf("overrides = %d", n)
	}
	// Manual sales record.
	s, loc = adm.post("/admin/orders", url.Values{"order_id": {"m-1"}, "partner_id": {strconv.FormatInt(a, 10)}, "product_id": {"p"}, "quantity": {"2"}, "unit_price": {"9.99"}})
	wantFlash(t, adm, s, loc, "Sales record created")
	if n := f.count(`SELECT count(*) FROM orders o JOIN settle_queue q USING (order_id) WHERE order_id = 'm-1' AND manual AND q.revision = o.revision`); n != 1 {
		t.Fatal("manual sale not queued for settlement")
	}
	s, loc = adm.post("/admin/orders", url.Values{"order_id": {"m-2"}, "partner_id": {"x"}, "product_id": {"p"}, "quantity": {"1"}, "unit_price": {"1"}})
	wantFlash(t, adm, s, loc, "Error: partner_id")
	// Customer attach / detach.
	s, loc = adm.post("/admin/customers/partner", url.Values{"customer_id": {"cust-o-1"}, "partner_id": {strconv.FormatInt(b, 10)}})
	wantFlash(t, adm, s, loc, "Customer binding saved")
	if bd, _ := f.store.CurrentBinding(context.Background(), "cust-o-1"); bd.PartnerID != b {
		t.Fatalf("binding = %+v", bd)
	}
	if _, body, _ := adm.get("/admin/customers?customer_id=O-1@buyer.example"); !strings.Contains(body, `value="cust-o-1"`) || !strings.Contains(body, "Bound to") {
		t.Fatal("lookup by e-mail does not find the bound customer")
	}
	s, loc = adm.post("/admin/customers/partner", url.Values{"customer_id": {"cust-o-1"}, "partner_id": {strconv.FormatInt(b, 10)}, "detach": {"1"}})
	wantFlash(t, adm, s, loc, "Customer binding saved")
	if _, err := f.store.CurrentBinding(context.Background(), "cust-o-1"); err != storage.ErrNotFound {
		t.Fatalf("binding after detach: %v", err)
	}
}

func TestAnnouncementsPayoutsStoreCreditSettings(t *testing.T) {
	f := newFixture(t, false)
	adm := adminClient(t, f)
	a := f.partner("ayla")
	b := f.partner("bora")
	s, loc := adm.post("/admin/announcements", url.Values{"title": {"Only Ayla"}, "body": {"hi"}, "partner_ids": {strconv.FormatInt(a, 10)}})
	wantFlash(t, adm, s, loc, "Announcement sent")
	ca, cb := f.client(), f.client()
	ca.login("ayla@example.com", "partner-pw-ayla")
	cb.login("bora@example.com", "partner-pw-bora")
	_, body, _ := ca.get("/partner/announcements")
	if !strings.Contains(body, "Only Ayla") || !strings.Contains(body, `id="unread">1<`) {
		t.Fatal("recipient does not see the unread announcement")
	}
	_, body, _ = cb.get("/partner/announcements")
	if strings.Contains(body, "Only Ayla") {
		t.Fatal("another partner sees a selected announcement")
	}
	var ann int64
	_ = f.pool.QueryRow(context.Background(), `SELECT id FROM announcements`).Scan(&ann)
	s, loc = cb.post("/partner/announcements/"+strconv.FormatInt(ann, 10)+"/read", nil)
	wantFlash(t, cb, s, loc, "Error: not found")
	ca.post("/partner/announcements/"+strconv.FormatInt(ann, 10)+"/read", nil)
	if n := f.count(`SELECT count(*) FROM announcement_reads`); n != 1 {
		t.Fatalf("reads = %d", n)
	}

	// Payout: partner requests, admin marks paid.
	if _, err := f.store.CreateAdjustment(context.Background(), f.ledger, storage.Adjustment{PartnerID: a, AmountMinor: 5000, Currency: "EUR", Reason: "seed", Key: "seed-1"}, 0); err != nil {
		t.Fatal(err)
	}
	ca.post("/partner/bank", url.Values{"holder": {"Ayla"}, "iban": {"DE89 3704 0044 0532 0130 00"}})
	s, loc = ca.post("/partner/payouts", url.Values{"amount": {"30.00"}, "request_id": {"payout-req-000000001"}})
	wantFlash(t, ca, s, loc, "Payout requested")
	_, body, _ = adm.get("/admin/payouts?status=requested")
	if !strings.Contains(body, "30.00 EUR") {
		t.Fatal("payout not listed for the admin")
	}
	var po int64
	_ = f.pool.QueryRow(context.Background(), `SELECT id FROM payouts`).Scan(&po)
	s, loc = adm.post("/admin/payouts/"+strconv.FormatInt(po, 10)+"/paid", url.Values{"note": {"BANK-REF-1"}})
	wantFlash(t, adm, s, loc, "Payout updated")
	_, body, _ = ca.get("/partner/payouts")
	if !strings.Contains(body, "paid") || !strings.Contains(body, "30.00 EUR") {
		t.Fatal("partner does not see the paid payout")
	}

	// Store credit: partner requests, admin approves.
	f.exec(`INSERT INTO customers (customer_id, email, first_seen_at) VALUES ('c-1', 'c1@example.com', now())`)
	s, loc = ca.post("/partner/store-credit", url.Values{"customer": {"c1@example.com"}, "amount": {"10.00"}, "request_id": {"sc-req-00000000001"}})
	wantFlash(t, ca, s, loc, "Request sent")
	var sc int64
	_ = f.pool.QueryRow(context.Background(), `SELECT id FROM store_credit_requests`).Scan(&sc)
	s, loc = adm.post("/admin/store-credits/"+strconv.FormatInt(sc, 10)+"/approve", nil)
	wantFlash(t, adm, s, loc, "Request decided")
	if n := f.count(`SELECT count(*) FROM outbox WHERE topic = 'store_credits'`); n != 1 {
		t.Fatalf("outbox = %d", n)
	}
	bal, _ := f.ledger.Balance(context.Background(), strconv.FormatInt(a, 10), "EUR")
	if bal.AvailableMinor != 1000 || bal.PaidOutMinor != 3000 {
		t.Fatalf("balance = %+v", bal)
	}
	_ = b

	// Settings.
	s, loc = adm.post("/admin/settings", url.Values{"default_rate": {"8"}, "attribution_window": {"720h"}, "attribution_model": {"first_click"},
		"binding_window": {"24h"}, "reserve_percent": {"10"}, "reserve_period": {"720h"}, "auto_approve_after": {"0s"}, "currency": {"EUR"}, "min_payout": {"20.00"}})
	wantFlash(t, adm, s, loc, "Settings saved")
	p, _ := f.store.Program(context.Background())
	if p.DefaultRateUPct != 8000000 || p.AttributionModel != "first_click" || p.MinPayoutMinor != 2000 {
		t.Fatalf("program = %+v", p)
	}
	s, loc = adm.post("/admin/settings", url.Values{"default_rate": {"8"}, "attribution_window": {"soon"}})
	wantFlash(t, adm, s, loc, "Error: attribution_window")
	// Balances exist in EUR: the currency is fixed now, and the form says so.
	s, loc = adm.post("/admin/settings", url.Values{"default_rate": {"8"}, "currency": {"USD"}})
	wantFlash(t, adm, s, loc, "Error: currency: cannot change from EUR")
	for _, page := range []string{"/admin", "/admin/runs", "/admin/store-credits", "/admin/customers?customer_id=c-1", "/admin/announcements"} {
		if st, _, _ := adm.get(page); st != 200 {
			t.Errorf("GET %s = %d", page, st)
		}
	}
}

func TestCatalogImport(t *testing.T) {
	f := newFixture(t, false)
	adm := adminClient(t, f)
	upload := func(name, content string) (int, string) {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		_ = mw.WriteField("csrf", adm.csrf)
		fw, _ := mw.CreateFormFile("file", name)
		_, _ = io.WriteString(fw, content)
		mw.Close()
		req, _ := http.NewRequest("POST", f.srv.URL+"/admin/catalog", &buf)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		resp, err := adm.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Location")
	}
	adm.get("/admin/catalog")
	s, loc := upload("c.csv", "product_id,name,url,category_id\np1,Shoe,https://shop.example/p1,shoes\n")
	wantFlash(t, adm, s, loc, "Imported 1 products")
	s, loc = upload("c.csv", "product_id,url\np2,https://evil.example/\n")
	wantFlash(t, adm, s, loc, "Error: product 1: url")
	if n := f.count(`SELECT count(*) FROM products`); n != 1 {
		t.Fatalf("products = %d", n)
	}
}

func TestOrderCandidatesAndLanding(t *testing.T) {
	f := newFixture(t, false)
	adm := adminClient(t, f)
	a := f.partner("ayla")
	f.seedOrder("o-1", a, 1000)
	f.exec(`UPDATE attributions SET candidates = '[{"rule":"customer_binding","partner_id":` + strconv.FormatInt(a, 10) + `},{"rule":"device","partner_id":null,"reason":"no click in window"}]'`)
	_, body, _ := adm.get("/admin/orders/o-1")
	if !strings.Contains(body, `id="candidates"`) || !strings.Contains(body, "no click in window") {
		t.Fatal("order page lacks the attribution candidates")
	}
	id := strconv.FormatInt(a, 10)
	form := url.Values{"name": {"Ayla"}, "email": {"ayla@example.com"}, "slug": {"ayla"}, "status": {"active"}, "landing_url": {"https://evil.example/"}}
	s, loc := adm.post("/admin/partners/"+id, form)
	wantFlash(t, adm, s, loc, "Error: landing URL")
	form.Set("landing_url", "https://shop.example/summer")
	s, loc = adm.post("/admin/partners/"+id, form)
	wantFlash(t, adm, s, loc, "Partner saved")
	if p, _ := f.store.Partner(context.Background(), a); p.LandingURL != "https://shop.example/summer" {
		t.Fatalf("landing = %q", p.LandingURL)
	}
}

// The order page says when the settler flagged the order as a
// self-referral (the customer is the partner's own shop account), which
// is why it has no commission.
func TestOrderPageShowsSelfReferral(t *testing.T) {
	f := newFixture(t, false)
	a := adminClient(t, f)
	pid := f.partner("ayla")
	f.seedOrder("o-self", pid, 100)
	if _, page, _ := a.get("/admin/orders/o-self"); strings.Contains(page, `id="self-referral"`) {
		t.Fatal("an order not flagged shows the self-referral note")
	}
	f.exec(`UPDATE attributions SET self_referral = true WHERE order_id = 'o-self'`)
	if s, page, _ := a.get("/admin/orders/o-self"); s != http.StatusOK || !strings.Contains(page, `id="self-referral"`) {
		t.Fatalf("order page of a self-referral: %d, no self-referral note", s)
	}
}
