package ui

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// TestAdminTurnsLinksOffAndOn: the admin's partner page lists the partner's
// links on and off with their state; the admin turns one off, the partner
// sees it cannot turn it on (and is refused when trying), the admin turns
// it on again.
func TestAdminTurnsLinksOffAndOn(t *testing.T) {
	f, adm, c, id, page := adminLinkWorld(t)
	var s int
	var loc string
	if _, body, _ := adm.get(page); !strings.Contains(body, `<td class="link-state">on</td>`) ||
		!strings.Contains(body, `action="`+page+`/links/`+id+`/deactivate"`) {
		t.Fatalf("admin partner page lacks the link's state or its turn-off")
	}
	s, loc = adm.post(page+"/links/"+id+"/deactivate", nil)
	wantFlash(t, adm, s, loc, "Link turned off")
	if _, body, _ := adm.get(page); !strings.Contains(body, "off (by the admin)") {
		t.Error("admin partner page does not say the admin turned it off")
	}
	if _, body, _ := c.get("/partner/links/off"); !strings.Contains(body, "turned off by the program") ||
		strings.Contains(body, `action="/partner/links/`+id+`/activate"`) {
		t.Error("partner's turned-off links offer to turn on a link the admin turned off")
	}
	s, loc = c.post("/partner/links/"+id+"/activate", nil)
	wantFlash(t, c, s, loc, "Error: link: turned off by the program")
	if n := f.count(`SELECT count(*) FROM links WHERE active`); n != 0 {
		t.Fatalf("%d active links after the partner's refused turn-on", n)
	}
	s, loc = adm.post(page+"/links/"+id+"/activate", nil)
	wantFlash(t, adm, s, loc, "Link turned on")
	if n := f.count(`SELECT count(*) FROM links WHERE active AND NOT off_by_admin`); n != 1 {
		t.Fatalf("%d active links after the admin's turn-on, want 1", n)
	}
	if s, _ := adm.post(page+"/links/999999/deactivate", nil); s != http.StatusSeeOther {
		t.Errorf("unknown link: %d", s)
	}
}

// TestLinkIDsCheckedFirst: a product id with a NUL (valid JSON, refused by
// Postgres in text) was a 500 once the partner API looked the product up
// before checking the id, and on the links page; a 400 / a flash naming
// the field now.
func TestLinkIDsCheckedFirst(t *testing.T) {
	f := newFixture(t, false)
	f.partner("ayla")
	c := f.client()
	c.login("ayla@example.com", "partner-pw-ayla")
	for _, body := range []string{`{"product_id":"a\u0000b"}`, `{"url":"https://shop.example/x","product_id":"a\u0000b"}`, `{"category_id":"\u0007"}`} {
		if s, out := c.callJSON("POST", "/api/partner/links", body, true); s != http.StatusBadRequest || (out["field"] != "product_id" && out["field"] != "category_id") {
			t.Errorf("POST %s: %d %v, want 400 naming the id", body, s, out)
		}
	}
	s, loc := c.post("/partner/links", url.Values{"product_id": {"a\x00b"}})
	wantFlash(t, c, s, loc, "Error: product_id")
}

// TestAdminLinkRepeatsAndWording: the admin's turn-off submitted twice
// (double click, stale page, two admins) is no error; a partner may
// generate a new link to the page of a link the admin turned off (it is
// that link that is off); the admin's refused turn-on speaks to the admin
// and names active.
func TestAdminLinkRepeatsAndWording(t *testing.T) {
	_, adm, c, id, page := adminLinkWorld(t)
	var s int
	var loc string
	for range 2 {
		s, loc = adm.post(page+"/links/"+id+"/deactivate", nil)
		wantFlash(t, adm, s, loc, "Link turned off")
	}
	s, loc = c.post("/partner/links", url.Values{"url": {"https://shop.example/spam"}})
	wantFlash(t, c, s, loc, "Link ready")
	s, loc = adm.post(page+"/links/"+id+"/activate", nil)
	wantFlash(t, adm, s, loc, "Error: active: cannot turn this link on: the partner&#39;s active link")
}

// adminLinkWorld: an admin, partner ayla logged in with one link she made
// to https://shop.example/spam (its id), and ayla's admin page.
func adminLinkWorld(t *testing.T) (f *fixture, adm, c *client, id, page string) {
	t.Helper()
	f = newFixture(t, false)
	adm = adminClient(t, f)
	a := f.partner("ayla")
	c = f.client()
	c.login("ayla@example.com", "partner-pw-ayla")
	s, loc := c.post("/partner/links", url.Values{"url": {"https://shop.example/spam"}})
	wantFlash(t, c, s, loc, "Link ready")
	return f, adm, c, strconv.Itoa(f.count(`SELECT max(id) FROM links`)), "/admin/partners/" + strconv.FormatInt(a, 10)
}

// TestTurnOnRefusedWhenTargetNoLongerAllowed: a link whose target's host is
// no longer allowed (the shop's hosts changed since it was made) is not
// turned on again, by the partner or by the admin: the tracker would send
// its clicks to the shop untracked.
func TestTurnOnRefusedWhenTargetNoLongerAllowed(t *testing.T) {
	f, adm, c, id, page := adminLinkWorld(t)
	s, loc := c.post("/partner/links/"+id+"/deactivate", nil)
	wantFlash(t, c, s, loc, "Link turned off")
	f.exec(`UPDATE links SET target_url = 'https://old-shop.example/spam' WHERE id = $1`, id)
	s, loc = c.post("/partner/links/"+id+"/activate", nil)
	wantFlash(t, c, s, loc, "Error: this link cannot be turned on: its target")
	s, loc = adm.post(page+"/links/"+id+"/activate", nil)
	wantFlash(t, adm, s, loc, "Error: this link cannot be turned on: its target")
	if n := f.count(`SELECT count(*) FROM links WHERE active`); n != 0 {
		t.Fatalf("%d active links after turn-ons of a link whose target is no longer allowed", n)
	}
}
