package ui

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/openaff/affiliate/dashboard/internal/storage"
)

// callJSON sends a JSON request with the client's cookies; csrf adds the
// X-CSRF-Token header.
func (c *client) callJSON(method, path, body string, csrf bool) (int, map[string]any) {
	c.f.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, c.f.srv.URL+path, rd)
	req.Header.Set("Content-Type", "application/json")
	if csrf {
		req.Header.Set("X-CSRF-Token", c.csrf)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.f.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func TestPartnerAPI(t *testing.T) {
	f := newFixture(t, false)
	f.admin("admin@example.com")
	a := f.partner("ayla")
	b := f.partner("bora")
	f.seedOrder("oa-1", a, 1000)
	f.seedOrder("ob-1", b, 2000)
	ctx := context.Background()
	if _, _, err := f.store.CreateLink(ctx, storage.Link{PartnerID: b, Kind: "deep", TargetURL: "https://shop.example/bora-only"}, 0); err != nil {
		t.Fatal(err)
	}
	ca, adm, anon := f.client(), f.client(), f.client()
	ca.login("ayla@example.com", "partner-pw-ayla")
	adm.login("admin@example.com", "admin-password-1")

	// Who may call: the partner; not an admin session, not anonymous.
	for _, r := range PartnerAPIRoutes(nil) {
		if s, out := anon.callJSON(r.Method, r.Path, `{}`, false); s != http.StatusUnauthorized && s != http.StatusForbidden {
			t.Errorf("%s %s anonymous: %d %v", r.Method, r.Path, s, out)
		}
		if s, _ := adm.callJSON(r.Method, r.Path, `{"url":"https://shop.example/x"}`, true); s != http.StatusForbidden {
			t.Errorf("%s %s as admin: %d, want 403", r.Method, r.Path, s)
		}
	}
	s, bal := ca.callJSON("GET", "/api/partner/balance", "", false)
	if s != 200 || bal["pending"] != "10.00" || bal["currency"] != "EUR" {
		t.Fatalf("balance = %d %v", s, bal)
	}
	s, cs := ca.callJSON("GET", "/api/partner/commissions", "", false)
	if list := cs["commissions"].([]any); s != 200 || len(list) != 1 || list[0].(map[string]any)["order_id"] != "oa-1" {
		t.Fatalf("commissions = %d %v", s, cs)
	}
	// Writes need the CSRF header; a smuggled partner_id is refused.
	if s, out := ca.callJSON("POST", "/api/partner/links", `{"url":"https://shop.example/y"}`, false); s != http.StatusForbidden || out["field"] != "X-CSRF-Token" {
		t.Fatalf("POST without csrf: %d %v", s, out)
	}
	if s, out := ca.callJSON("POST", "/api/partner/links", `{"url":"https://shop.example/y","partner_id":`+strconv.FormatInt(b, 10)+`}`, true); s != http.StatusBadRequest {
		t.Fatalf("POST with partner_id: %d %v", s, out)
	}
	if s, out := ca.callJSON("POST", "/api/partner/links", `{"url":"https://evil.example/"}`, true); s != http.StatusBadRequest || out["field"] != "url" {
		t.Fatalf("POST foreign host: %d %v", s, out)
	}
	s, l := ca.callJSON("POST", "/api/partner/links", `{"url":"https://shop.example/y"}`, true)
	if s != http.StatusCreated || !strings.HasPrefix(l["url"].(string), "https://go.example/r/") {
		t.Fatalf("POST link: %d %v", s, l)
	}
	// Without url: the catalog's page of a product (and its category), a
	// category's shop page; a product the catalog has no URL for names url.
	f.exec(`INSERT INTO products (product_id, category_id, url, source) VALUES ('sku-1', 'boots', 'https://shop.example/p/sku-1', 'import'),
		('sku-2', NULL, NULL, 'orders')`)
	if s, l := ca.callJSON("POST", "/api/partner/links", `{"product_id":"sku-1"}`, true); s != http.StatusCreated ||
		l["target"] != "https://shop.example/p/sku-1" || l["category_id"] != "boots" {
		t.Errorf("product link without url: %d %v", s, l)
	}
	if s, l := ca.callJSON("POST", "/api/partner/links", `{"category_id":"boots"}`, true); s != http.StatusCreated ||
		!strings.Contains(l["target"].(string), "category=boots") {
		t.Errorf("category link without url: %d %v", s, l)
	}
	for _, body := range []string{`{"product_id":"sku-2"}`, `{"product_id":"sku-none"}`, `{}`} {
		if s, out := ca.callJSON("POST", "/api/partner/links", body, true); s != http.StatusBadRequest || out["field"] != "url" {
			t.Errorf("POST %s: %d %v, want 400 naming url", body, s, out)
		}
	}
	if s, l := ca.callJSON("POST", "/api/partner/links", `{"product_id":"sku-2","url":"https://shop.example/p/sku-2"}`, true); s != http.StatusCreated || l["target"] != "https://shop.example/p/sku-2" {
		t.Errorf("product link with url: %d %v", s, l)
	}
	s, ls := ca.callJSON("GET", "/api/partner/links", "", false)
	list := ls["links"].([]any)
	if s != 200 || len(list) != 4 || strings.Contains(strings.Join([]string{list[0].(map[string]any)["target"].(string)}, ""), "bora-only") {
		t.Fatalf("links = %d %v", s, ls)
	}
}
