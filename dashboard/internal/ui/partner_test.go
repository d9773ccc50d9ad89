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

// TestPartnerIsolation logs in two partners with data each and checks that
// no partner page shows, and no partner form changes, the other's data.
func TestPartnerIsolation(t *testing.T) {
	f := newFixture(t, false)
	a := f.partner("ayla")
	b := f.partner("bora")
	f.seedOrder("oa-1", a, 1000)
	f.seedOrder("ob-1", b, 2000)
	ctx := context.Background()
	lb, _, err := f.store.CreateLink(ctx, storage.Link{PartnerID: b, Kind: "deep", TargetURL: "https://shop.example/secret-b"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.store.SetBankAccount(ctx, b, storage.BankAccount{Holder: "Bora", IBAN: "GB82WEST12345698765432"}); err != nil {
		t.Fatal(err)
	}
	ca := f.client()
	ca.login("ayla@example.com", "partner-pw-ayla")
	// Pages: Ayla's data present, Bora's absent.
	pages := map[string][2]string{
		"/partner":             {"AYLA", "BORA"},
		"/partner/customers":   {"cust-oa-1", "cust-ob-1"},
		"/partner/products":    {"prod-oa-1", "prod-ob-1"},
		"/partner/commissions": {"oa-1", "ob-1"},
		"/partner/links":       {"", "secret-b"},
		"/partner/bank":        {"", "GB82WEST"},
		"/partner/payouts":     {"", "GB82WEST"},
	}
	for path, want := range pages {
		s, body, _ := ca.get(path)
		if s != 200 {
			t.Errorf("GET %s = %d", path, s)
			continue
		}
		if want[0] != "" && !strings.Contains(body, want[0]) {
			t.Errorf("GET %s lacks own data %q", path, want[0])
		}
		if strings.Contains(body, want[1]) {
			t.Errorf("GET %s shows the other partner's %q", path, want[1])
		}
	}
	// Another partner's link QR code is a 404.
	if s, _, _ := ca.get("/partner/links/" + strconv.FormatInt(lb.ID, 10) + "/qr.svg"); s != http.StatusNotFound {
		t.Errorf("other partner's QR: %d, want 404", s)
	}
	// Bora's link cannot be turned off by Ayla.
	s0, loc0 := ca.post("/partner/links/"+strconv.FormatInt(lb.ID, 10)+"/deactivate", nil)
	wantFlash(t, ca, s0, loc0, "Error: not found")
	if l, _ := f.store.LinkOf(ctx, b, lb.ID); !l.Active {
		t.Fatal("another partner's link was turned off")
	}
	// A partner_id smuggled into a form is ignored: the link is Ayla's.
	s, loc := ca.post("/partner/links", url.Values{"url": {"https://shop.example/x"}, "partner_id": {strconv.FormatInt(b, 10)}})
	wantFlash(t, ca, s, loc, "Link ready")
	if n := f.count(`SELECT count(*) FROM links WHERE target_url = 'https://shop.example/x' AND partner_id = $1`, a); n != 1 {
		t.Fatal("smuggled partner_id was honoured")
	}
	// Bank details of Bora are untouched by Ayla's save.
	ca.post("/partner/bank", url.Values{"holder": {"Ayla"}, "iban": {"DE89370400440532013000"}, "partner_id": {strconv.FormatInt(b, 10)}})
	if bk, _ := f.store.BankAccount(ctx, b); bk.IBAN != "GB82WEST12345698765432" {
		t.Fatalf("other partner's bank changed: %+v", bk)
	}
	// Claiming Bora's bound customer fails with the neutral message.
	s, loc = ca.post("/partner/customers", url.Values{"email": {"ob-1@buyer.example"}})
	wantFlash(t, ca, s, loc, "Error: no unbound customer")
	if bd, _ := f.store.CurrentBinding(ctx, "cust-ob-1"); bd.PartnerID != b {
		t.Fatal("claim moved another partner's customer")
	}
}

func TestPartnerFeatures(t *testing.T) {
	f := newFixture(t, false)
	a := f.partner("ayla")
	f.seedOrder("oa-1", a, 1000)
	ctx := context.Background()
	if err := f.store.ImportProducts(ctx, []storage.Product{{ID: "p-1", Name: "Blue shoe", URL: "https://shop.example/p/1", CategoryID: "shoes"}}); err != nil {
		t.Fatal(err)
	}
	f.exec(`INSERT INTO customers (customer_id, email, first_seen_at) VALUES ('free-1', 'free@example.com', now())`)
	c := f.client()
	c.login("ayla@example.com", "partner-pw-ayla")

	// Links: product from the catalog, category, deep; foreign hosts refused.
	s, loc := c.post("/partner/links", url.Values{"product_id": {"p-1"}})
	wantFlash(t, c, s, loc, "Link ready: https://go.example/r/")
	s, loc = c.post("/partner/links", url.Values{"category_id": {"shoes"}})
	wantFlash(t, c, s, loc, "Link ready")
	s, loc = c.post("/partner/links", url.Values{"url": {"https://evil.example/"}})
	wantFlash(t, c, s, loc, "Error: url")
	ls, _, _ := f.store.Links(ctx, a, storage.Page{})
	if len(ls) != 2 {
		t.Fatalf("links = %+v", ls)
	}
	var product storage.Link
	for _, l := range ls {
		if l.ProductID == "p-1" {
			product = l
		}
	}
	if product.TargetURL != "https://shop.example/p/1" || product.CategoryID != "shoes" || product.Kind != "link" {
		t.Fatalf("product link = %+v", product)
	}
	_, body, _ := c.get("/partner/links")
	if !strings.Contains(body, `data-copy="https://go.example/r/`+product.Code+`"`) {
		t.Fatal("links page lacks the copy button")
	}
	// Turning a link off; a suspended partner cannot make new links.
	var deep storage.Link
	for _, l := range ls {
		if l.ProductID == "" {
			deep = l
		}
	}
	s, loc = c.post("/partner/links/"+strconv.FormatInt(deep.ID, 10)+"/deactivate", nil)
	wantFlash(t, c, s, loc, "Link turned off")
	if l, _ := f.store.LinkOf(ctx, a, deep.ID); l.Active {
		t.Fatal("link still active")
	}
	// A suspended partner's session stops working (TestSuspendedPartnerCannotLogIn):
	// no new link; active again, the same session works.
	before, _, _ := f.store.Links(ctx, a, storage.Page{})
	f.exec(`UPDATE partners SET status = 'suspended' WHERE id = $1`, a)
	if s, _ = c.post("/partner/links", url.Values{"url": {"https://shop.example/new"}}); s != http.StatusForbidden && s != http.StatusSeeOther {
		t.Fatalf("suspended partner's link post: %d", s)
	}
	if after, _, _ := f.store.Links(ctx, a, storage.Page{}); len(after) != len(before) {
		t.Fatalf("a suspended partner made a link: %d links, had %d", len(after), len(before))
	}
	f.exec(`UPDATE partners SET status = 'active' WHERE id = $1`, a)
	s, svg, h := c.get("/partner/links/" + strconv.FormatInt(product.ID, 10) + "/qr.svg")
	if s != 200 || h.Get("Content-Type") != "image/svg+xml" || !strings.HasPrefix(svg, "<svg") {
		t.Fatalf("qr: %d %q", s, h.Get("Content-Type"))
	}

	// Claim an unbound customer by e-mail; unknown e-mail refused.
	s, loc = c.post("/partner/customers", url.Values{"email": {"free@example.com"}})
	wantFlash(t, c, s, loc, "Customer linked")
	s, loc = c.post("/partner/customers", url.Values{"email": {"free@example.com"}}) // a repeat is fine
	wantFlash(t, c, s, loc, "Customer linked")
	s, loc = c.post("/partner/customers", url.Values{"email": {"nobody@example.com"}})
	wantFlash(t, c, s, loc, "Error: no unbound customer")

	// Bank details with IBAN checksum.
	s, loc = c.post("/partner/bank", url.Values{"holder": {"Ayla"}, "iban": {"DE89370400440532013001"}})
	wantFlash(t, c, s, loc, "Error: IBAN checksum")
	s, loc = c.post("/partner/bank", url.Values{"holder": {"Ayla"}, "iban": {"de89 3704 0044 0532 0130 00"}, "bic": {"COBADEFFXXX"}})
	wantFlash(t, c, s, loc, "Bank details saved")

	// Balance after approval: 90 % available, 10 % reserved with a date.
	if _, err := f.store.ApproveCommissions(ctx, f.ledger, "oa-1", nil, 0); err != nil {
		t.Fatal(err)
	}
	_, body, _ = c.get("/partner")
	for _, want := range []string{`id="available">9.00 EUR`, `id="reserved">1.00 EUR`, `id="confirmed">10.00 EUR`, "Released on"} {
		if !strings.Contains(body, want) {
			t.Errorf("home lacks %q", want)
		}
	}
	// Payouts: below the minimum and above available are refused.
	f.exec(`UPDATE program_settings SET min_payout_minor = 500`)
	s, loc = c.post("/partner/payouts", url.Values{"amount": {"4.00"}, "request_id": {"payout-req-00000001"}})
	wantFlash(t, c, s, loc, "Error: amount: is below the minimum")
	s, loc = c.post("/partner/payouts", url.Values{"amount": {"9.01"}, "request_id": {"payout-req-00000002"}})
	wantFlash(t, c, s, loc, "Error: amount: is more than the available")
	s, loc = c.post("/partner/payouts", url.Values{"amount": {"9.00"}, "request_id": {"payout-req-00000003"}})
	wantFlash(t, c, s, loc, "Payout requested")
	// Double submit of the same form requests once.
	c.post("/partner/payouts", url.Values{"amount": {"9.00"}, "request_id": {"payout-req-00000003"}})
	if n := f.count(`SELECT count(*) FROM payouts`); n != 1 {
		t.Fatalf("payouts = %d", n)
	}
	// Store credit needs available balance (all of it is requested now).
	s, loc = c.post("/partner/store-credit", url.Values{"customer": {"free-1"}, "amount": {"1.00"}, "request_id": {"sc-req-0000000001"}})
	wantFlash(t, c, s, loc, "Error: amount: is more than the available")
	// An unknown customer gets the same answer: the balance is checked
	// first, so the form cannot probe who is a customer.
	s, loc = c.post("/partner/store-credit", url.Values{"customer": {"nobody"}, "amount": {"1.00"}, "request_id": {"sc-req-0000000002"}})
	wantFlash(t, c, s, loc, "Error: amount: is more than the available")
}
