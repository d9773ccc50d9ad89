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
	f := newFixture(t, false)
	adm := adminClient(t, f)
	a := f.partner("ayla")
	c := f.client()
	c.login("ayla@example.com", "partner-pw-ayla")
	s, loc := c.post("/partner/links", url.Values{"url": {"https://shop.example/spam"}})
	wantFlash(t, c, s, loc, "Link ready")
	id := strconv.Itoa(f.count(`SELECT max(id) FROM links`))
	page := "/admin/partners/" + strconv.FormatInt(a, 10)
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
