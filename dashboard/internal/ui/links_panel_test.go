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

// TestLinksPageProductWithoutURL: a product learned from an order has no
// URL and no name; the picker shows its id, the form has a shop URL field
// that stands in for the missing catalog URL (checked against the allowed
// hosts), and the error without it says to fill that field.
func TestLinksPageProductWithoutURL(t *testing.T) {
	f := newFixture(t, false)
	a := f.partner("ayla")
	ctx := context.Background()
	// As the settler records products and categories seen in orders.
	f.exec(`INSERT INTO products (product_id, category_id, source) VALUES ('sku-stove', 'stoves', 'orders')`)
	if err := f.store.ImportProducts(ctx, []storage.Product{{ID: "p-1", Name: "Blue shoe", URL: "https://shop.example/p/1", CategoryID: "shoes"}}); err != nil {
		t.Fatal(err)
	}
	c := f.client()
	c.login("ayla@example.com", "partner-pw-ayla")
	_, body, _ := c.get("/partner/links")
	for _, want := range []string{
		`<option value="sku-stove">sku-stove – no shop URL yet</option>`, // not " (sku-stove)"
		`<option value="p-1">Blue shoe (p-1)</option>`,
		`name="product_url"`,
		`<option value="stoves">stoves</option>`, // a category only orders know
	} {
		if !strings.Contains(body, want) {
			t.Errorf("links page lacks %s", want)
		}
	}

	s, loc := c.post("/partner/links", url.Values{"product_id": {"sku-stove"}})
	wantFlash(t, c, s, loc, "Error: the catalog has no shop URL for product sku-stove; paste the address of its page in the shop in the product link form&#39;s &#34;Shop URL&#34; field")
	s, loc = c.post("/partner/links", url.Values{"product_id": {"sku-stove"}, "product_url": {"https://evil.example/stove"}})
	wantFlash(t, c, s, loc, "Error: shop URL host")
	s, loc = c.post("/partner/links", url.Values{"product_id": {"sku-stove"}, "product_url": {"https://shop.example/stove"}})
	wantFlash(t, c, s, loc, "Link ready: https://go.example/r/")
	// The catalog's URL wins over a pasted one.
	s, loc = c.post("/partner/links", url.Values{"product_id": {"p-1"}, "product_url": {"https://shop.example/other"}})
	wantFlash(t, c, s, loc, "Link ready: https://go.example/r/")
	// A category without a URL goes to the documented default page.
	s, loc = c.post("/partner/links", url.Values{"category_id": {"stoves"}})
	wantFlash(t, c, s, loc, "Link ready: https://go.example/r/")

	ls, _, err := f.store.Links(ctx, a, storage.Page{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]storage.Link{}
	for _, l := range ls {
		got[l.TargetURL] = l
	}
	if l := got["https://shop.example/stove"]; l.ProductID != "sku-stove" || l.CategoryID != "stoves" || l.Kind != "link" {
		t.Errorf("product link with a pasted URL = %+v", l)
	}
	if l := got["https://shop.example/p/1"]; l.ProductID != "p-1" {
		t.Errorf("links = %+v, want p-1's to its catalog URL", ls)
	}
	if l := got["https://shop.example/?category=stoves"]; l.CategoryID != "stoves" {
		t.Errorf("links = %+v, want the category link to https://shop.example/?category=stoves", ls)
	}
	if len(ls) != 3 {
		t.Errorf("%d links, want 3: %+v", len(ls), ls)
	}
}

// TestLinkTurnOffConfirmAndTurnOn: turning a link off asks first (by
// static/app.js: the CSP blocks inline handlers) and can be undone from
// the turned-off links page, by the link's partner only and within the
// active-link cap.
func TestLinkTurnOffConfirmAndTurnOn(t *testing.T) {
	f := newFixture(t, false)
	a := f.partner("ayla")
	f.partner("bora")
	ctx := context.Background()
	l, _, err := f.store.CreateLink(ctx, storage.Link{PartnerID: a, Kind: "deep", TargetURL: "https://shop.example/x"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	id := strconv.FormatInt(l.ID, 10)
	c := f.client()
	c.login("ayla@example.com", "partner-pw-ayla")
	_, body, h := c.get("/partner/links")
	if !strings.Contains(body, `action="/partner/links/`+id+`/deactivate" class="inline" data-confirm="Turn off https://go.example/r/`+l.Code+`?`) {
		t.Fatal("the turn-off form asks for no confirmation")
	}
	if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
		t.Fatalf("CSP %q: the confirmation relies on app.js, inline handlers being blocked", csp)
	}
	if _, js, _ := c.get("/static/app.js"); !strings.Contains(js, "data-confirm") || !strings.Contains(js, "window.confirm(") {
		t.Fatal("app.js does not handle data-confirm")
	}
	if !strings.Contains(body, `href="/partner/links/off"`) {
		t.Fatal("the links page does not lead to the turned-off links")
	}

	s, loc := c.post("/partner/links/"+id+"/deactivate", nil)
	wantFlash(t, c, s, loc, "Link turned off. To undo")
	_, body, _ = c.get("/partner/links/off")
	if !strings.Contains(body, l.Code) || !strings.Contains(body, `action="/partner/links/`+id+`/activate"`) {
		t.Fatal("the turned-off links page does not list the link with a Turn on button")
	}

	// Another partner neither sees nor turns it on.
	b := f.client()
	b.login("bora@example.com", "partner-pw-bora")
	if _, body, _ := b.get("/partner/links/off"); strings.Contains(body, l.Code) {
		t.Fatal("another partner sees the turned-off link")
	}
	if s, _ := b.post("/partner/links/"+id+"/activate", nil); s != http.StatusSeeOther {
		t.Fatalf("another partner's turn on: %d", s)
	}
	if got, _ := f.store.LinkOf(ctx, a, l.ID); got.Active {
		t.Fatal("another partner turned the link on")
	}
	// Without the CSRF token nothing happens.
	if s, _ := c.post("/partner/links/"+id+"/activate", url.Values{"csrf": {"forged"}}); s != http.StatusForbidden {
		t.Fatalf("turn on without CSRF: %d, want 403", s)
	}

	// At the cap the link stays off, with a message.
	old := storage.MaxActiveLinksPerPartner
	storage.MaxActiveLinksPerPartner = 1
	t.Cleanup(func() { storage.MaxActiveLinksPerPartner = old })
	other, _, err := f.store.CreateLink(ctx, storage.Link{PartnerID: a, Kind: "deep", TargetURL: "https://shop.example/y"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	c.get("/partner/links/off")
	s, loc = c.post("/partner/links/"+id+"/activate", nil)
	wantFlash(t, c, s, loc, "Error: url: cannot turn the link on: the partner has 1 active links")
	if err := f.store.DeactivateLink(ctx, a, other.ID, false); err != nil {
		t.Fatal(err)
	}
	c.get("/partner/links/off")
	s, loc = c.post("/partner/links/"+id+"/activate", nil)
	wantFlash(t, c, s, loc, "Link turned on again: https://go.example/r/"+l.Code)
	if got, _ := f.store.LinkOf(ctx, a, l.ID); !got.Active {
		t.Fatal("link still off")
	}
}
