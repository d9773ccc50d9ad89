package ui

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/openaff/affiliate/dashboard/internal/storage"
)

// TestProgramRatesPage sets, lists and removes program-wide product and
// category rates on /admin/rates, and checks that bad input is refused
// naming the field, with nothing written.
func TestProgramRatesPage(t *testing.T) {
	f := newFixture(t, false)
	adm := adminClient(t, f)
	ctx := context.Background()
	a := f.partner("ayla")
	id := strconv.FormatInt(a, 10)
	f.exec(`INSERT INTO products (product_id, name, source) VALUES ('p-9', 'Blue sneaker', 'import')`)
	_, body, _ := adm.get("/admin/settings")
	if !strings.Contains(body, `href="/admin/rates"`) {
		t.Fatal("settings page does not link the rates page")
	}
	s, loc := adm.post("/admin/rates", url.Values{"level": {"product"}, "target": {" p-9 "}, "rate": {"7.25"}})
	wantFlash(t, adm, s, loc, "Rate saved")
	s, loc = adm.post("/admin/rates", url.Values{"level": {"category"}, "target": {"shoes"}, "rate": {"3"}})
	wantFlash(t, adm, s, loc, "Rate saved")
	s, loc = adm.post("/admin/rates", url.Values{"level": {"category"}, "target": {"shoes"}, "rate": {"4"}})
	wantFlash(t, adm, s, loc, "Rate saved")
	rates := func() string {
		t.Helper()
		rs, err := f.store.RatesOf(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range rs {
			if r.PartnerID != 0 {
				t.Fatalf("RatesOf(0) listed a partner's rate %+v", r)
			}
			out = append(out, r.ProductID+r.CategoryID+"="+strconv.FormatInt(r.RateUPct, 10))
		}
		return strings.Join(out, " ")
	}
	const saved = "p-9=7250000 shoes=4000000"
	if got := rates(); got != saved {
		t.Fatalf("rates = %q, want %q", got, saved)
	}
	_, body, _ = adm.get("/admin/rates")
	for _, want := range []string{"p-9", "Blue sneaker", "7.25 %", "shoes", "4 %"} {
		if !strings.Contains(body, want) {
			t.Errorf("rates page lacks %q", want)
		}
	}

	// Refused input: the flash names the field; nothing is written.
	refused := []struct{ level, target, rate, flash string }{
		{"product", "p-1", "101", "Error: rate"},
		{"product", "p-1", "-5", "Error: rate"},
		{"product", "p-1", "abc", "Error: rate"},
		{"product", "p-1", "", "Error: rate"},
		{"product", strings.Repeat("x", 201), "5", "Error: product_id"},
		{"category", strings.Repeat("x", 201), "5", "Error: category_id"},
		{"product", "p\x00", "5", "Error: product_id"},
		{"brand", "p-1", "5", "Error: level"},
		{"product", " ", "5", "Error: enter a product or category id"},
	}
	for _, c := range refused {
		s, loc := adm.post("/admin/rates", url.Values{"level": {c.level}, "target": {c.target}, "rate": {c.rate}})
		wantFlash(t, adm, s, loc, c.flash)
	}
	// Without the CSRF token.
	if s, _ := adm.post("/admin/rates", url.Values{"level": {"product"}, "target": {"p-1"}, "rate": {"5"}, "csrf": {""}}); s != http.StatusForbidden {
		t.Fatalf("POST without csrf: %d, want 403", s)
	}
	if got := rates(); got != saved {
		t.Fatalf("rates after refused forms = %q, want %q", got, saved)
	}

	// A partner's own rate stays on the partner's page, not here, and the
	// program-wide rate does not show on the partner's page.
	s, loc = adm.post("/admin/partners/"+id+"/rates", url.Values{"level": {"product"}, "target": {"p-ayla"}, "rate": {"20"}})
	wantFlash(t, adm, s, loc, "Rate saved")
	if _, body, _ = adm.get("/admin/rates"); strings.Contains(body, "p-ayla") {
		t.Fatal("rates page shows a partner's own rate")
	}
	if _, body, _ = adm.get("/admin/partners/" + id); strings.Contains(body, "p-9") {
		t.Fatal("partner page shows a program-wide rate")
	}

	// Remove; a second remove (double submit) is not an error.
	s, loc = adm.post("/admin/rates/delete", url.Values{"level": {"product"}, "target": {"p-9"}})
	wantFlash(t, adm, s, loc, "Rate removed")
	s, loc = adm.post("/admin/rates/delete", url.Values{"level": {"product"}, "target": {"p-9"}})
	wantFlash(t, adm, s, loc, "Rate already removed")
	if got := rates(); got != "shoes=4000000" {
		t.Fatalf("rates after remove = %q", got)
	}
	if prs, _ := f.store.RatesOf(ctx, a); len(prs) != 1 || prs[0].ProductID != "p-ayla" {
		t.Fatalf("partner rates after removing a program rate = %+v", prs)
	}
}

// TestPartnerSeesAdjustmentsAndPenalties: what the admin posts to a
// partner's balance by hand shows in that partner's panel and partner API,
// and never in another partner's.
func TestPartnerSeesAdjustmentsAndPenalties(t *testing.T) {
	f := newFixture(t, false)
	adm := adminClient(t, f)
	a := f.partner("ayla")
	b := f.partner("bora")
	f.seedOrder("oa-1", a, 1000)
	f.seedOrder("ob-1", b, 2000)
	post := func(partnerID int64, kind string, form url.Values, flash string) {
		t.Helper()
		form.Set("request_id", "req-"+kind+"-"+strconv.FormatInt(partnerID, 10)+"-0123456789")
		s, loc := adm.post("/admin/partners/"+strconv.FormatInt(partnerID, 10)+"/"+kind, form)
		wantFlash(t, adm, s, loc, flash)
	}
	post(a, "adjustments", url.Values{"amount": {"-2.50"}, "reason": {"duplicate-order-fix"}}, "Adjustment posted")
	post(a, "penalties", url.Values{"order_id": {"oa-1"}, "amount": {"1.20"}, "reason": {"return-shipping"}}, "Penalty applied")
	post(b, "adjustments", url.Values{"amount": {"9.99"}, "reason": {"bora-secret-bonus"}}, "Adjustment posted")
	post(b, "penalties", url.Values{"order_id": {"ob-1"}, "amount": {"3.30"}, "reason": {"bora-penalty-note"}}, "Penalty applied")

	ca, cb := f.client(), f.client()
	ca.login("ayla@example.com", "partner-pw-ayla")
	cb.login("bora@example.com", "partner-pw-bora")
	own := []string{"duplicate-order-fix", "-2.50 EUR", "oa-1", "return-shipping", "-1.20 EUR"}
	other := []string{"bora-secret-bonus", "9.99", "ob-1", "bora-penalty-note", "-3.30"}
	bid := strconv.FormatInt(b, 10)
	// A partner_id in the URL is ignored: the session decides.
	for _, path := range []string{"/partner", "/partner/adjustments", "/partner/adjustments?partner_id=" + bid} {
		s, body, _ := ca.get(path)
		if s != http.StatusOK {
			t.Fatalf("GET %s = %d", path, s)
		}
		for _, w := range own {
			if !strings.Contains(body, w) {
				t.Errorf("GET %s lacks own %q", path, w)
			}
		}
		for _, w := range other {
			if strings.Contains(body, w) {
				t.Errorf("GET %s shows the other partner's %q", path, w)
			}
		}
	}
	if _, body, _ := cb.get("/partner"); !strings.Contains(body, "bora-secret-bonus") || strings.Contains(body, "duplicate-order-fix") {
		t.Error("Bora's balance page shows the wrong history")
	}
	// The partner API: newest first, signed amounts, the penalty's order.
	s, out := ca.callJSON("GET", "/api/partner/adjustments?partner_id="+bid, "", false)
	list, _ := out["adjustments"].([]any)
	if s != http.StatusOK || len(list) != 2 || out["has_more"] != false {
		t.Fatalf("GET /api/partner/adjustments = %d %v", s, out)
	}
	pen, adj := list[0].(map[string]any), list[1].(map[string]any)
	if pen["kind"] != "penalty" || pen["amount"] != "-1.20" || pen["order_id"] != "oa-1" || pen["reason"] != "return-shipping" || pen["currency"] != "EUR" {
		t.Errorf("penalty = %v", pen)
	}
	if adj["kind"] != "adjustment" || adj["amount"] != "-2.50" || adj["reason"] != "duplicate-order-fix" || adj["order_id"] != nil {
		t.Errorf("adjustment = %v", adj)
	}
	// The balance they explain: 10.00 pending, 0 - 2.50 - 1.20 available.
	if s, bal := ca.callJSON("GET", "/api/partner/balance", "", false); s != 200 || bal["available"] != "-3.70" {
		t.Errorf("balance = %d %v", s, bal)
	}
}

// TestMoneyHistoryPages pages through interleaved adjustments and
// penalties: every entry once, newest first, the home page showing the
// latest with a link to the rest.
func TestMoneyHistoryPages(t *testing.T) {
	f := newFixture(t, false)
	ctx := context.Background()
	a := f.partner("ayla")
	f.seedOrder("oa-1", a, 1000)
	const n = 13
	for i := range n {
		key := "hist-" + strconv.Itoa(i)
		var err error
		if i%3 == 0 {
			_, err = f.store.CreatePenalty(ctx, f.ledger, storage.Penalty{PartnerID: a, OrderID: "oa-1", AmountMinor: int64(100 + i),
				Currency: "EUR", Key: key}, 0)
		} else {
			_, err = f.store.CreateAdjustment(ctx, f.ledger, storage.Adjustment{PartnerID: a, AmountMinor: int64(100 + i),
				Currency: "EUR", Reason: "r" + strconv.Itoa(i), Key: key}, 0)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	var got []int64
	for page := 1; ; page++ {
		es, more, err := f.store.MoneyHistoryPage(ctx, a, storage.Page{Number: page, Size: 4})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			got = append(got, max(e.AmountMinor, -e.AmountMinor))
		}
		if !more {
			break
		}
		if page > n {
			t.Fatal("pages never end")
		}
	}
	if len(got) != n {
		t.Fatalf("paged %d entries %v, want %d", len(got), got, n)
	}
	for i, v := range got {
		if v != int64(100+n-1-i) {
			t.Fatalf("entries %v are not newest first", got)
		}
	}
	ca := f.client()
	ca.login("ayla@example.com", "partner-pw-ayla")
	// Home: the latest homeHistoryRows (amounts 1.12 down to 1.03) and a
	// link to the rest.
	_, body, _ := ca.get("/partner")
	if !strings.Contains(body, `href="/partner/adjustments"`) || !strings.Contains(body, "1.03 EUR") || strings.Contains(body, "1.02 EUR") {
		t.Fatalf("home does not show the latest %d entries with a link to the rest", homeHistoryRows)
	}
}
